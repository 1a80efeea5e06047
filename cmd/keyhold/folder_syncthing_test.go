//go:build unix

package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyhold/keyhold/internal/testenv"
)

// Two real Syncthing instances on loopback, with global and local
// discovery, relays, NAT traversal, usage reports and upgrades off, each
// sharing one of the script's folder copies with the other. Syncthing
// writes a file under a temporary name and renames it when complete, and
// keeps a "sync-conflict" copy when two devices change one file — which
// keyhold's folder layout never makes it do.

// folderCondition answers [syncthing]: whether the syncthing binary is
// installed. Without it a script guarded by [!syncthing] skip is skipped,
// except under CI, where its absence is an error.
func folderCondition(cond string) (bool, error) {
	if cond != "syncthing" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	path, err := testenv.HaveProgram("syncthing", "syncthing")
	return path != "", err
}

// stpair DIR1 DIR2
// starts the two instances (stopped when the script ends).
func cmdSTPair(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: stpair DIR1 DIR2")
	}
	bin, err := exec.LookPath("syncthing")
	if err != nil {
		ts.Fatalf("syncthing is not installed (guard the script with [!syncthing] skip)")
	}
	dirs := []string{ts.MkAbs(args[0]), ts.MkAbs(args[1])}
	homes := make([]string, 2)
	ids := make([]string, 2)
	idRE := regexp.MustCompile(`<device id="([A-Z0-9-]{63})"`)
	for i := range 2 {
		homes[i] = ts.MkAbs(fmt.Sprintf("st-home-%d", i))
		ts.Check(os.MkdirAll(filepath.Join(dirs[i], ".stfolder"), 0o700))
		cmd := exec.Command(bin, "generate", "--home="+homes[i])
		cmd.Env = append(os.Environ(), "STNODEFAULTFOLDER=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			ts.Fatalf("syncthing generate: %v\n%s", err, out)
		}
		b, err := os.ReadFile(filepath.Join(homes[i], "config.xml"))
		ts.Check(err)
		m := idRE.FindSubmatch(b)
		if m == nil {
			ts.Fatalf("no device id in syncthing's config")
		}
		ids[i] = string(m[1])
	}
	ports := freePorts(ts, 4)
	for i := range 2 {
		j := 1 - i
		cfg := fmt.Sprintf(`<configuration version="36">
    <folder id="keyhold" label="keyhold" path="%s" type="sendreceive" rescanIntervalS="1" fsWatcherEnabled="true" fsWatcherDelayS="1" ignorePerms="false" autoNormalize="true">
        <filesystemType>basic</filesystemType>
        <device id="%s"></device>
        <device id="%s"></device>
        <minDiskFree unit="%%">0</minDiskFree>
    </folder>
    <device id="%s" name="self" compression="metadata"><address>dynamic</address></device>
    <device id="%s" name="other" compression="metadata"><address>tcp://127.0.0.1:%d</address></device>
    <gui enabled="true" tls="false"><address>127.0.0.1:%d</address><apikey>keyhold-test-key</apikey></gui>
    <options>
        <listenAddress>tcp://127.0.0.1:%d</listenAddress>
        <globalAnnounceEnabled>false</globalAnnounceEnabled>
        <localAnnounceEnabled>false</localAnnounceEnabled>
        <relaysEnabled>false</relaysEnabled>
        <natEnabled>false</natEnabled>
        <startBrowser>false</startBrowser>
        <urAccepted>-1</urAccepted>
        <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
        <crashReportingEnabled>false</crashReportingEnabled>
        <reconnectionIntervalS>1</reconnectionIntervalS>
        <minHomeDiskFree unit="%%">0</minHomeDiskFree>
    </options>
</configuration>
`, dirs[i], ids[i], ids[j], ids[i], ids[j], ports[2*j], ports[2*i+1], ports[2*i])
		ts.Check(os.WriteFile(filepath.Join(homes[i], "config.xml"), []byte(cfg), 0o600))
		cmd := exec.Command(bin, "serve", "--home="+homes[i], "--no-browser", "--no-restart", "--no-upgrade", "--no-default-folder",
			"--logfile="+filepath.Join(homes[i], "log.txt"))
		cmd.Env = append(os.Environ(), "STNORESTART=1", "STNOUPGRADE=1", "STNODEFAULTFOLDER=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		ts.Check(cmd.Start())
		ts.Defer(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		})
		ts.Setenv(fmt.Sprintf("ST%d_GUI", i), fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]))
	}
}

func freePorts(ts *testscript.TestScript, n int) []int {
	var out []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// stwait DIR1 DIR2 TIMEOUT
// asks both instances to rescan, then waits until the two folders hold
// the same keyhold files with the same content.
func cmdSTWait(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: stwait DIR1 DIR2 TIMEOUT")
	}
	d, err := time.ParseDuration(args[2])
	ts.Check(err)
	deadline := time.Now().Add(d)
	a, b := ts.MkAbs(args[0]), ts.MkAbs(args[1])
	for {
		for _, v := range []string{"ST0_GUI", "ST1_GUI"} {
			req, _ := http.NewRequest("POST", "http://"+ts.Getenv(v)+"/rest/db/scan?folder=keyhold", nil)
			req.Header.Set("X-API-Key", "keyhold-test-key")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		la, lb := folderState(a), folderState(b)
		if la != "" && la == lb {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("the folders still differ after %s:\n%s\n---\n%s", d, la, lb)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// folderState lists the keyhold files of a folder with their content's
// hash, skipping temporary files.
func folderState(dir string) string {
	var lines []string
	filepath.WalkDir(filepath.Join(dir, "keyhold"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		lines = append(lines, fmt.Sprintf("%s %x", rel, sha256.Sum256(b)))
		return nil
	})
	sort.Strings(lines)
	return string(bytes.Join(func() [][]byte {
		var out [][]byte
		for _, l := range lines {
			out = append(out, []byte(l))
		}
		return out
	}(), []byte("\n")))
}
