package pdfin

// Images in a PDF, turned into 8-bit gray for the QR reader. Colour is
// not needed to read a QR code, so every colour space is reduced to its
// luminance as the samples are read.

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math"

	"golang.org/x/image/ccitt"

	"github.com/keyhold/keyhold/internal/kit/grayimg"
)

var errPDFImage = errors.New("pdf: unsupported or damaged image")

// pdfImages returns the image objects that may show a QR code, in object
// number order: every image except those used as another's soft mask or
// mask, and page thumbnails.
func (r *pdfReader) pdfImages() []*pdfStream {
	masks := make(map[int]bool)
	for _, o := range r.objs {
		var d pdfDict
		switch v := o.value.(type) {
		case pdfDict:
			d = v
		case *pdfStream:
			d = v.dict
		}
		for _, k := range []pdfName{"SMask", "Mask", "Thumb"} {
			if ref, ok := d[k].(pdfRef); ok {
				masks[ref.num] = true
			}
		}
	}
	var out []*pdfStream
	for _, num := range r.nums(func(v any) bool {
		s, ok := v.(*pdfStream)
		return ok && r.name(s.dict["Subtype"]) == "Image"
	}) {
		if !masks[num] && len(out) < maxImages {
			out = append(out, r.object(num).(*pdfStream))
		}
	}
	return out
}

// inlineKeys are the full names of the abbreviated keys of inline
// images.
var inlineKeys = map[pdfName]pdfName{
	"BPC": "BitsPerComponent", "CS": "ColorSpace", "D": "Decode", "DP": "DecodeParms",
	"F": "Filter", "H": "Height", "IM": "ImageMask", "W": "Width", "L": "Length",
}

// maxImages and maxInlineImages bound the images tried in one file:
// each costs a QR code search.
const (
	maxImages       = 4096
	maxInlineImages = 1024
)

// inlineImages returns the inline images ("BI … ID data EI") of a content
// stream, which writers use for small images: Ghostscript for a QR code
// of one pixel a module, for instance.
func (r *pdfReader) inlineImages(content []byte, out []*pdfStream) []*pdfStream {
	isSpace := func(i int) bool { return i < 0 || i >= len(content) || isPDFSpace(content[i]) }
	for pos, n := 0, 0; n < maxInlineImages && len(out) < maxImages+maxInlineImages; n++ {
		i := bytes.Index(content[pos:], []byte("BI"))
		if i < 0 {
			break
		}
		i += pos
		pos = i + 2
		if !isSpace(i-1) || !isSpace(i+2) {
			continue
		}
		// The dictionary, up to the ID keyword.
		l := r.lexer(content, pos)
		d := make(pdfDict)
		for {
			l.skipSpace()
			if l.pos >= len(content) || content[l.pos] != '/' {
				break
			}
			l.pos++
			k := l.name()
			v, err := l.value(0)
			if err != nil {
				break
			}
			if full, ok := inlineKeys[k]; ok {
				k = full
			}
			d[k] = v
		}
		pos = max(pos, l.pos) // read once, as in scan
		if l.keyword() != "ID" || l.pos >= len(content) {
			continue
		}
		start := l.pos + 1 // one white-space byte follows ID
		end := -1
		if _, filtered := d["Filter"]; !filtered {
			// Unfiltered data has a known size, and may hold "EI".
			w, _ := r.int(d["Width"])
			h, _ := r.int(d["Height"])
			bpc := r.intOr(d, "BitsPerComponent", 8)
			comps := int64(1)
			if mask, _ := d["ImageMask"].(bool); mask {
				bpc = 1
			} else if cs, err := r.colorSpace(d["ColorSpace"], 0); err == nil && cs.comps > 0 {
				comps = int64(cs.comps)
			}
			if w > 0 && h > 0 && bpc > 0 && w <= 1<<24 && h <= 1<<24 && bpc <= 16 {
				if n := (w*comps*bpc + 7) / 8 * h; n <= int64(len(content)-start) {
					end = start + int(n)
				}
			}
		}
		if end < 0 {
			// Filtered data ends at "EI" between white space.
			for j := start; ; j++ {
				k := bytes.Index(content[j:], []byte("EI"))
				if k < 0 {
					break
				}
				j += k
				if isSpace(j-1) && isSpace(j+2) {
					end = j - 1
					break
				}
			}
		}
		if end < 0 {
			break // no "EI" is left in the content
		}
		if end < start {
			continue
		}
		out = append(out, &pdfStream{dict: d, raw: content[start:end], rawMax: content[start:end], exact: true, inline: true})
		pos = end
	}
	return out
}

