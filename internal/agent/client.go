package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/keyhold/keyhold/internal/item"
	"github.com/keyhold/keyhold/internal/syncclient"
	"github.com/keyhold/keyhold/internal/vault"
)

// ErrNoAgent means no agent is running for the vault.
var ErrNoAgent = errors.New("the vault is locked (no agent running)")

// ErrForeignAgent means the agent's socket or process is not the user's
// own; keyhold refuses to talk to it.
var ErrForeignAgent = errors.New("refusing an agent socket that is not yours")

// Client talks to a running agent. It offers the same operations as a
// vault.Session so that commands do not care which they have.
type Client struct {
	path string
}

// Dial checks that an agent answers at path.
func Dial(path string) (*Client, *Status, error) {
	c := &Client{path: path}
	resp, err := c.call(context.Background(), &request{Op: opStatus})
	if err != nil {
		return nil, nil, err
	}
	return c, resp.Status, nil
}

func (c *Client) call(ctx context.Context, req *request) (*response, error) {
	// Talk only to an agent of our own (dial checks, per platform, that
	// the socket or pipe and the process at the other end are ours).
	// Otherwise another local user could pose as the agent and receive
	// what commands send it (new passwords, for one).
	conn, err := dial(ctx, c.path)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("talking to the agent: %w", err)
	}
	var resp response
	dec := json.NewDecoder(conn)
	if err := dec.Decode(&resp); err != nil {
		if req.Op == opStatus {
			return nil, ErrNoAgent
		}
		return nil, fmt.Errorf("the agent did not answer (%v); run `keyhold lock` and `keyhold unlock`", err)
	}
	if resp.Err != nil {
		if resp.Err.Kind == "locked" {
			return nil, ErrNoAgent
		}
		return nil, decodeErr(resp.Err)
	}
	if resp.Listing != 0 {
		if resp.Listing < 0 || resp.Listing > maxListing {
			return nil, errListing
		}
		// The listing follows the newline that ends the JSON response.
		r := io.MultiReader(dec.Buffered(), conn)
		var nl [1]byte
		_, err := io.ReadFull(r, nl[:])
		if err == nil && nl[0] != '\n' {
			err = errListing
		}
		if err == nil {
			// Read into a string: the summaries' strings are slices of it.
			var sb strings.Builder
			sb.Grow(resp.Listing)
			var n int64
			n, err = io.CopyN(&sb, r, int64(resp.Listing))
			if err == nil && n == int64(resp.Listing) {
				resp.listing = sb.String()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("the agent did not answer (%v); run `keyhold lock` and `keyhold unlock`", err)
		}
	}
	return &resp, nil
}

func toEntries(ws []wireEntry) ([]*vault.Entry, error) {
	out := make([]*vault.Entry, len(ws))
	for i, w := range ws {
		u, err := uuid.Parse(w.ID)
		if err != nil || w.Item == nil {
			return nil, errors.New("the agent sent a malformed item")
		}
		out[i] = &vault.Entry{ID: vault.ItemID(u), Revision: w.Revision, Item: w.Item}
	}
	return out, nil
}

func one(resp *response, err error) (*vault.Entry, error) {
	if err != nil {
		return nil, err
	}
	es, err := toEntries(resp.Entries)
	if err != nil {
		return nil, err
	}
	if len(es) != 1 {
		return nil, errors.New("the agent sent a malformed answer")
	}
	return es[0], nil
}

// Lock asks the agent to wipe its keys and exit.
func (c *Client) Lock(ctx context.Context) error {
	_, err := c.call(ctx, &request{Op: opLock})
	return err
}

// Search is vault.Session.Search, except that the items are summaries:
// title, type, URLs, tags, favorite mark, times and username only, no
// notes, attachments or other fields. That is what listings show, and it
// keeps secrets off the socket. They come as a listing (listing.go),
// which is read many times faster than the same summaries in JSON.
func (c *Client) Search(ctx context.Context, q string, f vault.Filter) ([]*vault.Entry, error) {
	resp, err := c.call(ctx, &request{Op: opSummaries, Query: q, Filter: f})
	if err != nil {
		return nil, err
	}
	return decodeListing(resp.listing)
}

// List is vault.Session.List: whole items.
func (c *Client) List(ctx context.Context, f vault.Filter) ([]*vault.Entry, error) {
	resp, err := c.call(ctx, &request{Op: opList, Filter: f, Full: true})
	if err != nil {
		return nil, err
	}
	return toEntries(resp.Entries)
}

// Resolve is vault.Session.Resolve.
func (c *Client) Resolve(ctx context.Context, ref string, f vault.Filter) (*vault.Entry, error) {
	return one(c.call(ctx, &request{Op: opResolve, Ref: ref, Filter: f}))
}

// History is vault.Session.History.
func (c *Client) History(ctx context.Context, id vault.ItemID) ([]vault.Revision, error) {
	resp, err := c.call(ctx, &request{Op: opHistory, ID: id.String()})
	if err != nil {
		return nil, err
	}
	return resp.Revisions, nil
}

// Add is vault.Session.Add.
func (c *Client) Add(ctx context.Context, its ...*item.Item) ([]*vault.Entry, error) {
	resp, err := c.call(ctx, &request{Op: opAdd, Items: its})
	if err != nil {
		return nil, err
	}
	return toEntries(resp.Entries)
}

// Put is vault.Session.Put.
func (c *Client) Put(ctx context.Context, id vault.ItemID, baseRev uint64, it *item.Item) (*vault.Entry, error) {
	return one(c.call(ctx, &request{Op: opPut, ID: id.String(), BaseRev: baseRev, Items: []*item.Item{it}}))
}

// Trash is vault.Session.Trash.
func (c *Client) Trash(ctx context.Context, ref string) (*vault.Entry, error) {
	return one(c.call(ctx, &request{Op: opTrash, Ref: ref}))
}

// Restore is vault.Session.Restore.
func (c *Client) Restore(ctx context.Context, ref string) (*vault.Entry, error) {
	return one(c.call(ctx, &request{Op: opRestore, Ref: ref}))
}

// Verify is vault.Session.Verify.
func (c *Client) Verify(ctx context.Context) (*vault.Report, error) {
	resp, err := c.call(ctx, &request{Op: opVerify})
	if err != nil {
		return nil, err
	}
	return resp.Report, nil
}

// Sync asks the agent to sync the vault with its server.
func (c *Client) Sync(ctx context.Context) (*syncclient.Report, error) {
	resp, err := c.call(ctx, &request{Op: opSync})
	if err != nil {
		return nil, err
	}
	return resp.Sync, nil
}

// FolderSync asks the agent to sync the vault with its shared folder.
func (c *Client) FolderSync(ctx context.Context) (*vault.FolderReport, error) {
	resp, err := c.call(ctx, &request{Op: opFolderSync})
	if err != nil {
		return nil, err
	}
	return resp.Folder, nil
}

// Close does nothing: the agent outlives the command.
func (c *Client) Close() {}
