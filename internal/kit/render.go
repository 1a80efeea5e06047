package kit

// QRImageSize is the pixel size of the kit's QR code as a separate PNG
// (`keyhold kit --png`, and the image attached to a kit email).
const QRImageSize = 512
