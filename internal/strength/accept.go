package strength

import "fmt"

// WeakPasswordError is returned by AcceptNewPassword for a password below
// MinScore. It holds the estimate (never the password), so that the
// caller can show why and what to do.
type WeakPasswordError struct {
	Estimate Estimate
}

func (e *WeakPasswordError) Error() string {
	msg := fmt.Sprintf("the new password is too weak (%s; at least %d/4 is needed)", e.Estimate.Summary(), MinScore)
	if e.Estimate.Warning != "" {
		msg += ": " + e.Estimate.Warning
	}
	return msg
}

// AcceptNewPassword is the one rule for a new account password, wherever
// one is chosen (keyhold init and passwd): it must reach MinScore, judged
// with userInputs (email, account id, …) counted as known to an attacker.
// The error is a *WeakPasswordError. Callers decide whether the user may
// override it (keyhold's --weak-password-ok); this function does not.
func AcceptNewPassword(password []byte, userInputs ...string) error {
	est := Evaluate(password, userInputs...)
	if est.Score < MinScore {
		return &WeakPasswordError{Estimate: est}
	}
	return nil
}
