package mailer

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"sync"
	"time"
)

var (
	errQueueFull   = errors.New("mailer: the queue is full")
	errQueueClosed = errors.New("mailer: the queue is closed")
)

// job is one mail to deliver. msg is the whole composed message, which
// holds the kit (sealed, or in the clear for an --unencrypted kit): it is
// wiped as soon as the job ends, delivered or dropped.
type job struct {
	id      string
	to      string
	account string
	msg     []byte

	// Guarded by queue.mu.
	attempts int         // failed attempts so far
	timer    *time.Timer // set while the job waits for a retry
}

// queue holds jobs in memory, at most size at a time, and delivers them
// with a fixed number of workers. A job is always in exactly one place: in
// the ready channel, with a worker, or waiting on its retry timer; the
// held set is every job in any of them, which is what the size bounds.
type queue struct {
	size, workers int
	retries       int
	backoff       time.Duration
	deliver       func(ctx context.Context, j *job) error
	log           *slog.Logger
	m             *metrics

	ready  chan *job // capacity size: a send never blocks
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	mu       sync.Mutex
	held     map[*job]struct{}
	closed   bool // no more jobs accepted
	running  bool // run was called
	stopped  bool // shutdown has stopped the workers, or is about to
	emptied  chan struct{}
	emptyOne sync.Once
	drained  int // delivered after closing
	dropped  int
}

func newQueue(size, workers int, deliver func(context.Context, *job) error, log *slog.Logger, m *metrics) *queue {
	ctx, cancel := context.WithCancel(context.Background())
	return &queue{
		size: size, workers: workers, deliver: deliver, log: log, m: m,
		ready: make(chan *job, size), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		held: make(map[*job]struct{}), emptied: make(chan struct{}),
	}
}

// submit adds j to the queue, or says why it cannot.
func (q *queue) submit(j *job) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return errQueueClosed
	}
	if len(q.held) >= q.size {
		q.mu.Unlock()
		return errQueueFull
	}
	q.held[j] = struct{}{}
	q.m.setQueued(len(q.held))
	q.mu.Unlock()
	q.ready <- j
	return nil
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.held)
}

// run delivers until ctx is done or shutdown stops it, then drops what is
// left.
func (q *queue) run(ctx context.Context) {
	q.mu.Lock()
	if q.running || q.stopped {
		q.mu.Unlock()
		return
	}
	q.running = true
	q.mu.Unlock()
	stop := context.AfterFunc(ctx, q.cancel)
	defer stop()
	var wg sync.WaitGroup
	for range q.workers {
		wg.Go(q.work)
	}
	wg.Wait()
	// Nothing delivers any more: take no more jobs, drop the held ones.
	q.mu.Lock()
	q.closed, q.stopped = true, true
	q.mu.Unlock()
	q.dropAll()
	close(q.done)
}

func (q *queue) work() {
	for {
		select {
		case <-q.ctx.Done():
			return
		case j := <-q.ready:
			q.mu.Lock()
			_, ok := q.held[j]
			q.mu.Unlock()
			if !ok {
				continue
			}
			q.finished(j, q.deliver(q.ctx, j))
		}
	}
}

// finished records the outcome of one delivery attempt.
func (q *queue) finished(j *job, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.m.attempt(err == nil)
	if err == nil {
		q.m.sent.Inc()
		if q.closed {
			q.drained++
		}
		q.end(j)
		q.log.Info("mail delivered", "request", j.id, "account", j.account, "to", redactAddress(j.to), "attempt", j.attempts+1)
		return
	}
	if q.ctx.Err() != nil {
		// Stopped in the middle of the attempt: dropAll counts it.
		return
	}
	j.attempts++
	msg := scrub(err.Error(), j.to)
	if j.attempts > q.retries {
		q.m.failed.Inc()
		q.end(j)
		q.log.Warn("mail dropped: its last delivery attempt failed", "request", j.id, "account", j.account,
			"to", redactAddress(j.to), "attempts", j.attempts, "error", msg)
		return
	}
	wait := min(q.backoff<<(j.attempts-1), maxRetryBackoff)
	if j.attempts > 20 {
		wait = maxRetryBackoff
	}
	q.log.Warn("mail delivery failed; will retry", "request", j.id, "to", redactAddress(j.to),
		"attempt", j.attempts, "retry_in", wait.String(), "error", msg)
	j.timer = time.AfterFunc(wait, func() { q.retry(j) })
}

// retry puts a job whose wait is over back in line.
func (q *queue) retry(j *job) {
	q.mu.Lock()
	_, ok := q.held[j]
	if !ok || j.timer == nil {
		q.mu.Unlock()
		return
	}
	j.timer = nil
	q.mu.Unlock()
	q.ready <- j
}

// end forgets j and wipes its message. Called with q.mu held.
func (q *queue) end(j *job) {
	delete(q.held, j)
	clear(j.msg)
	j.msg = nil
	q.m.setQueued(len(q.held))
	if q.closed && len(q.held) == 0 {
		q.emptyOne.Do(func() { close(q.emptied) })
	}
}

// shutdown closes the queue, gives the held jobs until ctx is done to be
// delivered (those waiting for a retry are tried at once), stops the
// workers and drops what is left. It returns how many were delivered in
// that time and how many were dropped.
func (q *queue) shutdown(ctx context.Context) (drained, dropped int) {
	q.mu.Lock()
	q.closed = true
	for j := range q.held {
		if j.timer != nil && j.timer.Stop() {
			j.timer = nil
			q.ready <- j
		}
	}
	if len(q.held) == 0 {
		q.emptyOne.Do(func() { close(q.emptied) })
	}
	q.mu.Unlock()

	select {
	case <-q.emptied:
	case <-ctx.Done():
	}
	q.cancel()
	q.mu.Lock()
	running := q.running
	q.stopped = true
	q.mu.Unlock()
	if running {
		<-q.done
	} else {
		q.dropAll()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.drained, q.dropped
}

// dropAll wipes and forgets every held job. Called once no worker runs.
func (q *queue) dropAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for j := range q.held {
		if j.timer != nil {
			j.timer.Stop()
			j.timer = nil
		}
		q.log.Warn("mail dropped undelivered at shutdown", "request", j.id, "account", j.account,
			"to", redactAddress(j.to), "failed_attempts", j.attempts)
		q.dropped++
		q.m.dropped.Inc()
		q.end(j)
	}
}

// scrub removes the recipient's address from an error message: a relay's
// reply often repeats it ("550 <bob@example.org>: no such user").
func scrub(msg, to string) string {
	if to == "" {
		return msg
	}
	return regexp.MustCompile("(?i)"+regexp.QuoteMeta(to)).ReplaceAllLiteralString(msg, redactAddress(to))
}
