package zxcvbn

import (
	"compress/gzip"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZPhases(t *testing.T) {
	c := cpuNow()
	zr, _ := gzip.NewReader(strings.NewReader(frequencyLists))
	var b strings.Builder
	b.Grow(800000)
	io.Copy(&b, zr)
	c1 := cpuNow()
	decodeDicts(frequencyLists)
	c2 := cpuNow()
	decodeDicts(frequencyLists)
	c3 := cpuNow()
	t.Logf("gunzip %v, full decode first %v, second %v", c1-c, c2-c1, c3-c2)
}
