package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/mailticket"
	"github.com/keyhold/keyhold/internal/server"
	"github.com/keyhold/keyhold/internal/server/store"
)

func (a *app) adminCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage accounts, plans, backups and the mail key in the database directly",
		Long: `Manage accounts, plans, backups and the mail ticket key by opening the database
directly (the server may be running). The database is --db (or $` + envDB + `), else
SQLite in the data directory.`,
	}
	a.addStoreFlags(cmd)
	cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if a.dbURL() != "" && a.data != "" {
			return usagef("give --data (SQLite) or a database URL (--db or %s), not both", envDB)
		}
		return nil
	}
	account := &cobra.Command{Use: "account", Short: "List, show, disable and enable accounts"}
	account.AddCommand(a.accountListCmd(), a.accountShowCmd(), a.accountDisableCmd(true), a.accountDisableCmd(false))
	plan := &cobra.Command{Use: "plan", Short: "Set an account's plan"}
	plan.AddCommand(a.planSetCmd())
	cmd.AddCommand(account, plan, a.backupCmd(), a.mailKeyCmd(), a.secretsCmd())
	return cmd
}

// withStore runs fn on the store the flags name.
func (a *app) withStore(ctx context.Context, fn func(st store.Store) error) error {
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

func parseAccountID(s string) (store.ID, error) {
	id, err := api.ParseID(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return store.ID{}, usagef("%q is not an account id (a UUID like 0190c5e4-6a1b-7cde-8f00-112233445566)", s)
	}
	return store.ID(id), nil
}

// The JSON of admin commands. Field names and meanings are stable: scripts
// read them.
type adminPlan struct {
	Name        string `json:"name"`
	Effective   string `json:"effective"`
	TrialEnds   string `json:"trial_ends,omitempty"`
	PaymentDate string `json:"payment_date,omitempty"`
	PaidUntil   string `json:"paid_until,omitempty"`
	Label       string `json:"label,omitempty"`
}

type adminDevice struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Platform string `json:"platform"`
	Added    string `json:"added"`
	LastSeen string `json:"last_seen"`
	Revoked  string `json:"revoked,omitempty"`
}

type adminAccount struct {
	AccountID  string        `json:"account_id"`
	Email      string        `json:"email,omitempty"`
	Plan       adminPlan     `json:"plan"`
	Created    string        `json:"created"`
	Disabled   bool          `json:"disabled"`
	KeyVersion uint32        `json:"key_version"`
	Head       uint64        `json:"head"`
	Devices    int           `json:"devices"`               // active ones
	Items      *int          `json:"items,omitempty"`       // account show only
	DeviceList []adminDevice `json:"device_list,omitempty"` // account show only
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(server.DateLayout)
}

func toAdmin(ac *store.Account, devs []*store.Device, now time.Time) adminAccount {
	out := adminAccount{
		AccountID: api.FormatID(ac.ID),
		Email:     ac.Email,
		Plan: adminPlan{
			Name:        ac.Plan.Name,
			Effective:   server.EffectivePlan(ac.Plan, now),
			TrialEnds:   date(ac.Plan.TrialEnds),
			PaymentDate: date(ac.Plan.PaymentDate),
			PaidUntil:   date(ac.Plan.PaidUntil),
			Label:       ac.Plan.Label,
		},
		Created:    rfc3339(ac.Created),
		Disabled:   ac.Disabled,
		KeyVersion: ac.KeyVersion,
		Head:       ac.Head,
	}
	for _, d := range devs {
		if d.Revoked.IsZero() {
			out.Devices++
		}
	}
	return out
}

