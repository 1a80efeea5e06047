package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyhold/keyhold/internal/svc"
)

// metrics are the server's Prometheus metrics. Labels are route patterns,
// statuses and outcomes only: never an account, device or item id, which
// would put who-uses-what into a monitoring system and make the series
// unbounded.
type metrics struct {
	reg             *prometheus.Registry
	requests        *prometheus.CounterVec
	latency         *prometheus.HistogramVec
	pushes          prometheus.Counter
	pushItems       *prometheus.CounterVec
	logins          *prometheus.CounterVec
	streams         prometheus.Gauge
	accountsCreated prometheus.Counter
	mailTickets     *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyhold_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyhold_http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern (event streams: the stream's lifetime).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyhold_sync_pushes_total",
			Help: "Successful sync pushes.",
		}),
		pushItems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyhold_sync_push_items_total",
			Help: "Pushed items by outcome (accepted, rejected as stale).",
		}, []string{"result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyhold_logins_total",
			Help: "Login attempts by outcome (ok, failed, throttled).",
		}, []string{"result"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keyhold_event_streams",
			Help: "Event streams (GET /v1/sync/events) open now.",
		}),
		accountsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyhold_accounts_created_total",
			Help: "Accounts created.",
		}),
		mailTickets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyhold_mail_tickets_total",
			Help: "Recovery kit mail tickets by outcome (issued, throttled).",
		}, []string{"result"}),
	}
	var err error
	if m.reg, err = svc.Registry(reg, m.requests, m.latency, m.pushes, m.pushItems, m.logins, m.streams, m.accountsCreated, m.mailTickets); err != nil {
		return nil, err
	}
	// Make the outcome series exist before the first event, so rates and
	// alerts work from the start.
	for _, r := range []string{"ok", "failed", "throttled"} {
		m.logins.WithLabelValues(r)
	}
	for _, r := range []string{"accepted", "rejected"} {
		m.pushItems.WithLabelValues(r)
	}
	for _, r := range []string{"issued", "throttled"} {
		m.mailTickets.WithLabelValues(r)
	}
	return m, nil
}

func (m *metrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	return svc.MetricsHandler(m.reg)
}
