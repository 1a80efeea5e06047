//go:build linux

package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// Results

type results struct {
	Date       string          `json:"date"`
	Go         string          `json:"go"`
	CPUs       int             `json:"cpus"`
	LoadBefore string          `json:"load_before"`
	LoadAfter  string          `json:"load_after"`
	Options    map[string]any  `json:"options"`
	Backends   []*backendStats `json:"backends"`
}

type latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	slices.Sort(ds)
	q := func(p float64) float64 {
		i := int(float64(len(ds))*p+0.5) - 1
		return ms(ds[min(max(i, 0), len(ds)-1)])
	}
	return latency{Count: len(ds), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ms(ds[len(ds)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type pushStats struct {
	Name      string  `json:"name"` // push-closed, push-open, idle-sync
	Mode      string  `json:"mode"` // closed or open loop
	InFlight  int     `json:"in_flight,omitempty"`
	Rate      float64 `json:"target_rate,omitempty"`
	Seconds   float64 `json:"seconds"`
	Pushes    int     `json:"pushes"`
	PerSecond float64 `json:"pushes_per_s"`
	Latency   latency `json:"latency"`
	Errors    int     `json:"errors"`
	Late      int     `json:"late,omitempty"` // open loop: no idle device or started late
	// CPU seconds per push: the server process, the database's processes
	// (PostgreSQL), and this benchmark.
	ServerCPUus float64 `json:"server_cpu_us_per_push"`
	DBCPUus     float64 `json:"db_cpu_us_per_push,omitempty"`
	BenchCPUus  float64 `json:"bench_cpu_us_per_push"`
	// WAL written per push (PostgreSQL): what a replica or a WAL archive
	// receives.
	WALBytes float64 `json:"wal_bytes_per_push,omitempty"`
}

type tableSize struct {
	Table  string  `json:"table"`
	Rows   int64   `json:"rows"`
	Data   int64   `json:"data_bytes"`
	Index  int64   `json:"index_bytes"`
	Total  int64   `json:"total_bytes"`
	PerRow float64 `json:"bytes_per_row"`
	// PostgreSQL: after VACUUM FULL, without the room dead row versions
	// left (the head of accounts changes at every push, for example).
	Packed       int64   `json:"packed_total_bytes,omitempty"`
	PackedPerRow float64 `json:"packed_bytes_per_row,omitempty"`
}

type bigStats struct {
	Items         int       `json:"items"`
	BoxBytes      int       `json:"box_bytes"`
	AddSeconds    float64   `json:"add_local_s"`
	UploadSeconds float64   `json:"upload_s"`
	Pushes        int       `json:"upload_items"`
	RawDownload   float64   `json:"raw_download_s"`
	RawBytes      int64     `json:"raw_download_box_bytes"`
	Setups        []float64 `json:"setup_s"`
	SetupMedian   float64   `json:"setup_median_s"`
}

type streamStats struct {
	Streams        int     `json:"streams"`
	RSSBeforeKiB   int64   `json:"rss_before_kib"`
	RSSHalfKiB     int64   `json:"rss_half_kib"`
	RSSAfterKiB    int64   `json:"rss_after_kib"`
	RSSPerStream   float64 `json:"rss_kib_per_stream"`
	HeapPerStream  float64 `json:"heap_inuse_kib_per_stream"`
	GoroutinesPer  float64 `json:"goroutines_per_stream"`
	OpenSeconds    float64 `json:"open_s"`
	FanoutLatency  latency `json:"fanout_latency"`
	FanoutStreams  float64 `json:"fanout_streams_per_push"`
	ServerFDsAfter int     `json:"server_fds_after"`
}

type backendStats struct {
	Backend       string       `json:"backend"`
	Storage       string       `json:"storage"`
	Accounts      int          `json:"accounts"`
	Devices       int          `json:"devices"`
	CreateSeconds float64      `json:"create_s"`
	Register      latency      `json:"register_latency"` // register start + create + first login
	Login         latency      `json:"login_latency"`    // the other devices' OPAQUE logins
	LoginSeconds  float64      `json:"login_s"`
	PreloadRevs   int          `json:"preload_revisions"`
	Push          []*pushStats `json:"push"`
	Big           *bigStats    `json:"large_vault,omitempty"`
	Streams       *streamStats `json:"streams,omitempty"`
	Sizes         []tableSize  `json:"sizes"`
	ServerRSSKiB  int64        `json:"server_rss_end_kib"`
	Revisions     int64        `json:"revisions"`
}

func optionsJSON(o *options) map[string]any {
	return map[string]any{
		"devices": o.devices, "per_account": o.perAccount, "preload": o.preload, "concurrency": o.concurrency,
		"duration": o.duration.String(), "rate": o.rate, "items": o.items, "setup_runs": o.setupRuns,
		"streams": o.streams, "tmpfs": o.tmpfs, "pg_params": o.pgParams,
	}
}

// Report

func printResults(w io.Writer, o *options, res *results) {
	fmt.Fprintf(w, "keyhold-server load benchmark, %s, %s, %d CPUs, load %s before, %s after\n",
		res.Date, res.Go, res.CPUs, res.LoadBefore, res.LoadAfter)
	for _, b := range res.Backends {
		fmt.Fprintf(w, "%s: %s\n", b.Backend, b.Storage)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := "\t"
	for _, b := range res.Backends {
		hdr += b.Backend + "\t"
	}
	if len(res.Backends) == 2 {
		hdr += "ratio 2/1\t"
	}
	fmt.Fprintln(tw, hdr)
	row := func(name string, f func(b *backendStats) (float64, string)) {
		line := name + "\t"
		var vals []float64
		for _, b := range res.Backends {
			v, s := f(b)
			vals = append(vals, v)
			line += s + "\t"
		}
		if len(vals) == 2 {
			if vals[0] > 0 {
				line += fmt.Sprintf("%.2f\t", vals[1]/vals[0])
			} else {
				line += "\t"
			}
		}
		fmt.Fprintln(tw, line)
	}
	num := func(format string, get func(b *backendStats) float64) func(b *backendStats) (float64, string) {
		return func(b *backendStats) (float64, string) {
			v := get(b)
			return v, fmt.Sprintf(format, v)
		}
	}
	pushAt := func(b *backendStats, name string) *pushStats {
		for _, p := range b.Push {
			if p.Name == name {
				return p
			}
		}
		return &pushStats{}
	}
	row("accounts / devices", func(b *backendStats) (float64, string) {
		return 0, fmt.Sprintf("%d / %d", b.Accounts, b.Devices)
	})
	row("create account (register + first login), p50 ms", num("%.1f", func(b *backendStats) float64 { return b.Register.P50 }))
	row("  p99 ms", num("%.1f", func(b *backendStats) float64 { return b.Register.P99 }))
	row("device login (OPAQUE), p50 ms", num("%.1f", func(b *backendStats) float64 { return b.Login.P50 }))
	row("  p99 ms", num("%.1f", func(b *backendStats) float64 { return b.Login.P99 }))
	row("  logins/s (4 at a time)", num("%.0f", func(b *backendStats) float64 { return float64(b.Login.Count) / b.LoginSeconds }))
	phases := []struct{ name, title string }{
		{"push-closed", fmt.Sprintf("push, %d in flight: pushes/s", o.concurrency)},
		{"push-open", fmt.Sprintf("push, open loop at %.0f/s: pushes/s", o.rate)},
		{"idle-sync", fmt.Sprintf("idle sync (keys + changes), %d in flight: syncs/s", o.concurrency)},
	}
	for _, ph := range phases {
		if ph.name == "push-open" && o.rate <= 0 {
			continue
		}
		get := func(f func(p *pushStats) float64) func(b *backendStats) float64 {
			return func(b *backendStats) float64 { return f(pushAt(b, ph.name)) }
		}
		row(ph.title, num("%.0f", get(func(p *pushStats) float64 { return p.PerSecond })))
		row("  p50 ms", num("%.1f", get(func(p *pushStats) float64 { return p.Latency.P50 })))
		row("  p90 ms", num("%.1f", get(func(p *pushStats) float64 { return p.Latency.P90 })))
		row("  p99 ms", num("%.1f", get(func(p *pushStats) float64 { return p.Latency.P99 })))
		row("  max ms", num("%.1f", get(func(p *pushStats) float64 { return p.Latency.Max })))
		row("  server CPU per request, µs", num("%.0f", get(func(p *pushStats) float64 { return p.ServerCPUus })))
		row("  database CPU per request, µs", num("%.0f", get(func(p *pushStats) float64 { return p.DBCPUus })))
		row("  benchmark CPU per request, µs", num("%.0f", get(func(p *pushStats) float64 { return p.BenchCPUus })))
		if ph.name != "idle-sync" {
			row("  WAL per push, bytes", num("%.0f", get(func(p *pushStats) float64 { return p.WALBytes })))
		}
		if ph.name == "push-open" {
			row("  late starts", num("%.0f", get(func(p *pushStats) float64 { return float64(p.Late) })))
		}
	}
	big := func(f func(x *bigStats) float64) func(b *backendStats) float64 {
		return func(b *backendStats) float64 {
			if b.Big == nil {
				return 0
			}
			return f(b.Big)
		}
	}
	if o.items > 0 {
		row(fmt.Sprintf("%d items: add to the local vault, s", o.items), num("%.2f", big(func(x *bigStats) float64 { return x.AddSeconds })))
		row("  upload (first sync of the device), s", num("%.2f", big(func(x *bigStats) float64 { return x.UploadSeconds })))
		row("  download only (GET changes, all pages), s", num("%.3f", big(func(x *bigStats) float64 { return x.RawDownload })))
		row("  new device set up (syncclient.Setup), median s", num("%.3f", big(func(x *bigStats) float64 { return x.SetupMedian })))
		row("  box bytes", num("%.0f", big(func(x *bigStats) float64 { return float64(x.BoxBytes) })))
	}
	str := func(f func(x *streamStats) float64) func(b *backendStats) float64 {
		return func(b *backendStats) float64 {
			if b.Streams == nil {
				return 0
			}
			return f(b.Streams)
		}
	}
	if o.streams > 0 {
		row(fmt.Sprintf("%d idle event streams: server RSS before, MiB", o.streams), num("%.1f", str(func(x *streamStats) float64 { return float64(x.RSSBeforeKiB) / 1024 })))
		row("  after, MiB", num("%.1f", str(func(x *streamStats) float64 { return float64(x.RSSAfterKiB) / 1024 })))
		row("  RSS per stream, KiB", num("%.1f", str(func(x *streamStats) float64 { return x.RSSPerStream })))
		row("  Go heap in use per stream, KiB", num("%.1f", str(func(x *streamStats) float64 { return x.HeapPerStream })))
		row("  goroutines per stream", num("%.1f", str(func(x *streamStats) float64 { return x.GoroutinesPer })))
		row("  push to all the account's streams, p50 ms", num("%.1f", str(func(x *streamStats) float64 { return x.FanoutLatency.P50 })))
		row("  max ms", num("%.1f", str(func(x *streamStats) float64 { return x.FanoutLatency.Max })))
	}
	row("server RSS at the end, MiB", num("%.1f", func(b *backendStats) float64 { return float64(b.ServerRSSKiB) / 1024 }))
	tw.Flush()

	for _, b := range res.Backends {
		fmt.Fprintf(w, "\n%s tables (with their indexes):\n", b.Backend)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "table\trows\tdata KiB\tindex KiB\ttotal KiB\tbytes/row\tpacked bytes/row\t")
		for _, t := range b.Sizes {
			packed := "-"
			if t.Packed > 0 {
				packed = fmt.Sprintf("%.0f", t.PackedPerRow)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%s\t\n", t.Table, t.Rows, t.Data/1024, t.Index/1024, t.Total/1024, t.PerRow, packed)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\ntargets:")
	for _, b := range res.Backends {
		verdict := func(ok bool) string {
			if ok {
				return "met"
			}
			return "MISSED"
		}
		if o.rate > 0 {
			p := pushAt(b, "push-open").Latency.P99
			fmt.Fprintf(w, "  %s: push p99 < 20 ms at %d devices, %.0f pushes/s: %.1f ms, %s\n", b.Backend, b.Devices, o.rate, p, verdict(p < 20))
		}
		p := pushAt(b, "push-closed").Latency.P99
		fmt.Fprintf(w, "  %s: push p99 < 20 ms at %d devices, %d in flight (saturated): %.1f ms, %s\n", b.Backend, b.Devices, o.concurrency, p, verdict(p < 20))
		if b.Big != nil {
			fmt.Fprintf(w, "  %s: first sync of %d items on a new device < 1 s: %.3f s, %s\n", b.Backend, b.Big.Items, b.Big.SetupMedian, verdict(b.Big.SetupMedian < 1))
		}
	}
}
