package pdfin

// This file is a small reader of PDF objects: just enough of PDF to find
// the images and the page text of a recovery kit. It replaces a full PDF
// library whose dependencies cost every keyhold command a slow start.
//
// It is written for files that may be hostile. It does not trust the
// cross-reference table, which damaged and hand-edited files get wrong:
// it finds objects by scanning for "N G obj", and a later definition of
// an object replaces an earlier one, which is what an incremental update
// means. Every resource it spends is bounded: the number of objects and
// values, the nesting depth, and the bytes decompressed per stream and
// in all.

import (
	"bytes"
	"cmp"
	"compress/flate"
	"compress/lzw"
	"compress/zlib"
	"encoding/ascii85"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"

	tifflzw "golang.org/x/image/tiff/lzw"
)

// Limits bound what reading one PDF may spend.
type Limits struct {
	Stream  int64 // decoded bytes of one stream
	Total   int64 // decoded bytes of all streams and images together
	Objects int   // objects kept
	Values  int   // values parsed (numbers, names, …), so memory stays bounded
	Pixels  int64 // pixels of one image
}

// MaxImagePixels bounds one image of a PDF, as kit.MaxImagePixels bounds
// an image file: a 40-megapixel photo is larger than phone cameras
// produce.
const MaxImagePixels = 40 << 20

// DefaultLimits are sized for a one-page kit with room to spare: a kit
// PDF is a few kilobytes, a scanned page a few megabytes. Tests and the
// fuzz targets lower them to bound time.
func DefaultLimits() Limits {
	return Limits{
		Stream:  64 << 20,
		Total:   256 << 20,
		Objects: 1 << 18,
		Values:  1 << 21,
		Pixels:  MaxImagePixels,
	}
}

// maxPDFDepth bounds the nesting of arrays and dictionaries, and of
// references followed, so that a hostile file cannot exhaust the stack.
const maxPDFDepth = 64

var (
	errPDFSyntax   = errors.New("pdf: syntax error")
	errPDFDepth    = errors.New("pdf: nesting too deep")
	errPDFValues   = errors.New("pdf: too many values")
	errPDFTooLarge = errors.New("pdf: stream too large")
	errPDFFilter   = errors.New("pdf: unsupported filter")
	errPDFPassword = errors.New("pdf: needs a password")
)

// PDF values. Integers are int64, reals float64, booleans bool and null
// nil.
type (
	pdfName   string
	pdfString string
	pdfArray  []any
	pdfDict   map[pdfName]any
	pdfRef    struct{ num, gen int }
)

// pdfStream is a stream object. raw is its data as stored, found by its
// /Length if that is a direct number that leads to "endstream", or else
// by searching for "endstream" (rawMax, which may hold a line end too
// many).
type pdfStream struct {
	dict     pdfDict
	raw      []byte
	rawMax   []byte
	exact    bool
	inline   bool // an inline image, whose data the content stream's decryption covered
	num, gen int
}

// pdfObject is an object found in the file, with the position that
// decides which of two definitions wins.
type pdfObject struct {
	pos   int
	gen   int
	value any
}

// pdfReader holds the objects of one PDF.
type pdfReader struct {
	data     []byte
	lim      Limits
	budget   int64 // decoded bytes left in total
	values   int   // values left to parse
	objs     map[int]pdfObject
	trailer  pdfDict // /Root, /Encrypt and /ID of the latest trailers
	crypt    *pdfCrypt
	complete bool // %%EOF follows the last object: the file is not truncated
	end      int  // where the last object found ends
}

// newPDFReader scans data for objects and trailers, sets up decryption
// (only PDFs that open without a password can be read) and unpacks
// object streams.
func newPDFReader(data []byte, lim Limits) (*pdfReader, error) {
	r := &pdfReader{
		data:    data,
		lim:     lim,
		budget:  lim.Total,
		values:  lim.Values,
		objs:    make(map[int]pdfObject),
		trailer: make(pdfDict),
	}
	r.scan()
	r.complete = bytes.Contains(data[r.end:], []byte("%%EOF"))
	r.scanTrailers()
	if err := r.setupCrypt(); err != nil {
		return nil, err
	}
	r.unpackObjectStreams()
	return r, nil
}

