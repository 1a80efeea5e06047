package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// RawResponse is an answer read as bytes, as the server sent them (not
// decompressed).
type RawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// GetRaw fetches path (outside the JSON API: the web vault's files) from
// the server with the client's TLS trust (system roots or the pinned
// fingerprint), sending hdr and no session token. The body is read as
// sent, at most limit bytes (ErrAnswerTooLarge beyond). Redirects are
// refused, as for every request. Set Accept-Encoding in hdr to choose
// the encoding: the body is then never decompressed on the way.
func (c *Client) GetRaw(ctx context.Context, path string, hdr http.Header, limit int64) (*RawResponse, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrRedirect) {
			return nil, unwrapURLError(err)
		}
		return nil, fmt.Errorf("%w at %s: %w", c.unreachable(), c.base.Host, unwrapURLError(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(&limitedReader{r: resp.Body, n: limit})
	if errors.Is(err, ErrAnswerTooLarge) {
		return nil, fmt.Errorf("the server at %s sent more than %d bytes for %s: %w", c.base.Host, limit, Printable(path), err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w at %s: reading %s: %w", c.unreachable(), c.base.Host, Printable(path), err)
	}
	return &RawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}
