package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (the CI variable is set).
// There scripts/deps.sh has installed every program the tests need, so a
// missing one is a failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") != "" }

// NeedProgram returns the path of an external program a test runs. When
// it is missing the test is skipped, naming the Debian package that
// provides it, or fails under CI.
func NeedProgram(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := HaveProgram(name, debianPackage)
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		t.Skipf("%s is not installed; install the Debian package %s (scripts/deps.sh does)", name, debianPackage)
	}
	return path
}

// HaveProgram is NeedProgram for callers that decide themselves, such as
// testscript conditions: the program's path, or "" when it is missing,
// or an error when it is missing under CI.
func HaveProgram(name, debianPackage string) (string, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	if InCI() {
		return "", fmt.Errorf("%s is not installed; under CI scripts/deps.sh must install the Debian package %s", name, debianPackage)
	}
	return "", nil
}
