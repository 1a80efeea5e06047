package kit

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"codeberg.org/go-pdf/fpdf"

	"github.com/keyhold/keyhold/internal/kit/pdfin"
)

// Page geometry, in millimetres on A4 portrait.
const (
	pageW  = 210.0
	pageH  = 297.0
	margin = 20.0
	textW  = pageW - 2*margin
	qrSize = 62.0 // printed QR side, quiet zone included
	qrPx   = 8    // image pixels per QR module in the embedded image
)

// instructions are printed at the bottom of the sheet, one paragraph
// each, with an optional command shown in monospaced type under it.
var instructions = []struct{ text, command string }{
	{"Keep this sheet somewhere safe: printed, in a safe or a locked drawer. Do not keep it next to your password.", ""},
	{"Your password is NOT in this kit. Anyone who finds this kit still needs your password to open your vault, and your password alone is not enough without this kit.", ""},
	{"To set up a new device, run this command with this PDF file, a photo of the QR code, or the setup code:", "keyhold setup --kit <this file or the scanned QR code>"},
	{"If you rotate your account key, this kit stops working: print the new kit, then destroy this one.", ""},
}

// PDF returns a one-page A4 printable recovery kit. The output depends
// only on s: the same sheet gives the same bytes, so a kit can be printed
// again and compared.
//
// Only PDF's built-in fonts are used; characters of Email or SyncLocation
// outside Windows-1252 are shown as dots (the QR code and setup code carry
// the exact sync location).
func PDF(s Sheet) ([]byte, error) {
	if s.KitText == "" || s.SecretKey == "" || s.AccountID == "" {
		return nil, errors.New("kit: the sheet needs a kit text, an account id and a secret key")
	}
	if s.Created.IsZero() {
		return nil, errors.New("kit: the sheet needs a creation date")
	}
	qr, err := qrGray(s.KitText, qrPx)
	if err != nil {
		return nil, err
	}
	qrPNG, err := encodePNG(qr)
	if err != nil {
		return nil, fmt.Errorf("kit: cannot encode the QR code: %v", err)
	}

	// Long sync locations make long kit texts; if the page overflows,
	// lay it out again in smaller type.
	var pdf *fpdf.Fpdf
	for _, st := range []style{normalStyle, compactStyle} {
		pdf = layout(s, qrPNG, st)
		if pdf.GetY() <= pageH-10 {
			break
		}
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("kit: cannot make the PDF: %v", err)
	}
	return buf.Bytes(), nil
}

// style holds the type sizes (points) and spacing (millimetres) of the
// sheet.
type style struct {
	detail, detailLine float64 // account details
	kit, kitLine       float64 // the setup code under the QR code
	instr, instrLine   float64 // instructions
	gap                float64 // between sections
}

var (
	normalStyle  = style{detail: 10, detailLine: 6, kit: 10, kitLine: 5, instr: 10, instrLine: 5, gap: 5}
	compactStyle = style{detail: 8, detailLine: 4, kit: 7.5, kitLine: 3.4, instr: 9, instrLine: 4.3, gap: 2.5}
)

