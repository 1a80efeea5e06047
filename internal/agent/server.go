package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/syncfile"
	"github.com/keyhold/keyhold/internal/vault"
)

// maxRequest bounds a request body: an add of a few large items at most.
const maxRequest = 64 << 20

// Server serves one unlocked vault session until Lock, the idle timeout,
// or its context ends.
type Server struct {
	sess    *vault.Session
	timeout time.Duration
	started time.Time
	log     *slog.Logger

	mu       sync.Mutex
	deadline time.Time
	done     chan struct{}
	once     sync.Once
	syncMu   sync.Mutex

	listMu  sync.Mutex
	listFor []*vault.Entry // the entries the cached listing was made of
	listing string
}

// NewServer wraps an unlocked session. The session is closed (its keys
// wiped) when the server stops.
func NewServer(sess *vault.Session, timeout time.Duration, log *slog.Logger) *Server {
	now := time.Now()
	return &Server{sess: sess, timeout: timeout, started: now, deadline: now.Add(timeout),
		done: make(chan struct{}), log: log}
}

func (s *Server) stop() { s.once.Do(func() { close(s.done) }) }

func (s *Server) touch() {
	s.mu.Lock()
	s.deadline = time.Now().Add(s.timeout)
	s.mu.Unlock()
}

// Serve listens at path (SocketPath: a unix socket, or a named pipe on
// Windows, open to this user only) and answers requests until the agent
// is locked or idle for its timeout. ready is called once it accepts
// connections.
func (s *Server) Serve(ctx context.Context, path string, ready func()) error {
	l, err := listen(path)
	if err != nil {
		return err
	}
	defer unlisten(l, path)
	defer s.sess.Close()
	defer func() {
		s.listMu.Lock()
		s.listFor, s.listing = nil, ""
		s.listMu.Unlock()
	}()
	if ready != nil {
		ready()
	}
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				s.stop()
			case <-s.done:
			case <-t.C:
				s.mu.Lock()
				expired := time.Now().After(s.deadline)
				s.mu.Unlock()
				if expired {
					s.log.Info("idle timeout; locking")
					s.stop()
				}
				// The socket was removed (tmp cleaned) or the vault is
				// gone: nobody needs us any more.
				if listenerGone(path) {
					s.stop()
				}
				if !vault.Exists(s.sess.Vault().Dir) {
					s.stop()
				}
				continue
			}
			l.Close()
			return
		}
	}()
	var wg sync.WaitGroup
	for {
		c, err := l.Accept()
		if err != nil {
			select {
			case <-s.done:
				wg.Wait()
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				wg.Wait()
				return nil
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, c)
		}()
	}
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	if err := checkClient(c); err != nil {
		s.log.Warn("refused a connection", "reason", err.Error())
		return
	}
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	var req request
	if err := json.NewDecoder(io.LimitReader(c, maxRequest)).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(response{Err: &wireError{Kind: "other", Message: "agent: malformed request"}})
		return
	}
	select {
	case <-s.done:
		json.NewEncoder(c).Encode(response{Err: &wireError{Kind: "locked", Message: "the agent is locking"}})
		return
	default:
	}
	// A status check is not use: a shell prompt that polls it must not
	// keep the vault unlocked forever.
	if req.Op != opStatus {
		s.touch()
	}
	resp := s.dispatch(ctx, &req)
	if err := json.NewEncoder(c).Encode(resp); err == nil && len(resp.listing) > 0 {
		io.WriteString(c, resp.listing)
	}
	if req.Op == opLock {
		s.stop()
	}
}

// summary is an item without its notes, fields and attachments, but its
// username: what the JSON listings of older clients get (opList).
func summary(it *item.Item) *item.Item {
	c := *it
	c.Notes = ""
	c.Fields = nil
	c.Attachments = nil
	if u := it.Username(); u != "" {
		c.Fields = []item.Field{{Name: "username", Kind: item.Text, Value: u}}
	}
	return &c
}

func entries(es ...*vault.Entry) []wireEntry {
	out := make([]wireEntry, len(es))
	for i, e := range es {
		out[i] = wireEntry{ID: e.ID.String(), Revision: e.Revision, Item: e.Item}
	}
	return out
}