func writeJSONOut(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// planText is a plan in words for the text output and the audit log.
func planText(p adminPlan) string {
	s := p.Name
	if p.Label != "" {
		s += " (" + p.Label + ")"
	}
	if p.TrialEnds != "" {
		s += ", trial ends " + p.TrialEnds
	}
	if p.PaidUntil != "" {
		s += ", paid until " + p.PaidUntil
	}
	if p.PaymentDate != "" {
		s += ", paid on " + p.PaymentDate
	}
	if p.Effective != p.Name {
		s += "; in force: " + p.Effective
	}
	return s
}

func (a *app) accountListCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every account",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(cmd.Context(), func(st store.Store) error {
				accts, err := st.ListAccounts(cmd.Context())
				if err != nil {
					return err
				}
				now := time.Now()
				out := make([]adminAccount, 0, len(accts))
				for _, ac := range accts {
					devs, err := st.Devices(cmd.Context(), ac.ID)
					if err != nil {
						return err
					}
					out = append(out, toAdmin(ac, devs, now))
				}
				if jsonOut {
					return writeJSONOut(a.stdout, out)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ACCOUNT\tEMAIL\tPLAN\tCREATED\tDEVICES\tSTATUS")
				for _, x := range out {
					status := "active"
					if x.Disabled {
						status = "disabled"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", x.AccountID, x.Email, x.Plan.Effective, x.Created[:min(10, len(x.Created))], x.Devices, status)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func (a *app) accountShowCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "show ACCOUNT_ID",
		Short: "Show one account, its plan and its devices",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseAccountID(args[0])
			if err != nil {
				return err
			}
			return a.withStore(cmd.Context(), func(st store.Store) error {
				ctx := cmd.Context()
				ac, err := st.Account(ctx, id)
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no account %s in this database", api.FormatID(id))
				} else if err != nil {
					return err
				}
				devs, err := st.Devices(ctx, id)
				if err != nil {
					return err
				}
				items, err := st.CountItems(ctx, id)
				if err != nil {
					return err
				}
				x := toAdmin(ac, devs, time.Now())
				x.Items = &items
				x.DeviceList = []adminDevice{}
				for _, d := range devs {
					x.DeviceList = append(x.DeviceList, adminDevice{
						ID: api.FormatID(d.ID), Name: d.Name, Platform: d.Platform,
						Added: rfc3339(d.Added), LastSeen: rfc3339(d.LastSeen), Revoked: rfc3339(d.Revoked),
					})
				}
				if jsonOut {
					return writeJSONOut(a.stdout, x)
				}
				status := "active"
				if x.Disabled {
					status = "disabled"
				}
				w := a.stdout
				fmt.Fprintf(w, "account:      %s\n", x.AccountID)
				fmt.Fprintf(w, "email:        %s\n", x.Email)
				fmt.Fprintf(w, "status:       %s\n", status)
				fmt.Fprintf(w, "plan:         %s\n", planText(x.Plan))
				fmt.Fprintf(w, "created:      %s\n", x.Created)
				fmt.Fprintf(w, "key version:  %d\n", x.KeyVersion)
				fmt.Fprintf(w, "items:        %d\n", items)
				fmt.Fprintf(w, "devices:      %d active\n", x.Devices)
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				for _, d := range x.DeviceList {
					state := "last seen " + d.LastSeen
					if d.Revoked != "" {
						state = "revoked " + d.Revoked
					}
					fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", d.ID, d.Name, d.Platform, state)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	return cmd
}

func (a *app) accountDisableCmd(disable bool) *cobra.Command {
	use, short, kind, detail := "enable ACCOUNT_ID", "Let a disabled account log in and sync again", api.EventEnabled, "enabled by the operator"
	if disable {
		use, short, kind, detail = "disable ACCOUNT_ID", "Refuse an account's logins and sessions (its data is kept)", api.EventDisabled, "disabled by the operator"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseAccountID(args[0])
			if err != nil {
				return err
			}
			return a.withStore(cmd.Context(), func(st store.Store) error {
				ctx := cmd.Context()
				if err := st.SetDisabled(ctx, id, disable); errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no account %s in this database", api.FormatID(id))
				} else if err != nil {
					return err
				}
				if err := st.AddEvent(ctx, id, &store.Event{Time: time.Now().UTC(), Kind: kind, Detail: detail}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "account %s %s\n", api.FormatID(id), strings.TrimSuffix(detail, " by the operator"))
				return nil
			})
		},
	}
}

func (a *app) planSetCmd() *cobra.Command {
	var name, trialEnds, paidUntil, paymentDate, label string
	cmd := &cobra.Command{
		Use:   "set ACCOUNT_ID --plan free|trial|premium|other [--trial-ends YYYY-MM-DD] [--paid-until YYYY-MM-DD] [--payment-date YYYY-MM-DD] [--label L]",
		Short: "Set an account's plan (every field at once: fields not given are cleared)",
		Long: `Set an account's plan. The whole plan is replaced: a field not given is cleared.

  free     the free plan's limits (--free-max-devices of serve)
  trial    no limits until --trial-ends (default: 30 days from today), then free
  premium  no limits; with --paid-until, free after that day (no grace period)
  other    like premium, named by --label (a family or sponsored plan, say)

Dates are YYYY-MM-DD, in UTC, and include the whole day.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseAccountID(args[0])
			if err != nil {
				return err
			}
			p := store.Plan{Name: name, Label: label}
			dates := []struct {
				flag string
				val  string
				dst  *time.Time
			}{{"--trial-ends", trialEnds, &p.TrialEnds}, {"--paid-until", paidUntil, &p.PaidUntil}, {"--payment-date", paymentDate, &p.PaymentDate}}
			for _, d := range dates {
				if d.val == "" {
					continue
				}
				t, err := time.Parse(server.DateLayout, d.val)
				if err != nil {
					return usagef("%s must be a date like 2027-01-31", d.flag)
				}
				*d.dst = t
			}
			switch name {
			case store.PlanFree:
				if trialEnds != "" || paidUntil != "" || paymentDate != "" || label != "" {
					return usagef("the free plan takes no dates or label")
				}
			case store.PlanTrial:
				if paidUntil != "" || paymentDate != "" || label != "" {
					return usagef("a trial takes only --trial-ends")
				}
				if p.TrialEnds.IsZero() {
					y, m, d := time.Now().UTC().AddDate(0, 0, server.DefaultTrialDays).Date()
					p.TrialEnds = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
				}
			case store.PlanPremium, store.PlanOther:
				if trialEnds != "" {
					return usagef("--trial-ends is for the trial plan")
				}
				if name == store.PlanPremium && label != "" {
					return usagef("--label is for the other plan")
				}
			case "":
				return usagef("--plan is required: free, trial, premium or other")
			default:
				return usagef("--plan must be free, trial, premium or other")
			}
			if len(label) > api.MaxNameLen {
				return usagef("--label is longer than %d bytes", api.MaxNameLen)
			}
			return a.withStore(cmd.Context(), func(st store.Store) error {
				ctx := cmd.Context()
				if err := st.SetPlan(ctx, id, p); errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no account %s in this database", api.FormatID(id))
				} else if err != nil {
					return err
				}
				ap := adminPlan{
					Name: p.Name, Effective: server.EffectivePlan(p, time.Now()), TrialEnds: date(p.TrialEnds),
					PaidUntil: date(p.PaidUntil), PaymentDate: date(p.PaymentDate), Label: p.Label,
				}
				if err := st.AddEvent(ctx, id, &store.Event{Time: time.Now().UTC(), Kind: api.EventPlanChanged, Detail: planText(ap)}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "plan of %s: %s\n", api.FormatID(id), planText(ap))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "plan", "", "free, trial, premium or other")
	fl.StringVar(&trialEnds, "trial-ends", "", "last day of the trial, YYYY-MM-DD")
	fl.StringVar(&paidUntil, "paid-until", "", "last day paid for, YYYY-MM-DD")
	fl.StringVar(&paymentDate, "payment-date", "", "date of the payment, YYYY-MM-DD")
	fl.StringVar(&label, "label", "", "name of an other plan")
	return cmd
}

func (a *app) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database to a new FILE while the server runs",
		Long: `Write a consistent copy of the database to FILE, which must not exist: an SQLite
database file, or for PostgreSQL a plain SQL dump made by pg_dump. The copy holds the
server's login keys: keep it as safe as the database itself.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(st store.Store) error {
				if err := st.Backup(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "backup written to %s\n", args[0])
				return nil
			})
		},
	}
}