// layout draws the sheet on a new document.
func layout(s Sheet, qrPNG []byte, st style) *fpdf.Fpdf {
	pdf := fpdf.New("P", "mm", "A4", "")
	// Byte-stable output: fixed dates instead of time.Now, and resources
	// written in sorted order rather than Go's random map order.
	created := s.Created.UTC()
	pdf.SetCreationDate(created)
	pdf.SetModificationDate(created)
	pdf.SetCatalogSort(true)
	pdf.SetCompression(true)
	pdf.SetTitle("Keyhold Recovery Kit", false)
	pdf.SetCreator("keyhold", false)
	pdf.SetProducer("keyhold", false)
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(false, margin)
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	pdf.AddPage()

	// Title and date.
	pdf.SetFont("Helvetica", "B", 24)
	pdf.CellFormat(textW, 11, "Keyhold Recovery Kit", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 11)
	pdf.SetTextColor(80, 80, 80)
	pdf.CellFormat(textW, 6, "Created "+s.Created.Format("2 January 2006"), "", 1, "L", false, 0, "")
	pdf.SetTextColor(0, 0, 0)
	pdf.Ln(st.gap - 1)

	// Account details.
	field := func(label, value string, mono bool) {
		pdf.SetFont("Helvetica", "B", st.detail)
		pdf.CellFormat(32, st.detailLine, label, "", 0, "L", false, 0, "")
		if mono {
			pdf.SetFont("Courier", "", st.detail)
		} else {
			pdf.SetFont("Helvetica", "", st.detail)
		}
		pdf.MultiCell(textW-32, st.detailLine, tr(value), "", "L", false)
	}
	field("Account ID", s.AccountID, true)
	if s.Email != "" {
		field("Email", s.Email, false)
	}
	if s.SyncLocation != "" {
		field("Sync location", s.SyncLocation, false)
	}
	pdf.Ln(st.gap - 1)

	// The Secret Key, large, in a box: the part people copy by hand.
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(textW, 6, "Secret Key", "", 1, "L", false, 0, "")
	size := 22.0
	pdf.SetFont("Courier", "B", size)
	for size > 8 && pdf.GetStringWidth(s.SecretKey) > textW-8 {
		size--
		pdf.SetFontSize(size)
	}
	pdf.SetLineWidth(0.4)
	pdf.CellFormat(textW, size*0.55, tr(s.SecretKey), "1", 1, "C", false, 0, "")
	pdf.Ln(st.gap + 1)

	// QR code, with the setup code (the kit text) under it.
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(textW, 6, "Setup code", "", 1, "L", false, 0, "")
	y := pdf.GetY()
	opts := fpdf.ImageOptions{ImageType: "PNG"}
	pdf.RegisterImageOptionsReader("kitqr", opts, bytes.NewReader(qrPNG))
	pdf.ImageOptions("kitqr", margin, y, qrSize, qrSize, false, opts, 0, "")
	pdf.SetXY(margin+qrSize+6, y+6)
	pdf.SetFont("Helvetica", "", 10)
	pdf.MultiCell(textW-qrSize-6, 5, "Scan this QR code with your new device, or type the setup code printed below it. "+
		"Letters may be typed in lower case; the code never uses 0, O, 1 or I, and its last characters "+
		"catch typing mistakes.", "", "L", false)
	pdf.SetXY(margin, y+qrSize+1)
	pdf.SetFont("Courier", "B", st.kit)
	for _, line := range kitLines(s.KitText, pdf.GetStringWidth, textW) {
		pdf.CellFormat(textW, st.kitLine, line, "", 1, "C", false, 0, "")
	}
	pdf.Ln(st.gap + 1)

	// A place to write the password by hand, for those who want to.
	pdf.SetFont("Helvetica", "B", 10)
	pdf.CellFormat(24, 8, "Password", "", 0, "L", false, 0, "")
	pdf.SetLineWidth(0.3)
	pdf.Line(margin+24, pdf.GetY()+7, margin+textW, pdf.GetY()+7)
	pdf.Ln(9)
	pdf.SetFont("Helvetica", "I", 8)
	pdf.SetTextColor(80, 80, 80)
	pdf.CellFormat(textW, 4, "Optional. Write it by hand only if this sheet will be locked away; it is never printed.", "", 1, "L", false, 0, "")
	pdf.SetTextColor(0, 0, 0)
	pdf.Ln(st.gap)

	// Instructions.
	pdf.SetFont("Helvetica", "B", 11)
	pdf.CellFormat(textW, 7, "What this is and how to use it", "", 1, "L", false, 0, "")
	for _, p := range instructions {
		pdf.SetFont("Helvetica", "", st.instr)
		pdf.CellFormat(5, st.instrLine, tr("\u2022"), "", 0, "L", false, 0, "")
		pdf.MultiCell(textW-5, st.instrLine, tr(p.text), "", "L", false)
		if p.command != "" {
			pdf.SetX(margin + 10)
			pdf.SetFont("Courier", "B", st.instr)
			pdf.CellFormat(textW-10, st.instrLine+1, p.command, "", 1, "L", false, 0, "")
		}
		pdf.Ln(st.instrLine / 3)
	}

	return pdf
}

// kitLines splits a kit text into lines no wider than w, breaking only
// between groups (the hyphen at a break is dropped), so that every
// printed line is whole groups.
func kitLines(text string, width func(string) float64, w float64) []string {
	var lines []string
	line := ""
	for _, g := range strings.Split(text, "-") {
		switch {
		case line == "":
			line = g
		case width(line+"-"+g) > w:
			lines = append(lines, line)
			line = g
		default:
			line += "-" + g
		}
	}
	return append(lines, line)
}

