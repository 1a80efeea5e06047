package svc

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyhold/keyhold/internal/buildinfo"
)

// Registry registers a service's metrics cs with reg, or when reg is nil
// with a new registry that also has the Go and process collectors (what a
// service serves at /metrics when it runs on its own), and returns it.
func Registry(reg *prometheus.Registry, cs ...prometheus.Collector) (*prometheus.Registry, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// keyhold_build_info says which binary runs. A registry the server
	// and the mailer share (one process running both) holds it once.
	if err := reg.Register(BuildInfo()); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		return nil, err
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// MetricsHandler serves reg's metrics in the Prometheus text format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// BuildInfo is the keyhold_build_info gauge, always 1, whose labels say
// what the running binary was built from (buildinfo.Read): version,
// revision ("" where the build recorded no commit) and goversion. Both
// servers export it, so that a dashboard shows which build each replica
// runs.
func BuildInfo() prometheus.Collector {
	in := buildinfo.Read()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "keyhold_build_info",
		Help: "Always 1; the labels say what this binary was built from.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(in.Version, in.Revision, in.GoVersion).Set(1)
	return g
}
