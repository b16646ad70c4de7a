package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodCeiling is the limits.memory of TestFloodStaysUnderCeiling, and
// what the process's resident memory must stay under.
const floodCeiling = 256 << 20

// Two hours of ordinary traffic, then 2 million lines of random tokens
// from random addresses in ten minutes, with limits.memory at 256MiB and
// 20,000 tokens and addresses at most, or as many as sentinel sizes to fit
// in the memory: the process's peak resident memory (VmHWM, sampled)
// stays under the ceiling, and the flood is reported, once per kind. The
// daemon (run, checkpointing every second) is held to it as replay is.
func TestFloodStaysUnderCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 2 million lines, three times")
	}
	const memory = "log: {level: warn}\nlimits:\n  memory: 256MiB\n"
	for _, tc := range []struct{ name, conf, cmd string }{
		{"replay, small limits", memory + "  max_tokens: 20000\n  max_addresses: 20000\n", "replay"},
		{"replay, limits sized from memory", memory, "replay"},
		{"run, limits sized from memory", memory + "checkpoint_interval: 1s\nadmin: {listen: 127.0.0.1:0}\n", "run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			floodUnderCeiling(t, tc.cmd, tc.conf)
		})
	}
}

func floodUnderCeiling(t *testing.T, command, conf string) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sentinel.yaml")
	conf += "state_dir: " + filepath.Join(dir, "state") + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, command, "--config", cfg, "-")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	genErr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(stdin, 1<<20)
		err := writeFlood(w, 1, 2_000_000)
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		stdin.Close()
		genErr <- err
	}()
	waitErr := cmd.Wait()
	hwm := peak()
	if err := <-genErr; err != nil {
		t.Fatalf("writing the flood: %v; stderr:\n%s", err, errb.String())
	}
	if waitErr != nil {
		t.Fatalf("sentinel replay: %v; stderr:\n%s", waitErr, errb.String())
	}
	t.Logf("peak resident memory %.1f MiB, ceiling %d MiB, in %v; %s",
		float64(hwm)/(1<<20), floodCeiling>>20, time.Since(began).Round(time.Second), strings.TrimSpace(errb.String()))
	if hwm == 0 {
		t.Fatal("no resident memory sampled")
	}
	if hwm >= floodCeiling {
		t.Errorf("peak resident memory %d MiB, over the configured ceiling of %d MiB", hwm>>20, floodCeiling>>20)
	}
	floods := map[string]int{}
	for _, a := range parseAlerts(t, out.String()) {
		if a.Entity == "population" && a.Detector == "flood" {
			floods[a.Feature]++
			if a.Observed < 100_000 {
				t.Errorf("flood alert %+v: want over 100,000 new in a minute", a)
			}
		}
	}
	if floods["new_tokens"] != 1 || floods["new_ips"] != 1 {
		t.Errorf("flood alerts %v, want one for new_tokens and one for new_ips", floods)
	}
}

// writeFlood writes, in canonical format, two hours of 200 ordinary
// tokens each making a request a minute from its own address, then ten
// minutes in which they go on and n random tokens from random addresses
// arrive, then ten ordinary minutes. The same seed writes the same
// lines.
func writeFlood(w io.Writer, seed uint64, n int) error {
	const tenants, before, flood, after = 200, 120, 10, 10
	rng := rand.New(rand.NewPCG(seed, seed))
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var b []byte
	line := func(at time.Time, tok, ip string, msgs int) error {
		b = b[:0]
		b = append(b, `{"ts":"`...)
		b = at.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","token":"`...)
		b = append(b, tok...)
		b = append(b, `","ip":"`...)
		b = append(b, ip...)
		b = append(b, `","method":"GET","path":"/messages","status":200,"bytes":900,"messages":`...)
		b = strconv.AppendInt(b, int64(msgs), 10)
		b = append(b, "}\n"...)
		_, err := w.Write(b)
		return err
	}
	perMinute := n / flood
	for m := range before + flood + after {
		at := t0.Add(time.Duration(m) * time.Minute)
		spam := 0
		if m >= before && m < before+flood {
			spam = perMinute
		}
		// The flood's lines, with the tenants' spread among them.
		every := spam/tenants + 1
		for i := range spam + tenants {
			ts := at.Add(time.Duration(i) * time.Minute / time.Duration(spam+tenants))
			var err error
			if i%every == 0 && i/every < tenants {
				k := i / every
				err = line(ts, fmt.Sprintf("tenant-key-%04d", k), fmt.Sprintf("10.0.%d.%d", k/256, k%256), 5+rng.IntN(10))
			} else if spam > 0 {
				a := rng.Uint32()
				err = line(ts, strconv.FormatUint(rng.Uint64(), 36),
					fmt.Sprintf("%d.%d.%d.%d", 100+a>>24%100, a>>16&255, a>>8&255, a&255), 1)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// watchPeakRSS samples the process's VmHWM (peak resident set) every
// 20ms until the returned function is called, which returns the largest
// value read, in bytes. The kernel keeps the peak itself, so sampling
// misses nothing but what happens after the last sample.
func watchPeakRSS(pid int) func() int64 {
	var (
		mu   sync.Mutex
		peak int64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	path := fmt.Sprintf("/proc/%d/status", pid)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := readKB(path, "VmHWM:"); v > 0 {
				mu.Lock()
				peak = max(peak, v<<10)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// readKB reads a "Name:   123 kB" field of a /proc status file, 0 when
// it cannot.
func readKB(path, field string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, field); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	return 0
}
