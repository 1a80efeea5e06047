//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyhold/keyhold/internal/api"
)

// Idle event streams

func streamLoad(ctx context.Context, o *options, srv *serverProc, devs []*device, accts []*account) (*streamStats, error) {
	ss := &streamStats{Streams: len(devs)}
	closeConns()
	rss0 := settledRSS(srv.pid)
	m0 := metrics(srv.url)

	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var opened sync.WaitGroup
	var failed atomic.Int64
	open := func(ds []*device) error {
		for _, d := range ds {
			cl, err := newClient(srv.url, d.acct.src)
			if err != nil {
				return err
			}
			cl.SetToken(d.token)
			d.heads = make(chan uint64, 64)
			opened.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				err := cl.Events(sctx, func(h api.HeadEvent) {
					if first {
						first = false
						opened.Done()
					}
					select {
					case d.heads <- h.Head:
					default:
					}
				})
				if first {
					failed.Add(1)
					opened.Done()
				}
				if sctx.Err() == nil {
					logf("an event stream ended: %v", err)
				}
			}()
		}
		done := make(chan struct{})
		go func() { opened.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			return errors.New("the streams did not all open within 2 minutes")
		}
		if n := failed.Load(); n > 0 {
			return fmt.Errorf("%d streams could not open", n)
		}
		return nil
	}
	t0 := time.Now()
	half := len(devs) / 2
	if err := open(devs[:half]); err != nil {
		return nil, err
	}
	firstHalf := time.Since(t0)
	ss.RSSHalfKiB = settledRSS(srv.pid)
	t1 := time.Now()
	if err := open(devs[half:]); err != nil {
		return nil, err
	}
	ss.OpenSeconds = (firstHalf + time.Since(t1)).Seconds()
	rss1 := settledRSS(srv.pid)
	m1 := metrics(srv.url)
	ss.RSSBeforeKiB, ss.RSSAfterKiB = rss0, rss1
	n := float64(len(devs))
	ss.RSSPerStream = float64(rss1-rss0) / n
	ss.HeapPerStream = (m1["go_memstats_heap_inuse_bytes"] - m0["go_memstats_heap_inuse_bytes"]) / 1024 / n
	ss.GoroutinesPer = (m1["go_goroutines"] - m0["go_goroutines"]) / n
	if got := m1["keyhold_event_streams"]; int(got) != len(devs) {
		return nil, fmt.Errorf("the server reports %v open streams, expected %d", got, len(devs))
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", srv.pid)); err == nil {
		ss.ServerFDsAfter = len(ents)
	}
	logf("%d streams: RSS %d -> %d KiB (%.1f KiB each)", len(devs), rss0, rss1, ss.RSSPerStream)

	// Fan-out: a push from one device reaches the streams of the account's
	// other devices.
	watching := map[*account][]*device{}
	for _, d := range devs {
		watching[d.acct] = append(watching[d.acct], d)
	}
	var lats []time.Duration
	var nstreams int
	for _, a := range accts {
		if len(lats) >= o.fanout {
			break
		}
		ws := watching[a]
		if len(ws) == 0 {
			continue
		}
		d := a.devices[0]
		cl, err := newClient(srv.url, a.src)
		if err != nil {
			return nil, err
		}
		cl.SetToken(d.token)
		d.cl = cl
		for _, w := range ws {
			drain(w.heads)
		}
		t := time.Now()
		if _, err := pushOne(ctx, d); err != nil {
			return nil, err
		}
		for _, w := range ws {
			if err := waitHead(w.heads, d.cursor, 10*time.Second); err != nil {
				return nil, err
			}
		}
		lats = append(lats, time.Since(t))
		nstreams += len(ws)
	}
	ss.FanoutLatency = summarize(lats)
	if len(lats) > 0 {
		ss.FanoutStreams = float64(nstreams) / float64(len(lats))
	}
	return ss, nil
}

func drain(ch chan uint64) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func waitHead(ch chan uint64, head uint64, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case h := <-ch:
			if h >= head {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("a stream did not get head %d within %s", head, timeout)
		}
	}
}
