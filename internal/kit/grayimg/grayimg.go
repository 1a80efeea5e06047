// Package grayimg turns decoded images into the 8-bit gray that QR code
// decoding works on, the same way for image files (package kit) and for
// images inside a PDF (package pdfin).
package grayimg

import "image"

// From converts img to 8-bit gray, compositing transparency over white
// (a transparent screenshot background is white on the screen it came
// from).
func From(img image.Image) *image.Gray {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	g := image.NewGray(image.Rect(0, 0, w, h))
	switch src := img.(type) {
	case *image.Gray:
		for y := range h {
			copy(g.Pix[y*g.Stride:y*g.Stride+w], src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.YCbCr:
		// JPEG photos: the Y plane is the luminance.
		for y := range h {
			copy(g.Pix[y*g.Stride:y*g.Stride+w], src.Y[src.YOffset(b.Min.X, b.Min.Y+y):])
		}
	case *image.RGBA:
		// PNG screenshots. Premultiplied: over white is c + (255 - a).
		for y := range h {
			row, in := g.Pix[y*g.Stride:], src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				p := in[4*x : 4*x+4]
				row[x] = Luma(uint32(p[0])+255-uint32(p[3]), uint32(p[1])+255-uint32(p[3]), uint32(p[2])+255-uint32(p[3]))
			}
		}
	case *image.NRGBA:
		for y := range h {
			row, in := g.Pix[y*g.Stride:], src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				p := in[4*x : 4*x+4]
				a := uint32(p[3])
				over := func(c uint8) uint32 { return (uint32(c)*a + 255*(255-a) + 127) / 255 }
				row[x] = Luma(over(p[0]), over(p[1]), over(p[2]))
			}
		}
	default:
		for y := range h {
			row := g.Pix[y*g.Stride:]
			for x := range w {
				r, gr, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				// Premultiplied colour over white, then ITU-R 601 luma
				// as in image/color.GrayModel.
				r, gr, bl = r+0xffff-a, gr+0xffff-a, bl+0xffff-a
				row[x] = uint8((19595*r + 38470*gr + 7471*bl + 1<<15) >> 24)
			}
		}
	}
	return g
}

// Luma is the ITU-R 601 luma of an 8-bit colour, as in
// image/color.GrayModel.
func Luma(r, g, b uint32) uint8 {
	return uint8((19595*r + 38470*g + 7471*b + 1<<15) >> 16)
}
