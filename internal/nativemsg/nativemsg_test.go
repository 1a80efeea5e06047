package nativemsg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func frame(size uint32, body []byte) []byte {
	b := binary.NativeEndian.AppendUint32(nil, size)
	return append(b, body...)
}

func TestRoundTrip(t *testing.T) {
	msgs := [][]byte{
		[]byte(`{"v":1,"id":1,"op":"status"}`),
		{},
		[]byte(`{"text":"bücher — 日本"}`),
		bytes.Repeat([]byte("x"), MaxMessage),
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := Write(&buf, m); err != nil {
			t.Fatalf("Write(%d bytes): %v", len(m), err)
		}
	}
	r := NewReader(&buf)
	for i, want := range msgs {
		got, err := r.Read()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
}

// TestNativeByteOrder checks the exact bytes on the wire: the browser
// reads the length in the machine's own byte order.
func TestNativeByteOrder(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	want := frame(2, []byte(`{}`))
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("wire bytes %x, want %x", buf.Bytes(), want)
	}
}

func TestWriteTooLarge(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, make([]byte, MaxMessage+1))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Write of MaxMessage+1 bytes: %v, want ErrTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("a refused message wrote %d bytes", buf.Len())
	}
}

func TestReadTooLarge(t *testing.T) {
	for _, size := range []uint32{MaxMessage + 1, 1<<32 - 1} {
		// The body is not there: Read must refuse on the length alone,
		// without allocating or waiting for it.
		r := NewReader(bytes.NewReader(frame(size, nil)))
		if _, err := r.Read(); !errors.Is(err, ErrTooLarge) {
			t.Errorf("length %d: %v, want ErrTooLarge", size, err)
		}
	}
}

func TestReadTruncated(t *testing.T) {
	cases := map[string][]byte{
		"one length byte":    {0x05},
		"three length bytes": frame(5, nil)[:3],
		"empty body":         frame(5, nil),
		"short body":         frame(5, []byte("{}")),
		"second message cut": append(frame(2, []byte("{}")), frame(10, []byte(`{"a"`))...),
	}
	for name, in := range cases {
		r := NewReader(bytes.NewReader(in))
		var err error
		for err == nil {
			_, err = r.Read()
		}
		if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: %v, want ErrTruncated and io.ErrUnexpectedEOF", name, err)
		}
		if err == io.EOF {
			t.Errorf("%s: a cut message read as a clean end", name)
		}
	}
}

func TestCleanEOF(t *testing.T) {
	r := NewReader(strings.NewReader(""))
	if msg, err := r.Read(); err != io.EOF || msg != nil {
		t.Fatalf("empty stream: %q, %v; want nil, io.EOF", msg, err)
	}
}

// TestReadStopsAtMessage checks that Read takes exactly one message from
// the stream, so whatever follows is left for the next Read.
func TestReadStopsAtMessage(t *testing.T) {
	in := append(frame(2, []byte("{}")), "rest"...)
	src := bytes.NewReader(in)
	if _, err := NewReader(src).Read(); err != nil {
		t.Fatal(err)
	}
	if src.Len() != len("rest") {
		t.Fatalf("Read consumed %d bytes past its message", len("rest")-src.Len())
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

type failReader struct{ err error }

func (r failReader) Read([]byte) (int, error) { return 0, r.err }

func TestErrorsPassThrough(t *testing.T) {
	boom := errors.New("pipe closed")
	if err := Write(failWriter{boom}, []byte("{}")); !errors.Is(err, boom) {
		t.Errorf("Write: %v, want the writer's error", err)
	}
	if _, err := NewReader(failReader{boom}).Read(); !errors.Is(err, boom) {
		t.Errorf("Read: %v, want the reader's error", err)
	}
}

// keepWriter holds on to the slice it is given, as no io.Writer should,
// so that the test can see what Write leaves in it.
type keepWriter struct{ kept []byte }

func (w *keepWriter) Write(p []byte) (int, error) { w.kept = p; return len(p), nil }

// TestWriteClearsItsCopy checks that the framed copy of a message, which
// may hold a fill's password, does not outlive the Write.
func TestWriteClearsItsCopy(t *testing.T) {
	secret := []byte(`{"password":"hunter2"}`)
	var w keepWriter
	if err := Write(&w, secret); err != nil {
		t.Fatal(err)
	}
	if len(w.kept) != 4+len(secret) {
		t.Fatalf("wrote %d bytes, want %d", len(w.kept), 4+len(secret))
	}
	if bytes.Contains(w.kept, []byte("hunter2")) {
		t.Fatal("Write left the message in its buffer")
	}
	if string(secret) != `{"password":"hunter2"}` {
		t.Fatal("Write changed the caller's message")
	}
}