// scan finds every "N G obj" and parses the object after it. Stream data
// is skipped, so that bytes inside a stream are never taken for objects.
func (r *pdfReader) scan() {
	data := r.data
	for pos := 0; pos < len(data); {
		i := bytes.Index(data[pos:], []byte("obj"))
		if i < 0 {
			return
		}
		i += pos
		pos = i + 3
		if pos < len(data) && !isPDFSpace(data[pos]) && !isPDFDelim(data[pos]) {
			continue
		}
		num, gen, ok := objHeader(data, i)
		if !ok {
			continue
		}
		if _, seen := r.objs[num]; !seen && len(r.objs) >= r.lim.Objects {
			return
		}
		l := r.lexer(data, pos)
		v, err := l.value(0)
		// Go on after what was read even if it failed, so that the
		// text is read once: an unterminated string is read to the end
		// of the file, and starting again inside it for every "obj" it
		// holds would take quadratic time.
		pos = max(pos, l.pos)
		if err != nil {
			continue
		}
		if d, ok := v.(pdfDict); ok && l.keyword() == "stream" {
			var s *pdfStream
			s, pos = r.stream(d, l.pos, num, gen)
			v = s
		}
		r.objs[num] = pdfObject{pos: i, gen: gen, value: v}
		r.end = pos
	}
}

// objHeader reads "N G " backwards from data[i], the start of "obj".
func objHeader(data []byte, i int) (num, gen int, ok bool) {
	j := i
	digits := func(maxLen int) (int, bool) {
		spaces := j
		for j > 0 && isPDFSpace(data[j-1]) {
			j--
		}
		end := j
		for j > 0 && end-j < maxLen && data[j-1] >= '0' && data[j-1] <= '9' {
			j--
		}
		if j == end || j == spaces {
			return 0, false
		}
		n, err := strconv.Atoi(string(data[j:end]))
		return n, err == nil
	}
	gen, ok = digits(5)
	if !ok {
		return 0, 0, false
	}
	num, ok = digits(10)
	if !ok || num > math.MaxInt32 || gen > math.MaxUint16 {
		return 0, 0, false
	}
	if j > 0 && !isPDFSpace(data[j-1]) && !isPDFDelim(data[j-1]) {
		return 0, 0, false
	}
	return num, gen, true
}

// stream reads the data of a stream whose "stream" keyword ends at p and
// returns it with the position after "endstream".
func (r *pdfReader) stream(d pdfDict, p, num, gen int) (*pdfStream, int) {
	data := r.data
	// The keyword is followed by CRLF or LF; tolerate a lone CR.
	if p < len(data) && data[p] == '\r' {
		p++
	}
	if p < len(data) && data[p] == '\n' {
		p++
	}
	s := &pdfStream{dict: d, num: num, gen: gen}
	if n, ok := d["Length"].(int64); ok && n >= 0 && n <= int64(len(data)-p) {
		e := p + int(n)
		q := e
		for q < len(data) && q-e < 4 && isPDFSpace(data[q]) {
			q++
		}
		if bytes.HasPrefix(data[q:], []byte("endstream")) {
			s.raw, s.rawMax, s.exact = data[p:e], data[p:e], true
			return s, q + len("endstream")
		}
	}
	k := bytes.Index(data[p:], []byte("endstream"))
	if k < 0 {
		// Truncated: keep what there is; nothing follows.
		s.raw, s.rawMax = data[p:], data[p:]
		return s, len(data)
	}
	e := p + k
	s.rawMax = data[p:e]
	if e > p && data[e-1] == '\n' {
		e--
	}
	if e > p && data[e-1] == '\r' {
		e--
	}
	s.raw = data[p:e]
	return s, p + k + len("endstream")
}

