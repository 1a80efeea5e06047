package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestParseAndString(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want Info
		out  string
	}{
		{
			name: "go test or go run",
			bi:   debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/keyhold/keyhold", Version: "(devel)"}},
			want: Info{Version: Devel, GoVersion: "go1.26.0"},
			out:  "keyhold (devel)\ngo1.26.0\n",
		},
		{
			name: "no main module version",
			bi:   debug.BuildInfo{GoVersion: "go1.26.0"},
			want: Info{Version: Devel, GoVersion: "go1.26.0"},
			out:  "keyhold (devel)\ngo1.26.0\n",
		},
		{
			name: "checkout with changes",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20261206172440-4f2a9c1e0d3b+dirty"},
				Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "4f2a9c1e0d3b7a8f6e5d4c3b2a190817f6e5d4c3"},
					{Key: "vcs.time", Value: "2026-12-06T17:24:40Z"}, {Key: "vcs.modified", Value: "true"}}},
			want: Info{Version: "v0.0.0-20261206172440-4f2a9c1e0d3b+dirty", Revision: "4f2a9c1e0d3b7a8f6e5d4c3b2a190817f6e5d4c3", Modified: true, GoVersion: "go1.26.0"},
			out:  "keyhold v0.0.0-20261206172440-4f2a9c1e0d3b+dirty\ncommit 4f2a9c1e0d3b7a8f6e5d4c3b2a190817f6e5d4c3 (modified)\ngo1.26.0\n",
		},
		{
			name: "release",
			bi: debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "false"}}},
			want: Info{Version: "v1.4.0", Revision: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.1"},
			out:  "keyhold v1.4.0\ncommit 0123456789abcdef0123456789abcdef01234567\ngo1.26.1\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse(&tc.bi)
			if got != tc.want {
				t.Errorf("Parse = %+v, want %+v", got, tc.want)
			}
			if s := got.String("keyhold"); s != tc.out {
				t.Errorf("String = %q, want %q", s, tc.out)
			}
		})
	}
}

// A test binary has build information: its Go version, and (devel).
func TestReadTestBinary(t *testing.T) {
	in := Read()
	if in.GoVersion != runtime.Version() {
		t.Errorf("GoVersion %q, want %q", in.GoVersion, runtime.Version())
	}
	if in.Version == "" {
		t.Error("no version")
	}
}
