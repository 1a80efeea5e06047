package nativemsg

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzRead feeds arbitrary bytes to a Reader. It must never panic, never
// return a message over MaxMessage, end with io.EOF only at a message
// boundary, and writing back what it read must reproduce the input it
// consumed byte for byte (the framing has one encoding per message).
func FuzzRead(f *testing.F) {
	var ok bytes.Buffer
	_ = Write(&ok, []byte(`{"v":1,"id":1,"op":"status"}`))
	_ = Write(&ok, []byte(`{}`))
	f.Add(ok.Bytes())
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, '{'})
	f.Add(frame(0, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := bytes.NewReader(in)
		r := NewReader(src)
		var out bytes.Buffer
		for {
			msg, err := r.Read()
			if err != nil {
				consumed := len(in) - src.Len()
				switch {
				case err == io.EOF:
					if !bytes.Equal(out.Bytes(), in) {
						t.Fatalf("clean EOF, but re-encoding gives %x for input %x", out.Bytes(), in)
					}
				case errors.Is(err, ErrTruncated), errors.Is(err, ErrTooLarge):
					if consumed == out.Len() && errors.Is(err, ErrTruncated) {
						t.Fatalf("truncation reported at a message boundary")
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(msg) > MaxMessage {
				t.Fatalf("message of %d bytes", len(msg))
			}
			if err := Write(&out, msg); err != nil {
				t.Fatalf("Write of a read message: %v", err)
			}
		}
	})
}
