package pdfin

import (
	"errors"
	"image"
)

// ErrPassword means the PDF is encrypted with a user password (or with a
// security handler other than the standard one), so it cannot be read.
var ErrPassword = errPDFPassword

// Document is a PDF opened for reading.
type Document struct {
	r *pdfReader
}

// Open reads the objects of a PDF within lim. It fails only when the file
// is encrypted with a password it cannot open (ErrPassword) or cannot be
// read at all; a truncated file opens, and Complete says so.
func Open(data []byte, lim Limits) (*Document, error) {
	r, err := newPDFReader(data, lim)
	if err != nil {
		if errors.Is(err, errPDFPassword) {
			return nil, ErrPassword
		}
		return nil, err
	}
	return &Document{r: r}, nil
}

// Complete reports whether the file ends as a PDF does ("%%EOF") and
// holds at least one object: a truncated copy may still show a kit, but
// the user should know that the copy they keep is broken.
func (d *Document) Complete() bool { return d.r.complete && len(d.r.objs) > 0 }

// ContentStreams returns the decoded content of every page, its streams
// joined, then that of every form; at most maxContent bytes each.
func (d *Document) ContentStreams() [][]byte { return d.r.contentStreams() }

// Image is one image of the document, not decoded yet.
type Image struct {
	s *pdfStream
}

// Images lists the image objects of the document, then the inline images
// of the given content streams (from ContentStreams), in order.
func (d *Document) Images(contents [][]byte) []Image {
	streams := d.r.pdfImages()
	for _, c := range contents {
		streams = d.r.inlineImages(c, streams)
	}
	out := make([]Image, len(streams))
	for i, s := range streams {
		out[i] = Image{s: s}
	}
	return out
}

// Gray decodes an image to 8-bit gray, within the document's limits.
func (d *Document) Gray(img Image) (*image.Gray, error) { return d.r.image(img.s, 0) }
