package main

import (
	"testing"

	"github.com/keyhold/keyhold/internal/svc/svctest"
)

// --version prints what the binary's embedded build information says
// (version, commit if recorded, Go version), on stdout, and exits 0.
func TestVersion(t *testing.T) { svctest.CheckVersion(t, bin, "keyhold-server") }
