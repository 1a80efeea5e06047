package keys

import (
	"testing"
	"time"
)

// TestCalibrateStaysWithinBrowserReach: however fast the device, the
// memory calibration picks stays at or below what a browser derives in
// about 2 s (CalibrateMaxMiB), so every new account opens in the web
// vault. An hour's limit would let an uncapped calibration climb to 1 GiB
// on any machine.
func TestCalibrateStaysWithinBrowserReach(t *testing.T) {
	p := Calibrate(time.Hour)
	if p.MemoryKiB != CalibrateMaxMiB*1024 {
		t.Fatalf("Calibrate(1h) picked %v; want the cap, %d MiB", p, CalibrateMaxMiB)
	}
	if p.Time != DefaultTime || p.Threads != DefaultThreads {
		t.Fatalf("Calibrate(1h) picked %v; want t=%d p=%d", p, DefaultTime, DefaultThreads)
	}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestCalibrateFloor: a limit no derivation meets keeps the floor.
func TestCalibrateFloor(t *testing.T) {
	if p := Calibrate(time.Nanosecond); p.MemoryKiB != MinDefaultMiB*1024 {
		t.Fatalf("Calibrate(1ns) picked %v; want the %d MiB floor", p, MinDefaultMiB)
	}
}
