// Package pdfin reads PDF files that may be hostile: just enough of PDF
// (objects, streams and their filters, the standard security handler's
// RC4 and AES, images and page content) to find the images and the text
// of a printed recovery kit. Package kit decides what in them is a kit.
//
// Every resource a file can make it spend is bounded by [Limits], and a
// damaged file gives an error, never a panic (FuzzRead checks).
package pdfin
