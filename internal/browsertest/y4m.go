//go:build unix

package browsertest

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
)

// WriteY4M writes a Y4M video (YUV4MPEG2, 4:2:0, full range) of frames
// identical frames at fps frames per second, width×height pixels (both
// even), showing img scaled to fit in the middle of a white picture, as a
// camera held in front of a printed page would see it. Chromium's fake
// capture device (--use-file-for-fake-video-capture) plays such a file in
// a loop.
func WriteY4M(w io.Writer, img image.Image, width, height, frames, fps int) error {
	if width <= 0 || height <= 0 || width%2 != 0 || height%2 != 0 {
		return fmt.Errorf("y4m: the size %dx%d must be positive and even", width, height)
	}
	if frames <= 0 || fps <= 0 {
		return fmt.Errorf("y4m: frames and fps must be positive")
	}
	yp, up, vp := yuvPlanes(img, width, height)
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n", width, height, fps)
	for range frames {
		bw.WriteString("FRAME\n")
		bw.Write(yp)
		bw.Write(up)
		bw.Write(vp)
	}
	return bw.Flush()
}

// WriteY4MFile is WriteY4M into a new file at path.
func WriteY4MFile(path string, img image.Image, width, height, frames, fps int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteY4M(f, img, width, height, frames, fps); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// yuvPlanes converts the picture (img fitted into width×height on white)
// to JPEG-range Y'CbCr with chroma subsampled 2×2.
func yuvPlanes(img image.Image, width, height int) (y, u, v []byte) {
	b := img.Bounds()
	// Scale to fit with a margin of a tenth on each side, keeping the
	// aspect ratio; nearest neighbour keeps QR modules sharp.
	scale := min(float64(width)*0.8/float64(b.Dx()), float64(height)*0.8/float64(b.Dy()))
	dw, dh := int(float64(b.Dx())*scale), int(float64(b.Dy())*scale)
	ox, oy := (width-dw)/2, (height-dh)/2
	at := func(x, y int) (r, g, bl float64) {
		if x < ox || y < oy || x >= ox+dw || y >= oy+dh {
			return 255, 255, 255
		}
		sx := b.Min.X + int(float64(x-ox)/scale)
		sy := b.Min.Y + int(float64(y-oy)/scale)
		c := color.NRGBAModel.Convert(img.At(sx, sy)).(color.NRGBA)
		// Composite on white.
		a := float64(c.A) / 255
		return float64(c.R)*a + 255*(1-a), float64(c.G)*a + 255*(1-a), float64(c.B)*a + 255*(1-a)
	}
	y = make([]byte, width*height)
	u = make([]byte, width*height/4)
	v = make([]byte, width*height/4)
	clamp := func(f float64) byte { return byte(max(0, min(255, f+0.5))) }
	for j := 0; j < height; j += 2 {
		for i := 0; i < width; i += 2 {
			var su, sv float64
			for _, d := range [4][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				r, g, bl := at(i+d[0], j+d[1])
				y[(j+d[1])*width+i+d[0]] = clamp(0.299*r + 0.587*g + 0.114*bl)
				su += 128 - 0.168736*r - 0.331264*g + 0.5*bl
				sv += 128 + 0.5*r - 0.418688*g - 0.081312*bl
			}
			u[(j/2)*(width/2)+i/2] = clamp(su / 4)
			v[(j/2)*(width/2)+i/2] = clamp(sv / 4)
		}
	}
	return y, u, v
}
