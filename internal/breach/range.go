package breach

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// maxRangeBody bounds one range answer. Real ones are about 30 KiB (some
// 800 suffixes, padded to at most 1,000); a server sending more is not
// the service.
const maxRangeBody = 1 << 20

// Range asks the k-anonymity range API: GET BaseURL/range/PREFIX, where
// PREFIX is the first 5 hex digits of the hash. BaseURL is
// https://api.pwnedpasswords.com for the real service. Answers are cached
// per prefix for the life of the Range.
type Range struct {
	BaseURL string
	Client  *http.Client
	// UserAgent is sent with each request; the service refuses requests
	// without one.
	UserAgent string

	mu    sync.Mutex
	cache map[string]map[string]uint64
}

// Count returns how often h was seen, 0 if not at all.
func (r *Range) Count(ctx context.Context, h Hash) (uint64, error) {
	hx := h.String()
	prefix, suffix := hx[:5], hx[5:]
	r.mu.Lock()
	m, ok := r.cache[prefix]
	r.mu.Unlock()
	if !ok {
		var err error
		if m, err = r.fetch(ctx, prefix); err != nil {
			return 0, err
		}
		r.mu.Lock()
		if r.cache == nil {
			r.cache = map[string]map[string]uint64{}
		}
		r.cache[prefix] = m
		r.mu.Unlock()
	}
	return m[suffix], nil
}

func (r *Range) fetch(ctx context.Context, prefix string) (map[string]uint64, error) {
	url := strings.TrimRight(r.BaseURL, "/") + "/range/" + prefix
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Add-Padding", "true")
	if r.UserAgent != "" {
		req.Header.Set("User-Agent", r.UserAgent)
	}
	cl := r.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the range API answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRangeBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxRangeBody {
		return nil, fmt.Errorf("%w: the range answer is larger than %d KiB", ErrMalformed, maxRangeBody>>10)
	}
	return ParseRange(body)
}

// ParseRange reads a range answer: "SUFFIX:COUNT" lines, 35 hex digits
// each, LF or CRLF. Padding lines (count 0) are kept with count 0.
func ParseRange(body []byte) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, maxLine+1), maxLine+1)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if _, count, err := ParseLine(line, 35); err != nil {
			return nil, err
		} else {
			out[strings.ToUpper(string(line[:35]))] = count
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return out, nil
}
