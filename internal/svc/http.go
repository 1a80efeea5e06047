package svc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/keyhold/keyhold/internal/api"
)

// RequestLog is middleware that logs each request as one JSON line,
// "request" with method, route (the pattern matched, or "unmatched"),
// status and duration_ms: never a header, token or body. A panic in the
// handler is logged ("handler panic") and answered with a 500 JSON error
// if nothing was written yet, instead of dropping the connection.
type RequestLog struct {
	Log *slog.Logger
	// InternalError is the message of the 500 answered after a panic.
	InternalError string
	// LogPanicValue adds the panic value to the "handler panic" line.
	// Leave it off where a panic value could hold request data.
	LogPanicValue bool
	// Observe, if not nil, sees each request's route, status and
	// duration, for metrics.
	Observe func(route string, status int, d time.Duration)
	// Attrs, if not nil, adds to the log line. It runs after the handler,
	// which can leave what it may say in the request's context.
	Attrs func(r *http.Request) []slog.Attr
}

// Serve serves r with h, logging it.
func (c *RequestLog) Serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	start := time.Now()
	sw := &StatusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if c.LogPanicValue {
				c.Log.Error("handler panic", "route", r.Pattern, "panic", fmt.Sprint(v))
			} else {
				c.Log.Error("handler panic", "route", r.Pattern)
			}
			if !sw.wrote {
				WriteError(sw, http.StatusInternalServerError, api.CodeInternal, c.InternalError, 0)
			}
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		if c.Observe != nil {
			c.Observe(route, sw.Status(), d)
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", sw.Status()),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		}
		if c.Attrs != nil {
			attrs = append(attrs, c.Attrs(r)...)
		}
		c.Log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	}()
	h.ServeHTTP(sw, r)
}

// StatusWriter remembers the status written, for the log line. Unwrap
// lets http.ResponseController reach the connection (flush, deadlines).
type StatusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *StatusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Status is the status written so far (200 if none yet).
func (w *StatusWriter) Status() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.code
}

// ServeMux serves r with mux, answering an unknown path (404) or a wrong
// method (405, with Allow) with a JSON error like every other failure.
// Redirects to a clean path are the mux's own.
func ServeMux(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	h, pattern := mux.Handler(r)
	if pattern != "" {
		mux.ServeHTTP(w, r)
		return
	}
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusNotFound:
		WriteError(w, http.StatusNotFound, api.CodeNotFound, "no such endpoint", 0)
	case http.StatusMethodNotAllowed:
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		WriteError(w, http.StatusMethodNotAllowed, api.CodeBadRequest, "this endpoint does not take that method", 0)
	default: // not reached: the mux names the pattern a redirect leads to
		mux.ServeHTTP(w, r)
	}
}

// recorder captures the mux's own answer for an unmatched request.
type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return len(b), nil
}
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// WriteJSON answers with v as JSON. The body is encoded before the status
// is sent, so an encoding failure can still become a 500.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, api.CodeInternal, "internal server error", 0)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// WriteError answers with an api.Error, and a Retry-After header when
// retryAfter (seconds) is positive. msg is the service's own text, never
// copied from the request.
func WriteError(w http.ResponseWriter, status int, code, msg string, retryAfter int) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	WriteJSON(w, status, api.Error{Error: api.ErrorBody{Code: code, Message: msg, RetryAfter: retryAfter}})
}

// ClientAddr is the address a request comes from: the connection's peer,
// or with trustProxy (--trust-proxy) the last X-Forwarded-For entry, the
// one the proxy in front appended (earlier entries are whatever the client
// claimed). IPv4-mapped addresses are unmapped; the zero Addr means the
// address is unknown.
func ClientAddr(r *http.Request, trustProxy bool) netip.Addr {
	if trustProxy {
		if xs := r.Header.Values("X-Forwarded-For"); len(xs) > 0 {
			parts := strings.Split(xs[len(xs)-1], ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				return a.Unmap()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}