// adminMailKey is the JSON of admin mail-key.
type adminMailKey struct {
	PublicKey string `json:"public_key"` // keyhold-mail-key-v1:BASE64
}

func (a *app) mailKeyCmd() *cobra.Command {
	var jsonOut bool
	var secretsPath string
	cmd := &cobra.Command{
		Use:   "mail-key [--secrets FILE]",
		Short: "Print the public key keyhold-mailer checks this server's mail tickets with",
		Long: `Print the public key of the key this server signs recovery kit mail tickets
with, as keyhold-mail-key-v1:BASE64, for keyhold-mailer's configuration. The key
is made and stored in the database the first time it is needed (here, or at the
first start of serve), so every replica sharing the database signs with it and
the printed key stays the same. It is public: printing it reveals nothing.
With --secrets FILE (or $` + envSecrets + `) the key is the one in the server secrets
kept outside the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(cmd.Context(), func(st store.Store) error {
				pub, err := a.mailPublicKey(cmd.Context(), st, secretsPath)
				if err != nil {
					return err
				}
				text := mailticket.FormatPublicKey(pub)
				if jsonOut {
					return writeJSONOut(a.stdout, adminMailKey{PublicKey: text})
				}
				_, err = fmt.Fprintln(a.stdout, text)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print JSON")
	cmd.Flags().StringVar(&secretsPath, "secrets", "", "the server secrets file, when they are kept outside the database")
	return cmd
}