// pdfColorKind says how samples become a gray level.
type pdfColorKind int

const (
	csGray pdfColorKind = iota // also CalGray, and Lab (by its lightness)
	csRGB                      // also CalRGB
	csCMYK
	csIndexed // palette of gray levels
	csInk     // Separation, DeviceN: amounts of ink
	csUnknown // count the components from the data
)

type pdfColorSpace struct {
	kind    pdfColorKind
	comps   int
	palette []byte // csIndexed: the gray level of each index
}

// image decodes the image s to gray. depth is 0 for an image, 1 for its
// soft mask.
func (r *pdfReader) image(s *pdfStream, depth int) (*image.Gray, error) {
	d := s.dict
	w, _ := r.int(d["Width"])
	h, _ := r.int(d["Height"])
	if w <= 0 || h <= 0 || w > 1<<24 || h > 1<<24 || w*h > r.lim.Pixels || w*h > r.budget {
		return nil, errPDFImage
	}
	mask, _ := r.resolve(d["ImageMask"]).(bool)
	bpc := r.intOr(d, "BitsPerComponent", 8)
	if mask {
		bpc = 1
	}
	// Enough for four components and a predictor byte a row; any more
	// data is not part of the image. (A JPEG image needs no
	// BitsPerComponent; samples rejects a wrong one.)
	wantBits := int64(8)
	if bpc == 16 {
		wantBits = 16
	}
	want := ((w*4*wantBits+7)/8 + 1) * h
	data, codec, parms, err := r.decodeFilters(s, want)
	if err != nil {
		return nil, err
	}

	var g *image.Gray
	switch codec {
	case "DCTDecode", "DCT":
		g, err = r.jpegImage(data)
		if err != nil {
			return nil, err
		}
		// The JPEG's own colours are used, but a Decode array of a gray
		// image can still invert it.
		if dec := r.array(d["Decode"]); len(dec) == 2 {
			if d0, _ := r.number(dec[0]); d0 == 1 {
				for i := range g.Pix {
					g.Pix[i] = 255 - g.Pix[i]
				}
			}
		}
	case "CCITTFaxDecode", "CCF":
		if data, err = r.ccittData(data, parms, w, h); err != nil {
			return nil, err
		}
		bpc = 1
		fallthrough
	case "":
		cs := pdfColorSpace{kind: csGray, comps: 1}
		if !mask {
			cs, err = r.colorSpace(d["ColorSpace"], 0)
			if err != nil {
				return nil, err
			}
		}
		g, err = r.samples(data, int(w), int(h), int(bpc), cs, r.array(d["Decode"]))
		if err != nil {
			return nil, err
		}
	default:
		return nil, errPDFFilter // JBIG2, JPEG 2000
	}
	r.budget -= w * h

	// Transparent parts are shown over a white page.
	if sm := r.streamObj(d["SMask"]); sm != nil && depth == 0 {
		if a, err := r.image(sm, 1); err == nil && a.Rect == g.Rect {
			for i, v := range g.Pix {
				g.Pix[i] = byte((int(v)*int(a.Pix[i]) + 255*(255-int(a.Pix[i])) + 127) / 255)
			}
		}
	}
	return g, nil
}

// jpegImage decodes a DCTDecode image, within the pixel limit.
func (r *pdfReader) jpegImage(data []byte) (*image.Gray, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, errPDFImage
	}
	if n := int64(cfg.Width) * int64(cfg.Height); n <= 0 || n > r.lim.Pixels || n > r.budget {
		return nil, errPDFImage
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, errPDFImage
	}
	return grayimg.From(img), nil
}