// scanTrailers collects /Root, /Encrypt and /ID from the "trailer"
// dictionaries and cross-reference streams, later ones winning.
func (r *pdfReader) scanTrailers() {
	type found struct {
		pos int
		d   pdfDict
	}
	var all []found
	for pos := 0; pos < len(r.data); {
		i := bytes.Index(r.data[pos:], []byte("trailer"))
		if i < 0 {
			break
		}
		i += pos
		pos = i + len("trailer")
		l := r.lexer(r.data, pos)
		v, err := l.value(0)
		pos = max(pos, l.pos) // as in scan
		if d, ok := v.(pdfDict); ok && err == nil {
			all = append(all, found{i, d})
		}
	}
	for _, o := range r.objs {
		if s, ok := o.value.(*pdfStream); ok && s.dict["Type"] == pdfName("XRef") {
			all = append(all, found{o.pos, s.dict})
		}
	}
	slices.SortFunc(all, func(a, b found) int { return cmp.Compare(a.pos, b.pos) })
	for _, f := range all {
		for _, k := range []pdfName{"Root", "Encrypt", "ID"} {
			if v, ok := f.d[k]; ok {
				r.trailer[k] = v
			}
		}
	}
}

// unpackObjectStreams adds the objects stored in object streams (PDF
// 1.5). An object in a stream is placed where its stream is, for the
// rule that later definitions win.
func (r *pdfReader) unpackObjectStreams() {
	var streams []int
	for num, o := range r.objs {
		if s, ok := o.value.(*pdfStream); ok && s.dict["Type"] == pdfName("ObjStm") {
			streams = append(streams, num)
		}
	}
	slices.Sort(streams)
	for _, num := range streams {
		o := r.objs[num]
		s := o.value.(*pdfStream)
		data, err := r.decode(s, r.lim.Stream)
		if err != nil {
			continue
		}
		n, _ := r.int(s.dict["N"])
		first, _ := r.int(s.dict["First"])
		if n <= 0 || first < 0 || first > int64(len(data)) {
			continue
		}
		l := r.lexer(data, 0)
		for range min(n, int64(r.lim.Objects)) {
			on, err1 := l.value(0)
			off, err2 := l.value(0)
			objNum, ok1 := on.(int64)
			objOff, ok2 := off.(int64)
			if err1 != nil || err2 != nil || !ok1 || !ok2 || objNum < 0 || objNum > math.MaxInt32 ||
				objOff < 0 || objOff > int64(len(data))-first {
				break
			}
			if old, seen := r.objs[int(objNum)]; seen && old.pos > o.pos {
				continue
			} else if !seen && len(r.objs) >= r.lim.Objects {
				break
			}
			ol := r.lexer(data, int(first+objOff))
			v, err := ol.value(0)
			if err != nil {
				continue
			}
			r.objs[int(objNum)] = pdfObject{pos: o.pos, value: v}
		}
	}
}

// object returns the value of object num, or nil.
func (r *pdfReader) object(num int) any {
	return r.objs[num].value
}

// resolve follows references until it reaches a value that is not one.
// A missing object is null.
func (r *pdfReader) resolve(v any) any {
	for range maxPDFDepth {
		ref, ok := v.(pdfRef)
		if !ok {
			return v
		}
		v = r.object(ref.num)
	}
	return nil
}

func (r *pdfReader) dict(v any) pdfDict {
	switch v := r.resolve(v).(type) {
	case pdfDict:
		return v
	case *pdfStream:
		return v.dict
	}
	return nil
}

func (r *pdfReader) array(v any) pdfArray {
	a, _ := r.resolve(v).(pdfArray)
	return a
}

func (r *pdfReader) name(v any) pdfName {
	n, _ := r.resolve(v).(pdfName)
	return n
}

func (r *pdfReader) streamObj(v any) *pdfStream {
	s, _ := r.resolve(v).(*pdfStream)
	return s
}

// int returns v as an integer; reals are truncated.
func (r *pdfReader) int(v any) (int64, bool) {
	switch v := r.resolve(v).(type) {
	case int64:
		return v, true
	case float64:
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			return int64(v), true
		}
	}
	return 0, false
}

