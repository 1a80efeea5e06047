// Package buildinfo says what a Keyhold binary was built from: the main
// module's version, the commit and whether the tree had changes, and the
// Go version. It reads the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo) each time it is asked, so there is
// nothing to set at start-up and nothing a linker flag must fill in. The
// three binaries print it for --version, and both servers export it as the
// keyhold_build_info metric.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Devel is the version of a build with no module version: go build or go
// test in a checkout without a tagged version stamped in.
const Devel = "(devel)"

// Info is what a binary was built from.
type Info struct {
	// Version is the main module's version, or Devel.
	Version string
	// Revision is the commit (vcs.revision), or "" where the build
	// recorded none (go test, a build outside a checkout, -buildvcs=false).
	Revision string
	// Modified is vcs.modified: the checkout had uncommitted changes.
	Modified bool
	// GoVersion is the Go release the binary was built with.
	GoVersion string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: Devel, GoVersion: runtime.Version()}
	}
	return Parse(bi)
}

// Parse reads what bi, a binary's embedded build information (from
// debug.ReadBuildInfo, or debug/buildinfo.ReadFile for another binary),
// says.
func Parse(bi *debug.BuildInfo) Info {
	in := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = Devel
	}
	if in.GoVersion == "" {
		in.GoVersion = runtime.Version()
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is what --version prints for the program prog, one fact a line:
//
//	keyhold v1.4.0
//	commit 4f2a9c1e0d3b7a8f6e5d4c3b2a190817f6e5d4c3 (modified)
//	go1.26.0
//
// The commit line is there only when the build recorded a commit, and
// "(modified)" only when the tree had changes. docs/CLI.md documents the
// form; scripts may rely on the first word of each line.
func (in Info) String(prog string) string {
	var b strings.Builder
	b.WriteString(prog + " " + in.Version + "\n")
	if in.Revision != "" {
		b.WriteString("commit " + in.Revision)
		if in.Modified {
			b.WriteString(" (modified)")
		}
		b.WriteString("\n")
	}
	b.WriteString(in.GoVersion + "\n")
	return b.String()
}