func (s *Server) dispatch(ctx context.Context, r *request) response {
	var resp response
	var err error
	switch r.Op {
	case opStatus:
		s.mu.Lock()
		resp.Status = &Status{AccountID: s.sess.Vault().AccountID().String(), VaultDir: s.sess.Vault().Dir,
			Started: s.started, Timeout: s.timeout, ExpiresAt: s.deadline, PID: os.Getpid()}
		s.mu.Unlock()
	case opLock:
	case opList:
		var es []*vault.Entry
		es, err = s.sess.Search(ctx, r.Query, r.Filter)
		resp.Entries = entries(es...)
		if !r.Full {
			// A listing needs titles and usernames, not secrets: send
			// less, and keep hidden values out of the socket.
			for i := range resp.Entries {
				resp.Entries[i].Item = summary(resp.Entries[i].Item)
			}
		}
	case opSummaries:
		var es []*vault.Entry
		if es, err = s.sess.Search(ctx, r.Query, r.Filter); err == nil {
			resp.listing = s.encodeListing(es)
			resp.Listing = len(resp.listing)
		}
	case opResolve:
		var e *vault.Entry
		if e, err = s.sess.Resolve(ctx, r.Ref, r.Filter); err == nil {
			resp.Entries = entries(e)
		}
	case opHistory:
		var u uuid.UUID
		if u, err = uuid.Parse(r.ID); err == nil {
			resp.Revisions, err = s.sess.History(ctx, vault.ItemID(u))
		}
	case opAdd:
		var es []*vault.Entry
		es, err = s.sess.Add(ctx, r.Items...)
		resp.Entries = entries(es...)
	case opPut:
		var u uuid.UUID
		if u, err = uuid.Parse(r.ID); err == nil && len(r.Items) == 1 {
			var e *vault.Entry
			if e, err = s.sess.Put(ctx, vault.ItemID(u), r.BaseRev, r.Items[0]); err == nil {
				resp.Entries = entries(e)
			}
		} else if err == nil {
			err = errors.New("agent: put takes one item")
		}
	case opTrash, opRestore:
		var e *vault.Entry
		if r.Op == opTrash {
			e, err = s.sess.Trash(ctx, r.Ref)
		} else {
			e, err = s.sess.Restore(ctx, r.Ref)
		}
		if err == nil {
			resp.Entries = entries(e)
		}
	case opVerify:
		resp.Report, err = s.sess.Verify(ctx)
	case opSync:
		resp.Sync, err = s.sync(ctx)
	case opMatch:
		var cs []Candidate
		if cs, err = s.match(ctx, r.Origin, r.Exact); err == nil {
			resp.Candidates = toWireCandidates(cs)
		}
	case opMatchSearch:
		var cs []Candidate
		if cs, resp.More, err = s.matchSearch(ctx, r.Query, r.Origin, r.Exact); err == nil {
			resp.Candidates = toWireCandidates(cs)
		}
	case opFolderSync:
		s.syncMu.Lock()
		resp.Folder, err = s.sess.FolderSync(ctx)
		s.syncMu.Unlock()
	default:
		err = fmt.Errorf("agent: unknown request %q (is the agent from another keyhold version? run `keyhold lock`)", r.Op)
	}
	resp.Err = encodeErr(err)
	return resp
}

// encodeListing is encodeListing(es), kept for the next request: a
// listing asked for again (the same entries, which the session shares
// between searches until an item changes, and a change makes a new entry)
// is sent as it is, without encoding 10k summaries again.
func (s *Server) encodeListing(es []*vault.Entry) string {
	s.listMu.Lock()
	defer s.listMu.Unlock()
	if s.listing != "" && slices.Equal(es, s.listFor) {
		return s.listing
	}
	s.listFor, s.listing = es, string(encodeListing(es))
	return s.listing
}

// sync runs one server sync with the agent's session, so an unlocked
// vault syncs without the password. Only one runs at a time.
func (s *Server) sync(ctx context.Context) (*syncclient.Report, error) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	dir := s.sess.Vault().Dir
	cfg, err := syncfile.Load(dir)
	if err != nil {
		return nil, err
	}
	cl, err := cfg.Client()
	if err != nil {
		return nil, err
	}
	y := &syncclient.Syncer{C: cl, S: s.sess}
	return y.Sync(ctx)
}