func (r *pdfReader) number(v any) (float64, bool) {
	switch v := r.resolve(v).(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// intOr returns d[key] as an integer, or def if it is not one.
func (r *pdfReader) intOr(d pdfDict, key pdfName, def int64) int64 {
	if v, ok := r.int(d[key]); ok {
		return v
	}
	return def
}

// nums returns the objects of the file whose value satisfies keep, in
// object number order.
func (r *pdfReader) nums(keep func(v any) bool) []int {
	var out []int
	for num, o := range r.objs {
		if keep(o.value) {
			out = append(out, num)
		}
	}
	slices.Sort(out)
	return out
}

// The lexer and parser.

func isPDFSpace(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ':
		return true
	}
	return false
}

func isPDFDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

type pdfLexer struct {
	r    *pdfReader
	data []byte
	pos  int
}

func (r *pdfReader) lexer(data []byte, pos int) *pdfLexer {
	return &pdfLexer{r: r, data: data, pos: pos}
}

// skipSpace skips white space and comments.
func (l *pdfLexer) skipSpace() {
	for l.pos < len(l.data) {
		switch c := l.data[l.pos]; {
		case isPDFSpace(c):
			l.pos++
		case c == '%':
			for l.pos < len(l.data) && l.data[l.pos] != '\n' && l.data[l.pos] != '\r' {
				l.pos++
			}
		default:
			return
		}
	}
}

// keyword skips space and reads a run of regular characters.
func (l *pdfLexer) keyword() string {
	l.skipSpace()
	start := l.pos
	for l.pos < len(l.data) && !isPDFSpace(l.data[l.pos]) && !isPDFDelim(l.data[l.pos]) {
		l.pos++
	}
	return string(l.data[start:l.pos])
}

// value parses one value at depth nesting levels.
func (l *pdfLexer) value(depth int) (any, error) {
	if depth > maxPDFDepth {
		return nil, errPDFDepth
	}
	if l.r.values--; l.r.values < 0 {
		return nil, errPDFValues
	}
	l.skipSpace()
	if l.pos >= len(l.data) {
		return nil, errPDFSyntax
	}
	switch c := l.data[l.pos]; {
	case c == '/':
		l.pos++
		return l.name(), nil
	case c == '(':
		s, end := literalString(l.data, l.pos+1)
		l.pos = min(end+1, len(l.data))
		return pdfString(s), nil
	case c == '<' && l.pos+1 < len(l.data) && l.data[l.pos+1] == '<':
		l.pos += 2
		return l.dictBody(depth)
	case c == '<':
		s, end := hexString(l.data, l.pos+1)
		l.pos = min(end+1, len(l.data))
		return pdfString(s), nil
	case c == '[':
		l.pos++
		return l.arrayBody(depth)
	case c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9'):
		return l.numberOrRef(), nil
	}
	switch kw := l.keyword(); kw {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	case "":
		l.pos++ // a stray delimiter
	}
	return nil, errPDFSyntax
}

func (l *pdfLexer) dictBody(depth int) (any, error) {
	d := make(pdfDict)
	for {
		l.skipSpace()
		if l.pos+1 < len(l.data) && l.data[l.pos] == '>' && l.data[l.pos+1] == '>' {
			l.pos += 2
			return d, nil
		}
		if l.pos >= len(l.data) || l.data[l.pos] != '/' {
			return nil, errPDFSyntax
		}
		l.pos++
		k := l.name()
		v, err := l.value(depth + 1)
		if err != nil {
			return nil, err
		}
		d[k] = v
	}
}

func (l *pdfLexer) arrayBody(depth int) (any, error) {
	var a pdfArray
	for {
		l.skipSpace()
		if l.pos < len(l.data) && l.data[l.pos] == ']' {
			l.pos++
			return a, nil
		}
		v, err := l.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
}

// name reads a name after its "/", decoding #xx escapes.
func (l *pdfLexer) name() pdfName {
	start := l.pos
	for l.pos < len(l.data) && !isPDFSpace(l.data[l.pos]) && !isPDFDelim(l.data[l.pos]) {
		l.pos++
	}
	raw := l.data[start:l.pos]
	if bytes.IndexByte(raw, '#') < 0 {
		return pdfName(raw)
	}
	b := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] == '#' && i+2 < len(raw) {
			if v, err := strconv.ParseUint(string(raw[i+1:i+3]), 16, 8); err == nil {
				b = append(b, byte(v))
				i += 2
				continue
			}
		}
		b = append(b, raw[i])
	}
	return pdfName(b)
}

