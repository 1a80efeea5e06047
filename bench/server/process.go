//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyhold/keyhold/internal/pgtest"
)

// The server process

type serverProc struct {
	cmd    *exec.Cmd
	pid    int
	url    string
	exited chan struct{}
}

var listenRE = regexp.MustCompile(`^listening on (http://\S+)$`)

// startServer runs keyhold-server serve and waits for its "listening on"
// line. Its stderr (one JSON line per request) goes to logPath.
func startServer(bin string, args []string, logPath string) (*serverProc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--insecure-http"}, args...)...)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KEYHOLD_SERVER_DB=") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	cmd.Stdout = logFile
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	// The server dies with this process, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread() // Pdeathsig follows the thread that started the child
	err = cmd.Start()
	if err != nil {
		runtime.UnlockOSThread()
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &serverProc{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stderr)
		for {
			line, err := r.ReadString('\n')
			if m := listenRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			logFile.WriteString(line)
			if err != nil {
				break
			}
		}
		cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	select {
	case p.url = <-found:
		return p, nil
	case <-p.exited:
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("keyhold-server exited before listening; see %s", logPath)
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, fmt.Errorf("keyhold-server printed no listening line within 60 s; see %s", logPath)
	}
}

func (p *serverProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// Measuring processes

// rssKiB reads VmRSS from /proc/PID/status.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// settledRSS waits until the process's RSS stops moving (the runtime
// returns freed memory to the kernel in the background) and returns it.
func settledRSS(pid int) int64 {
	prev := rssKiB(pid)
	for range 20 {
		time.Sleep(time.Second)
		cur := rssKiB(pid)
		if d := cur - prev; d < 64 && d > -64 {
			return cur
		}
		prev = cur
	}
	return prev
}

// clockTick is USER_HZ, 100 on every Linux this runs on.
const clockTick = 100

// procStat returns the parent pid and the CPU seconds (user + system) of
// a process.
func procStat(pid int) (ppid int, cpu float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// The command name may hold spaces; the fields after it do not.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return ppid, (ut + st) / clockTick, true
}

func procCPU(pid int) float64 {
	_, c, _ := procStat(pid)
	return c
}

// pgCPU sums the CPU time of the cluster's postmaster and its children
// (backends, WAL writer, checkpointer, …).
func pgCPU(c *pgtest.Cluster) float64 {
	b, err := os.ReadFile(filepath.Join(c.Dir(), "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return 0
	}
	total := procCPU(pm)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, cpu, ok := procStat(pid); ok && ppid == pm {
			total += cpu
		}
	}
	return total
}

func selfCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// metrics reads the server's Prometheus metrics without labels.
func metrics(url string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") || strings.Contains(f[0], "{") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
