//go:build unix

package browsertest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// proxy is the browser's only way out: every connection it makes — from
// pages, dedicated workers, service workers and the browser itself — goes
// through it (--proxy-server, with loopback not bypassed). It records the
// host:port of each, tunnels those on the loopback interface and refuses
// the rest. Page events give paths but miss workers; this misses paths
// (HTTPS is tunnelled) but misses no one.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	hosts []string // every host:port asked for, in order, repeats kept
	wg    sync.WaitGroup
	conns map[net.Conn]struct{}
}

func startProxy() (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.track(c, false)
			p.handle(c)
		}()
	}
}

func (p *proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
		c.Close()
	}
}

func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (p *proxy) handle(c net.Conn) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	target := req.Host
	if req.Method != http.MethodConnect {
		// Plain HTTP through the proxy: the absolute URL names the host.
		target = req.URL.Host
		if !strings.Contains(target, ":") {
			target += ":80"
		}
	}
	p.mu.Lock()
	p.hosts = append(p.hosts, target)
	p.mu.Unlock()
	if !loopback(target) {
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	p.track(up, true)
	defer p.track(up, false)
	if req.Method == http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n")
	} else if err := req.Write(up); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// Hosts are the host:port pairs the browser connected to (or tried to),
// in order.
func (p *proxy) Hosts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hosts...)
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
