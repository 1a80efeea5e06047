package webcore

import (
	"bytes"
	"fmt"
	"image"
	"image/png"

	"github.com/google/uuid"

	"github.com/keyhold/keyhold/internal/kit"
)

// KitInfo is what the page may show of a kit it read: never the Secret
// Key.
type KitInfo struct {
	AccountID string `json:"accountId"`
	Email     string `json:"email"`
	Server    string `json:"server"`
}

// maxKitFile bounds a kit file the page hands in: a kit PDF is a few
// kilobytes, a phone photo a few megabytes.
const maxKitFile = 32 << 20

// readKit reads a typed setup code (or the account id and Secret Key as
// printed), or a kit file: the PDF or an image of its QR code.
func readKit(code string, file []byte) (kit.Kit, error) {
	switch {
	case file != nil && code != "":
		return kit.Kit{}, fmt.Errorf("%w: give the setup code or the kit file, not both", ErrInvalid)
	case file != nil:
		if len(file) > maxKitFile {
			return kit.Kit{}, fmt.Errorf("%w: the file is larger than %d MiB, too large to be a recovery kit", kit.ErrNotKit, maxKitFile>>20)
		}
		return kit.ReadFrom(bytes.NewReader(file), "the kit file")
	case code != "":
		return kit.ReadFrom(bytes.NewReader([]byte(code)), "the setup code")
	}
	return kit.Kit{}, fmt.Errorf("%w: type the setup code or choose the kit file", ErrInvalid)
}

// maxFramePixels bounds a camera frame: 4K is more than any camera
// preview the page asks for.
const maxFramePixels = 3840 * 2160

// readQRFrame looks for a kit's QR code in one camera frame given as
// luminance bytes, one per pixel, row by row. It reports found false when
// the frame holds no readable QR code, and an error when the frame is
// malformed or the code found is not a kit.
func readQRFrame(gray []byte, width, height int) (k kit.Kit, found bool, err error) {
	if width <= 0 || height <= 0 || width*height > maxFramePixels || len(gray) != width*height {
		return kit.Kit{}, false, fmt.Errorf("%w: a camera frame of %d×%d pixels must have %d bytes", ErrInvalid, width, height, max(width*height, 0))
	}
	img := &image.Gray{Pix: gray, Stride: width, Rect: image.Rect(0, 0, width, height)}
	// The kit package reads images, not bare pixels; PNG without
	// compression is a cheap way to hand it one.
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return kit.Kit{}, false, err
	}
	k, err = kit.ReadFrom(&buf, "the camera picture")
	if err != nil {
		if Code(err) == CodeNoQR {
			return kit.Kit{}, false, nil
		}
		return kit.Kit{}, false, err
	}
	return k, true, nil
}

func kitInfo(k kit.Kit, server string) KitInfo {
	return KitInfo{AccountID: uuid.UUID(k.AccountID).String(), Server: server}
}