// numberOrRef reads a number, or a reference "N G R". Malformed numbers
// ("--5", "1.2.3") read as 0, as other readers do.
func (l *pdfLexer) numberOrRef() any {
	n := l.number()
	i, ok := n.(int64)
	if !ok || i < 0 || i > math.MaxInt32 {
		return n
	}
	save := l.pos
	l.skipSpace()
	if l.pos < len(l.data) && l.data[l.pos] >= '0' && l.data[l.pos] <= '9' {
		if g, ok := l.number().(int64); ok && g >= 0 && g <= math.MaxUint16 {
			if l.keyword() == "R" {
				return pdfRef{int(i), int(g)}
			}
		}
	}
	l.pos = save
	return n
}

func (l *pdfLexer) number() any {
	start := l.pos
	for l.pos < len(l.data) {
		c := l.data[l.pos]
		if c != '+' && c != '-' && c != '.' && (c < '0' || c > '9') {
			break
		}
		l.pos++
	}
	s := string(l.data[start:l.pos])
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) {
		return f
	}
	return int64(0)
}

// Streams and filters.

// decode returns the data of s with its filters applied, reading at
// most want bytes (more are cut off, not an error). It fails on an image
// codec filter (DCTDecode, …); images use decodeImageData.
func (r *pdfReader) decode(s *pdfStream, want int64) ([]byte, error) {
	data, codec, _, err := r.decodeFilters(s, want)
	if err == nil && codec != "" {
		err = errPDFFilter
	}
	return data, err
}

// decodeFilters applies the filters of s, stopping before an image codec
// (DCTDecode, CCITTFaxDecode, JBIG2Decode, JPXDecode), which must be the
// last one; it returns that codec's name and parameters with the data it
// is to decode. want bounds the bytes returned without a codec.
func (r *pdfReader) decodeFilters(s *pdfStream, want int64) (data []byte, codec pdfName, parms pdfDict, err error) {
	data = s.raw
	if !s.exact {
		if n, ok := r.int(s.dict["Length"]); ok && n >= 0 && n <= int64(len(s.rawMax)) {
			data = s.rawMax[:n]
		}
	}
	if r.crypt != nil && !s.inline && s.dict["Type"] != pdfName("XRef") {
		data = r.crypt.decryptStream(s, data)
	}

	var filters []pdfName
	var params []pdfDict
	switch f := r.resolve(s.dict["Filter"]).(type) {
	case pdfName:
		filters = []pdfName{f}
		params = []pdfDict{r.dict(s.dict["DecodeParms"])}
	case pdfArray:
		p := r.array(s.dict["DecodeParms"])
		for i, v := range f {
			filters = append(filters, r.name(v))
			var d pdfDict
			if i < len(p) {
				d = r.dict(p[i])
			}
			params = append(params, d)
		}
	}

	for i, f := range filters {
		last := i == len(filters)-1
		limit := r.lim.Stream
		if last {
			limit = want
		}
		var out []byte
		switch f {
		case "FlateDecode", "Fl":
			out, err = r.read(flateReader(data), limit)
			if err == nil {
				out, err = unpredict(out, r, params[i])
			}
		case "LZWDecode", "LZW":
			var lr io.ReadCloser
			if r.intOr(params[i], "EarlyChange", 1) == 0 {
				lr = lzw.NewReader(bytes.NewReader(data), lzw.MSB, 8)
			} else {
				lr = tifflzw.NewReader(bytes.NewReader(data), tifflzw.MSB, 8)
			}
			out, err = r.read(lr, limit)
			lr.Close()
			if err == nil {
				out, err = unpredict(out, r, params[i])
			}
		case "ASCIIHexDecode", "AHx":
			s, _ := hexString(data, 0)
			out, err = r.read(bytes.NewReader([]byte(s)), limit)
		case "ASCII85Decode", "A85":
			out, err = r.read(ascii85Reader(data), limit)
		case "RunLengthDecode", "RL":
			out, err = r.read(bytes.NewReader(runLength(data, limit)), limit)
		case "Crypt":
			// Only the identity crypt filter is met in practice; the
			// document's own encryption is applied above.
			out = data
		case "DCTDecode", "DCT", "CCITTFaxDecode", "CCF", "JBIG2Decode", "JPXDecode":
			if !last {
				return nil, "", nil, errPDFFilter
			}
			return data, f, params[i], nil
		default:
			return nil, "", nil, errPDFFilter
		}
		if err != nil {
			return nil, "", nil, err
		}
		data = out
	}
	if len(filters) == 0 && int64(len(data)) > want {
		data = data[:want]
	}
	return data, "", nil, nil
}

