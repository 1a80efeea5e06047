package server

import (
	"time"

	"github.com/keyhold/keyhold/internal/api"
	"github.com/keyhold/keyhold/internal/server/store"
)

// DateLayout is how plan dates are written, on the wire and by the admin
// commands.
const DateLayout = "2006-01-02"

// day is t's calendar date as UTC midnight, the form the store keeps plan
// dates in.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// pastDay reports whether now is past the whole UTC day d (a zero d never
// passes).
func pastDay(d, now time.Time) bool {
	return !d.IsZero() && !now.Before(day(d).AddDate(0, 0, 1))
}

// EffectivePlan is the plan in force at now. A date is included in full: a
// trial ending on 2026-03-01 still runs that day (UTC).
//
//   - trial past TrialEnds is free;
//   - premium and other past PaidUntil are free, with no grace period (the
//     operator extends PaidUntil when a payment arrives);
//   - a trial without an end date, or premium and other without a paid-until
//     date, stay in force;
//   - an unknown plan name is free.
//
// Falling back to free changes only limits: no data is touched, and a
// device already beyond the free limit keeps working; only new devices are
// refused.
func EffectivePlan(p store.Plan, now time.Time) string {
	switch p.Name {
	case store.PlanTrial:
		if pastDay(p.TrialEnds, now) {
			return store.PlanFree
		}
		return store.PlanTrial
	case store.PlanPremium, store.PlanOther:
		if pastDay(p.PaidUntil, now) {
			return store.PlanFree
		}
		return p.Name
	}
	return store.PlanFree
}

// maxDevices is the device limit of acct's plan at now, for PutDevice
// (0: no limit).
func (s *Server) maxDevices(acct *store.Account, now time.Time) int {
	if EffectivePlan(acct.Plan, now) != store.PlanFree || s.cfg.Limits.MaxDevicesFree < 0 {
		return 0
	}
	return s.cfg.Limits.MaxDevicesFree
}

func formatDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return day(t).Format(DateLayout)
}

func (s *Server) apiPlan(acct *store.Account, now time.Time) api.Plan {
	p := acct.Plan
	return api.Plan{
		Name:        p.Name,
		Effective:   EffectivePlan(p, now),
		TrialEnds:   formatDate(p.TrialEnds),
		PaymentDate: formatDate(p.PaymentDate),
		PaidUntil:   formatDate(p.PaidUntil),
		Label:       p.Label,
		MaxDevices:  s.maxDevices(acct, now),
	}
}
