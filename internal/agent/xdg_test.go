package agent

import (
	"os"
	"testing"

	"github.com/keyhold/keyhold/internal/testenv"
)

// TestMain keeps the Secret Key files the tests' devices write out of the
// user's own state directory.
func TestMain(m *testing.M) { os.Exit(testenv.RunIsolatedXDG(m)) }
