package main

import (
	"bytes"
	"debug/buildinfo"
	"os/exec"
	"testing"

	khbuild "github.com/keyhold/keyhold/internal/buildinfo"
)

// --version prints what the binary's embedded build information says
// (version, commit if recorded, Go version), on stdout, and exits 0.
func TestVersion(t *testing.T) {
	want := binBuildInfo(t).String("keyhold-server")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "--version")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want stdout %q", stdout.String(), stderr.String(), want)
	}
}

// binBuildInfo is the build information embedded in the binary under test.
func binBuildInfo(t *testing.T) khbuild.Info {
	t.Helper()
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return khbuild.Parse(bi)
}
