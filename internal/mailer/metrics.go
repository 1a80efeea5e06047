package mailer

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyhold/keyhold/internal/svc"
)

// metrics are the mailer's Prometheus metrics. Labels are outcomes and
// reasons from fixed lists: never an address or an account, which would
// put who-mails-whom into a monitoring system.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	sent     prometheus.Counter
	failed   prometheus.Counter
	dropped  prometheus.Counter
	attempts *prometheus.CounterVec
	queued   prometheus.Gauge
}

// refusalReasons are the values of the reason label, made to exist from
// the start so that rates and alerts work before the first refusal.
var refusalReasons = []string{
	"bad_request", "too_large", "throttled_address", "throttled_account",
	"ticket_malformed", "ticket_forged", "ticket_expired", "ticket_too_long", "ticket_used",
	"ticket_mismatch", "bad_payload", "queue_full", "busy", "shutting_down", "internal",
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyhold_mailer_requests_total",
			Help: "Send requests by result: queued, or the reason they were refused.",
		}, []string{"result"}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyhold_mailer_sent_total",
			Help: "Mails the relay accepted.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyhold_mailer_failed_total",
			Help: "Mails dropped after their last delivery attempt failed.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyhold_mailer_dropped_total",
			Help: "Mails dropped undelivered at shutdown.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyhold_mailer_delivery_attempts_total",
			Help: "Delivery attempts by result (ok, error).",
		}, []string{"result"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "keyhold_mailer_queued",
			Help: "Mails held in memory now, waiting or being sent.",
		}),
	}
	var err error
	if m.reg, err = svc.Registry(reg, m.requests, m.sent, m.failed, m.dropped, m.attempts, m.queued); err != nil {
		return nil, err
	}
	m.requests.WithLabelValues("queued")
	for _, r := range refusalReasons {
		m.requests.WithLabelValues(r)
	}
	m.attempts.WithLabelValues("ok")
	m.attempts.WithLabelValues("error")
	return m, nil
}

func (m *metrics) accepted()             { m.requests.WithLabelValues("queued").Inc() }
func (m *metrics) refused(reason string) { m.requests.WithLabelValues(reason).Inc() }
func (m *metrics) handler() http.Handler { return svc.MetricsHandler(m.reg) }
func (m *metrics) attempt(ok bool) {
	m.attempts.WithLabelValues(map[bool]string{true: "ok", false: "error"}[ok]).Inc()
}
func (m *metrics) setQueued(n int) { m.queued.Set(float64(n)) }