// read reads from rd at most want bytes, within the per-stream and total
// limits. Exceeding want cuts the data; exceeding a limit is an error.
// Damaged compressed data is kept up to the damage, as other readers do.
func (r *pdfReader) read(rd io.Reader, want int64) ([]byte, error) {
	n := min(want, r.lim.Stream, r.budget)
	var buf bytes.Buffer
	_, err := buf.ReadFrom(io.LimitReader(rd, n+1))
	out := buf.Bytes()
	if int64(len(out)) > n {
		if n < want {
			return nil, errPDFTooLarge
		}
		out = out[:n]
	}
	if err != nil && len(out) == 0 {
		return nil, err
	}
	r.budget -= int64(len(out))
	return out, nil
}

// flateReader reads zlib data, or raw deflate data, which a few writers
// produce without the zlib header.
func flateReader(b []byte) io.Reader {
	if zr, err := zlib.NewReader(bytes.NewReader(b)); err == nil {
		return zr
	}
	return flate.NewReader(bytes.NewReader(b))
}

// ascii85Reader decodes ASCII base-85 up to its "~>" end marker.
func ascii85Reader(b []byte) io.Reader {
	b = bytes.TrimLeft(b, "\x00\t\n\f\r ")
	b = bytes.TrimPrefix(b, []byte("<~"))
	if i := bytes.Index(b, []byte("~>")); i >= 0 {
		b = b[:i]
	}
	return ascii85.NewDecoder(bytes.NewReader(b))
}

// runLength decodes RunLengthDecode data, at most limit+1 bytes.
func runLength(b []byte, limit int64) []byte {
	var out []byte
	for i := 0; i < len(b) && int64(len(out)) <= limit; {
		n := int(b[i])
		i++
		switch {
		case n < 128:
			end := min(i+n+1, len(b))
			out = append(out, b[i:end]...)
			i = end
		case n > 128:
			if i < len(b) {
				for range 257 - n {
					out = append(out, b[i])
				}
				i++
			}
		default:
			return out
		}
	}
	return out
}

// unpredict undoes a PNG (10 to 15) or TIFF (2) predictor.
func unpredict(b []byte, r *pdfReader, p pdfDict) ([]byte, error) {
	pred := r.intOr(p, "Predictor", 1)
	if pred <= 1 {
		return b, nil
	}
	colors := r.intOr(p, "Colors", 1)
	bpc := r.intOr(p, "BitsPerComponent", 8)
	columns := r.intOr(p, "Columns", 1)
	if colors < 1 || colors > 32 || columns < 1 || columns > 1<<24 {
		return nil, errPDFFilter
	}
	switch bpc {
	case 1, 2, 4, 8, 16:
	default:
		return nil, errPDFFilter
	}
	bpp := int((colors*bpc + 7) / 8)
	rowLen := int((colors*bpc*columns + 7) / 8)

	if pred == 2 { // TIFF: each sample is the difference from its left neighbour
		if bpc != 8 {
			return nil, errPDFFilter
		}
		for row := 0; row < len(b); row += rowLen {
			line := b[row:min(row+rowLen, len(b))]
			for i := bpp; i < len(line); i++ {
				line[i] += line[i-bpp]
			}
		}
		return b, nil
	}
	if pred < 10 || pred > 15 {
		return nil, errPDFFilter
	}
	// PNG: each row starts with its own filter type.
	out := make([]byte, 0, len(b)/(rowLen+1)*rowLen+rowLen)
	prev := make([]byte, min(rowLen, len(b)))
	for len(b) > 0 {
		ft := b[0]
		n := min(rowLen, len(b)-1)
		start := len(out)
		out = append(out, b[1:1+n]...)
		b = b[1+n:]
		cur := out[start:]
		switch ft {
		case 1: // Sub
			for i := bpp; i < n; i++ {
				cur[i] += cur[i-bpp]
			}
		case 2: // Up
			for i := range n {
				cur[i] += prev[i]
			}
		case 3: // Average
			for i := range n {
				var left int
				if i >= bpp {
					left = int(cur[i-bpp])
				}
				cur[i] += byte((left + int(prev[i])) / 2)
			}
		case 4: // Paeth
			for i := range n {
				var a, c int
				if i >= bpp {
					a, c = int(cur[i-bpp]), int(prev[i-bpp])
				}
				cur[i] += paeth(a, int(prev[i]), c)
			}
		}
		prev = cur
		if len(prev) < rowLen && len(b) > 0 {
			// Only the last row can be short.
			break
		}
	}
	return out, nil
}

