package agent

import (
	"errors"
	"strings"
	"testing"
)

const (
	sidAnn = "S-1-5-21-1004336348-1177238915-682003330-1001"
	sidBob = "S-1-5-21-1004336348-1177238915-682003330-1002"
)

// TestPipeSDDL checks the pipe's security descriptor: owned by the user,
// a protected DACL granting that user alone, and nothing but a well-formed
// SID let into the string (a crafted "SID" must not add an entry for
// Everyone).
func TestPipeSDDL(t *testing.T) {
	for _, tc := range []struct {
		sid, want string
	}{
		{sidAnn, "O:" + sidAnn + "D:P(A;;GA;;;" + sidAnn + ")"},
		{"S-1-5-18", "O:S-1-5-18D:P(A;;GA;;;S-1-5-18)"},
		{"S-1-12-1-1-2-3-4", "O:S-1-12-1-1-2-3-4D:P(A;;GA;;;S-1-12-1-1-2-3-4)"}, // an Azure AD account
	} {
		got, err := pipeSDDL(tc.sid)
		if err != nil || got != tc.want {
			t.Errorf("pipeSDDL(%q) = %q, %v; want %q", tc.sid, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"",
		"WD", // Everyone, as an SDDL alias
		"BA",
		"S-1",
		"S-1-",
		"S-1-5-",
		"S-1-5--18",
		"s-1-5-18",
		"S-2-5-18",
		"S-1-5-18)(A;;GA;;;WD",
		"S-1-5-18 ",
		"S-1-5-21-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
		"S-1-5-1234567890123456",
		"S-1-5-١٨", // Arabic-Indic digits
	} {
		if got, err := pipeSDDL(bad); err == nil {
			t.Errorf("pipeSDDL(%q) = %q, want an error", bad, got)
		}
	}
}

// TestAgentPipeName checks that each user and each vault has its own
// pipe, that a vault's path is the same whatever its letter case (as on
// Windows), and that the name is one the client accepts.
func TestAgentPipeName(t *testing.T) {
	a := agentPipeName(`C:\Users\Ann\AppData\Roaming\keyhold`, sidAnn)
	if want := `\\.\pipe\keyhold-agent-`; !strings.HasPrefix(a, want) {
		t.Fatalf("pipe name %q does not start with %q", a, want)
	}
	if err := checkPipeName(a); err != nil {
		t.Fatalf("the client refuses the agent's own pipe name: %v", err)
	}
	if b := agentPipeName(`c:\users\ann\appdata\roaming\KEYHOLD`, strings.ToLower(sidAnn)); b != a {
		t.Errorf("the same vault and user in another letter case got another pipe: %q, %q", a, b)
	}
	if b := agentPipeName(`C:\Users\Ann\AppData\Roaming\keyhold`, sidBob); b == a {
		t.Error("two users share the pipe of one vault")
	}
	if b := agentPipeName(`C:\Users\Ann\work-vault`, sidAnn); b == a {
		t.Error("two vaults share a pipe")
	}
	// A running agent is found by name: a new keyhold must name it as
	// the one that started it did. (Value from an independent
	// computation: SHA-256 of "keyhold agent pipe v1\0", the SID in
	// upper case, "\0", the path in lower case; first 16 bytes.)
	if want := `\\.\pipe\keyhold-agent-` + "5c86718a3b79a80741a3caa1cbc4ff8c"; a != want {
		t.Errorf("pipe name changed: %q, want %q", a, want)
	}
}

// TestCheckPipeName checks that the client dials nothing but a local
// keyhold agent pipe: not another machine's pipe, not another program's.
func TestCheckPipeName(t *testing.T) {
	good := `\\.\pipe\keyhold-agent-0123456789abcdef0123456789abcdef`
	if err := checkPipeName(good); err != nil {
		t.Errorf("checkPipeName(%q): %v", good, err)
	}
	for _, bad := range []string{
		"",
		`\\server\pipe\keyhold-agent-0123456789abcdef0123456789abcdef`,
		`\\?\pipe\keyhold-agent-0123456789abcdef0123456789abcdef`,
		`\\.\pipe\keyhold-agent-0123456789ABCDEF0123456789ABCDEF`,
		`\\.\pipe\keyhold-agent-0123456789abcdef0123456789abcde`,
		`\\.\pipe\keyhold-agent-0123456789abcdef0123456789abcdef0`,
		`\\.\pipe\keyhold-agent-0123456789abcdef0123456789abcdeg`,
		`\\.\pipe\keyhold-agent-0123456789abcdef\..\..\other-pipe`,
		`\\.\pipe\docker_engine`,
		`/run/user/1000/keyhold/0123456789abcdef.sock`,
	} {
		if err := checkPipeName(bad); !errors.Is(err, errBadPipeName) {
			t.Errorf("checkPipeName(%q) = %v, want errBadPipeName", bad, err)
		}
	}
}

// TestSameSID checks the comparison the client makes between the pipe's
// owner and its own user.
func TestSameSID(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{sidAnn, sidAnn, true},
		{sidAnn, strings.ToLower(sidAnn), true},
		{sidAnn, sidBob, false},
		{sidAnn, sidAnn + "0", false},
		{"S-1-5-18", "S-1-5-180", false},
		{"", "", false},
		{"WD", "WD", false},
	} {
		if got := sameSID(tc.a, tc.b); got != tc.want {
			t.Errorf("sameSID(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