// ccittData decodes CCITT fax data to one bit a pixel, 0 for black.
// x/image/ccitt reads Group 4 (K < 0), which scanners use, and Group 3
// one-dimensional data with end-of-line codes.
func (r *pdfReader) ccittData(data []byte, p pdfDict, w, h int64) ([]byte, error) {
	k := r.intOr(p, "K", 0)
	if k > 0 || r.intOr(p, "Columns", 1728) != w {
		return nil, errPDFFilter
	}
	sf := ccitt.Group3
	if k < 0 {
		sf = ccitt.Group4
	}
	align, _ := r.resolve(p["EncodedByteAlign"]).(bool)
	black1, _ := r.resolve(p["BlackIs1"]).(bool)
	rd := ccitt.NewReader(bytes.NewReader(data), ccitt.MSB, sf, int(w), int(h),
		&ccitt.Options{Align: align, Invert: black1})
	return r.read(rd, (w+7)/8*h)
}

// colorSpace reads an image's colour space; depth bounds the nesting of
// ICC alternates and indexed bases.
func (r *pdfReader) colorSpace(v any, depth int) (pdfColorSpace, error) {
	if depth > 4 {
		return pdfColorSpace{}, errPDFImage
	}
	v = r.resolve(v)
	var args pdfArray
	if a, ok := v.(pdfArray); ok && len(a) > 0 {
		v, args = r.resolve(a[0]), a[1:]
	}
	name, _ := v.(pdfName)
	switch name {
	case "DeviceGray", "G", "CalGray":
		return pdfColorSpace{kind: csGray, comps: 1}, nil
	case "Lab":
		return pdfColorSpace{kind: csGray, comps: 3}, nil
	case "DeviceRGB", "RGB", "CalRGB":
		return pdfColorSpace{kind: csRGB, comps: 3}, nil
	case "DeviceCMYK", "CMYK":
		return pdfColorSpace{kind: csCMYK, comps: 4}, nil
	case "ICCBased":
		if len(args) < 1 {
			break
		}
		icc := r.dict(args[0])
		switch r.intOr(icc, "N", 0) {
		case 1:
			return pdfColorSpace{kind: csGray, comps: 1}, nil
		case 3:
			return pdfColorSpace{kind: csRGB, comps: 3}, nil
		case 4:
			return pdfColorSpace{kind: csCMYK, comps: 4}, nil
		}
		if alt, ok := icc["Alternate"]; ok {
			return r.colorSpace(alt, depth+1)
		}
	case "Separation":
		return pdfColorSpace{kind: csInk, comps: 1}, nil
	case "DeviceN":
		if len(args) > 0 {
			if n := len(r.array(args[0])); n >= 1 && n <= 32 {
				return pdfColorSpace{kind: csInk, comps: n}, nil
			}
		}
		return pdfColorSpace{}, errPDFImage
	case "Indexed", "I":
		return r.indexed(args, depth)
	case "Pattern":
		return pdfColorSpace{}, errPDFImage
	}
	return pdfColorSpace{kind: csUnknown}, nil
}

// indexed reads [/Indexed base hival lookup] into a palette of gray
// levels.
func (r *pdfReader) indexed(args pdfArray, depth int) (pdfColorSpace, error) {
	if len(args) < 3 {
		return pdfColorSpace{}, errPDFImage
	}
	base, err := r.colorSpace(args[0], depth+1)
	if err != nil || base.kind == csIndexed || base.kind == csUnknown {
		return pdfColorSpace{}, errPDFImage
	}
	hival, _ := r.int(args[1])
	hival = min(max(hival, 0), 255)
	n := int(hival+1) * base.comps
	var lookup []byte
	switch l := r.resolve(args[2]).(type) {
	case pdfString:
		lookup = []byte(l)
	case *pdfStream:
		if lookup, err = r.decode(l, int64(n)); err != nil {
			return pdfColorSpace{}, err
		}
	}
	if len(lookup) < n {
		lookup = append(bytes.Clone(lookup), make([]byte, n-len(lookup))...)
	}
	cs := pdfColorSpace{kind: csIndexed, comps: 1, palette: make([]byte, hival+1)}
	for i := range cs.palette {
		cs.palette[i] = base.gray(lookup[i*base.comps : (i+1)*base.comps])
	}
	return cs, nil
}