// ErrPDF means data is not a PDF that can be read (damaged, or encrypted
// with a password).
var ErrPDF = errors.New("not a readable PDF")

// DecodePDF finds a recovery kit in a PDF and returns its text, unchecked.
// It decodes the QR codes of the images embedded in the PDF, preferring
// one that holds a kit; failing that, it looks for a printed setup code
// ("KH1-…") in the text of the pages. It reads the PDFs that PDF makes,
// and others that embed the QR code as an image (JPEG, or raw samples in
// gray, colour, a palette or one bit a pixel, including fax-compressed
// scans) or print the setup code as text.
//
// A hostile PDF costs bounded memory and time; see package pdfin.
func DecodePDF(data []byte) (text string, err error) {
	defer func() {
		// The reader is written not to panic (FuzzDecodePDF checks), but
		// a hostile file must not crash the caller either way.
		if r := recover(); r != nil {
			text, err = "", fmt.Errorf("%w (it is damaged)", ErrPDF)
		}
	}()
	return decodePDF(data, pdfin.DefaultLimits())
}

// decodePDF is DecodePDF within lim, without its recover.
func decodePDF(data []byte, lim pdfin.Limits) (string, error) {
	if !bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-")) {
		return "", ErrPDF
	}
	doc, err := pdfin.Open(data, lim)
	if errors.Is(err, pdfin.ErrPassword) {
		return "", fmt.Errorf("%w (it is protected with a password; save an unprotected copy)", ErrPDF)
	}
	if err != nil || !doc.Complete() {
		// A truncated file may still show a kit, but the user should
		// know that the copy they keep is broken.
		return "", fmt.Errorf("%w (it is damaged)", ErrPDF)
	}

	contents := doc.ContentStreams()
	var other string // a QR code that does not hold a kit
	for _, img := range doc.Images(contents) {
		g, err := doc.Gray(img)
		if err != nil {
			continue
		}
		s, err := decodeImage(g)
		if err != nil {
			continue
		}
		if looksLikeKit(s) {
			return s, nil
		}
		if other == "" {
			other = s
		}
	}

	var pieces []string
	for _, c := range contents {
		pieces = append(pieces, pdfin.ContentStrings(c)...)
	}
	if s, ok := findKitText(pieces); ok {
		return s, nil
	}
	if other != "" {
		return other, nil
	}
	return "", fmt.Errorf("%w: neither a QR code nor a setup code is in the PDF", ErrNoQRCode)
}

// looksLikeKit reports whether s starts like a kit of any version.
var kitPrefix = regexp.MustCompile(`^(?i)\s*KH[0-9]+-`)

func looksLikeKit(s string) bool { return kitPrefix.MatchString(s) }

// groupsOnly matches a printed line of whole kit groups.
var groupsOnly = regexp.MustCompile(`^[2-9A-HJ-NP-Z]+(-[2-9A-HJ-NP-Z]+)*-?$`)

// kitStart matches the first line of a printed kit text.
var kitStart = regexp.MustCompile(`(?i)KH[0-9]+-[2-9A-HJ-NP-Z-]+`)

// findKitText finds a kit text in the strings shown on a page, in drawing
// order. A long kit text is printed over several lines, each its own
// string, so a candidate is a first line followed by 0, 1, 2, … lines of
// whole groups. The first candidate that parses is returned; failing
// that, the longest candidate after the first kit-like line, so that
// Parse can explain what is wrong with it.
func findKitText(pieces []string) (string, bool) {
	var fallback string
	for i, p := range pieces {
		first := kitStart.FindString(p)
		if first == "" {
			continue
		}
		cand := first
		if _, err := Parse(cand); err == nil {
			return cand, true
		}
		for _, next := range pieces[i+1:] {
			next = strings.TrimSpace(next)
			if !groupsOnly.MatchString(next) {
				break
			}
			cand = strings.TrimSuffix(cand, "-") + "-" + strings.TrimPrefix(next, "-")
			if _, err := Parse(cand); err == nil {
				return cand, true
			}
		}
		if fallback == "" {
			fallback = cand
		}
	}
	return fallback, fallback != ""
}
