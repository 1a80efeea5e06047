package kit

import (
	"bytes"
	"os"
	"testing"

	"codeberg.org/go-pdf/fpdf"
)

func TestZZScratch(t *testing.T) {
	k := testKits()[0]
	p := mustPDF(t, testSheet(k))
	os.WriteFile("/tmp/imt/kit.pdf", p, 0o644)
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetProtection(fpdf.CnProtectPrint, "", "owner")
	pdf.AddPage()
	qr, _ := QRPNG(k.Text(), 300)
	opts := fpdf.ImageOptions{ImageType: "PNG"}
	pdf.RegisterImageOptionsReader("kitqr", opts, bytes.NewReader(qr))
	pdf.ImageOptions("kitqr", 20, 20, 60, 60, false, opts, 0, "")
	pdf.SetFont("Courier", "", 8)
	pdf.Text(20, 100, k.Text())
	var buf bytes.Buffer
	pdf.Output(&buf)
	os.WriteFile("/tmp/imt/enc.pdf", buf.Bytes(), 0o644)
	s, err := DecodePDF(buf.Bytes())
	t.Logf("enc: %q %v", s, err)
	// text only encrypted
	pdf = fpdf.New("P", "mm", "A4", "")
	pdf.SetProtection(fpdf.CnProtectPrint, "", "owner")
	pdf.AddPage()
	pdf.SetFont("Courier", "", 8)
	pdf.Text(20, 100, k.Text())
	buf.Reset()
	pdf.Output(&buf)
	s, err = DecodePDF(buf.Bytes())
	t.Logf("enc text: %q %v", s, err)
	pdf = fpdf.New("P", "mm", "A4", "")
	pdf.SetProtection(fpdf.CnProtectPrint, "user", "owner")
	pdf.AddPage()
	pdf.SetFont("Courier", "", 8)
	pdf.Text(20, 100, k.Text())
	buf.Reset()
	pdf.Output(&buf)
	s, err = DecodePDF(buf.Bytes())
	t.Logf("enc user pw: %q %v", s, err)
	for _, f := range []string{"j", "m", "z", "g", "g4"} {
		d, _ := os.ReadFile("/tmp/imt/" + f + ".pdf")
		s, err = DecodePDF(d)
		t.Logf("%s: %q %v", f, s, err)
	}
	t.Log(k.Text())
}