// gray returns the gray level of one colour, given as 8-bit components.
func (cs pdfColorSpace) gray(c []byte) byte {
	switch cs.kind {
	case csRGB:
		return grayimg.Luma(uint32(c[0]), uint32(c[1]), uint32(c[2]))
	case csCMYK:
		ink := (30*int(c[0])+59*int(c[1])+11*int(c[2]))/100 + int(c[3])
		return byte(255 - min(ink, 255))
	case csInk:
		return 255 - slicesMax(c)
	case csIndexed:
		return cs.palette[min(int(c[0]), len(cs.palette)-1)]
	}
	return c[0]
}

func slicesMax(c []byte) byte {
	var m byte
	for _, v := range c {
		m = max(m, v)
	}
	return m
}

// samples turns raw image samples into gray. decode is the image's
// Decode array, which maps samples to colour values (most often to
// invert a one-bit image).
func (r *pdfReader) samples(data []byte, w, h, bpc int, cs pdfColorSpace, decode pdfArray) (*image.Gray, error) {
	switch bpc {
	case 1, 2, 4, 8, 16:
	default:
		return nil, errPDFImage
	}
	if cs.kind == csIndexed && bpc > 8 {
		return nil, errPDFImage
	}
	rowBytes := func(comps int) int { return (w*comps*bpc + 7) / 8 }
	if cs.kind == csUnknown {
		// No colour space, or one not known: the data says how many
		// components a pixel has.
		cs = pdfColorSpace{kind: csGray, comps: 1}
		if len(data) >= rowBytes(4)*h {
			cs = pdfColorSpace{kind: csCMYK, comps: 4}
		} else if len(data) >= rowBytes(3)*h {
			cs = pdfColorSpace{kind: csRGB, comps: 3}
		}
	}
	comps := cs.comps
	stride := rowBytes(comps)

	// luts[c][s] is the 8-bit value of sample s of component c: the
	// Decode mapping (and for an index, the palette) done once for every
	// possible sample. 16-bit samples are looked up by their high byte.
	bits := min(bpc, 8)
	maxv := float64(int(1)<<bits - 1)
	luts := make([][256]byte, comps)
	for c := range comps {
		d0, d1 := 0.0, 1.0
		if cs.kind == csIndexed {
			d1 = maxv
		}
		if len(decode) == 2*comps {
			a, ok0 := r.number(decode[2*c])
			b, ok1 := r.number(decode[2*c+1])
			if ok0 && ok1 {
				d0, d1 = a, b
			}
		}
		for s := 0; s <= int(maxv); s++ {
			v := d0 + float64(s)*(d1-d0)/maxv
			if cs.kind == csIndexed {
				i := min(max(int(math.Round(v)), 0), len(cs.palette)-1)
				luts[c][s] = cs.palette[i]
			} else {
				luts[c][s] = byte(min(max(math.Round(v*255), 0), 255))
			}
		}
	}
	if cs.kind == csIndexed {
		cs.kind = csGray // the palette is in the table now
	}

	g := image.NewGray(image.Rect(0, 0, w, h))
	px := make([]byte, comps)
	mask := byte(1<<bits - 1)
	for y := range h {
		out := g.Pix[y*g.Stride : y*g.Stride+w]
		if (y+1)*stride > len(data) {
			// Missing rows, in a damaged file: leave them white.
			for x := range out {
				out[x] = 0xff
			}
			continue
		}
		row := data[y*stride : (y+1)*stride]
		if comps == 1 && bpc == 8 {
			for x, s := range row[:w] {
				out[x] = luts[0][s]
			}
			if cs.kind != csGray {
				for x := range out {
					px[0] = out[x]
					out[x] = cs.gray(px)
				}
			}
			continue
		}
		for x := range w {
			for c := range comps {
				i := x*comps + c
				var s byte
				switch bpc {
				case 8:
					s = row[i]
				case 16:
					s = row[2*i]
				default:
					bit := i * bpc
					s = row[bit/8] >> (8 - bpc - bit%8) & mask
				}
				px[c] = luts[c][s]
			}
			out[x] = cs.gray(px)
		}
	}
	return g, nil
}