func paeth(a, b, c int) byte {
	p := a + b - c
	pa, pb, pc := abs(p-a), abs(p-b), abs(p-c)
	switch {
	case pa <= pb && pa <= pc:
		return byte(a)
	case pb <= pc:
		return byte(b)
	}
	return byte(c)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Pages and their text.

// pages returns the page dictionaries in page order, walking the page
// tree from the catalog; if there is no usable tree, every page object,
// in object number order.
func (r *pdfReader) pages() []pdfDict {
	var out []pdfDict
	seen := make(map[int]bool)
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if ref, ok := v.(pdfRef); ok {
			if seen[ref.num] {
				return
			}
			seen[ref.num] = true
		}
		d := r.dict(v)
		if d == nil || depth > maxPDFDepth || len(out) >= r.lim.Objects {
			return
		}
		kids, isNode := d["Kids"]
		if r.name(d["Type"]) == "Page" || !isNode {
			out = append(out, d)
			return
		}
		for _, k := range r.array(kids) {
			walk(k, depth+1)
		}
	}
	root := r.dict(r.trailer["Root"])
	if root == nil {
		if cats := r.nums(func(v any) bool { return r.name(r.dict(v)["Type"]) == "Catalog" }); len(cats) > 0 {
			root = r.dict(r.object(cats[len(cats)-1]))
		}
	}
	if root != nil {
		walk(root["Pages"], 0)
	}
	if len(out) > 0 {
		return out
	}
	for _, num := range r.nums(func(v any) bool {
		d, ok := v.(pdfDict)
		return ok && r.name(d["Type"]) == "Page"
	}) {
		out = append(out, r.object(num).(pdfDict))
	}
	return out
}

// contentStreams returns the decoded content of each page, its streams
// joined, at most maxContent bytes a page; then that of every form
// XObject, which can hold text too (stamps, annotations).
func (r *pdfReader) contentStreams() [][]byte {
	var out [][]byte
	for _, p := range r.pages() {
		var streams []*pdfStream
		switch c := r.resolve(p["Contents"]).(type) {
		case *pdfStream:
			streams = []*pdfStream{c}
		case pdfArray:
			for _, v := range c {
				if s := r.streamObj(v); s != nil {
					streams = append(streams, s)
				}
			}
		}
		var page []byte
		for _, s := range streams {
			data, err := r.decode(s, int64(maxContent-len(page)))
			if err != nil {
				continue
			}
			// Streams of one page may split a token between them;
			// joined with a line break they read as one.
			page = append(append(page, data...), '\n')
			if len(page) >= maxContent {
				break
			}
		}
		out = append(out, page)
	}
	for _, num := range r.nums(func(v any) bool {
		s, ok := v.(*pdfStream)
		return ok && r.name(s.dict["Subtype"]) == "Form"
	}) {
		if data, err := r.decode(r.object(num).(*pdfStream), maxContent); err == nil {
			out = append(out, data)
		}
	}
	return out
}
