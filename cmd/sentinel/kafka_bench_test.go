package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/sentinel-project/sentinel/internal/kafkatest"
	"github.com/sentinel-project/sentinel/pkg/gen"
)

// The Kafka consuming benchmarks fill a four-partition topic with a
// generated, deterministic log of canonical lines (300 tokens over four
// days with attacks: 424,696 lines, 89 MB), each keyed by its token's
// fingerprint as a gateway would key them, then read the whole topic
// again and again, each time as a new consumer group from the beginning.
//
//	go test -run X -bench KafkaConsumeVsKcat -benchtime 3x -count 3 ./cmd/sentinel/
//
// The machine may be shared and noisy: compare the ratio, measured in the
// same iteration, rather than the lines per second alone.
const (
	benchSeed   = 1
	benchTokens = 300
	benchDays   = 4
)

// fillBenchTopic generates the benchmark log and writes it to the topic
// "requests" with a kafka-go Writer, hashing each line's token
// fingerprint to its partition. It returns the number of lines.
func fillBenchTopic(b *testing.B, kc *kafkatest.Cluster) int {
	b.Helper()
	var buf bytes.Buffer
	opts := gen.Options{Seed: benchSeed, Tokens: benchTokens, Duration: benchDays * 24 * time.Hour, Attacks: true}
	if _, err := gen.Generate(opts, &buf); err != nil {
		b.Fatal(err)
	}
	var msgs []kafkago.Message
	for line := range bytes.Lines(buf.Bytes()) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		var key []byte
		if bytes.Contains(line, []byte(`"token":"`)) {
			key = []byte(tokenOf(string(line)))
		}
		msgs = append(msgs, kafkago.Message{Key: key, Value: line})
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(kc.Addrs()...), Topic: "requests", Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchSize: 10000, BatchBytes: 768 << 10, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for chunk := range slices.Chunk(msgs, 50000) {
		if err := w.WriteMessages(ctx, chunk...); err != nil {
			msg := err.Error()
			b.Fatalf("filling the topic: %s", msg[:min(len(msg), 500)])
		}
	}
	return len(msgs)
}

// countLines counts the newlines written to it.
type countLines struct{ n atomic.Int64 }

func (c *countLines) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

// timeKcat reads the whole topic once with Debian's kcat, counting the
// lines it prints, and returns how long it took.
func timeKcat(b *testing.B, brokers string, total int) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out countLines
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "kcat", "-C", "-b", brokers, "-t", "requests", "-o", "beginning", "-e", "-q")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	d := time.Since(start)
	if n := out.n.Load(); n != int64(total) {
		b.Fatalf("kcat printed %d lines, want %d", n, total)
	}
	return d
}

// benchConfig writes a configuration reading the topic as a new group,
// with the default checkpoint interval and alerts to a file.
func benchConfig(b *testing.B, dir, brokers, group string) string {
	cfg, _ := kafkaConfigWith(b, dir, brokers, group, false)
	return cfg
}

// adminFromLog reads sentinel's JSON log and sends the admin listener's
// address on addr once it is logged.
// It also notes when the partitions are first assigned.
func adminFromLog(r io.Reader, addr chan<- string, logs *bytes.Buffer, assigned *atomic.Int64) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		logs.Write(sc.Bytes())
		logs.WriteByte('\n')
		var m struct{ Message, Addr string }
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch {
		case !sent && m.Message == "admin listener: /metrics, /healthz, /readyz":
			addr <- m.Addr
			sent = true
		case m.Message == "kafka: partitions assigned":
			assigned.CompareAndSwap(0, time.Now().UnixNano())
		}
	}
	io.Copy(io.Discard, r)
}

// fastMetrics sums sentinel_lines_read_total and reads
// sentinel_apply_seconds_total without promtool, which would take longer
// than the polling interval.
func fastMetrics(addr string) (lines, apply float64, err error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		var sum *float64
		switch {
		case strings.HasPrefix(line, "sentinel_lines_read_total{"):
			sum = &lines
		case strings.HasPrefix(line, "sentinel_apply_seconds_total "):
			sum = &apply
		default:
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err != nil {
			return 0, 0, fmt.Errorf("metrics line %q: %v", line, err)
		}
		*sum += v
	}
	return lines, apply, sc.Err()
}

// sample is the lines read as scraped at a time since the start.
type sample struct {
	at    time.Duration
	lines float64
}

// runTimes are one sentinel run's timings.
type runTimes struct {
	total time.Duration // start of the process to every line read
	// assigned is from the start to the partitions' assignment logged.
	assigned time.Duration
	// steady is the reading rate while lines were being read, in lines
	// per second: between the first scrape showing lines read and the
	// last one short of the total where there are two, else from the
	// first to the end. sentinel refreshes its metrics once a second, so
	// total is late by up to a second and steady is coarse.
	steady float64
	// apply is the engine's time parsing and applying the lines
	// (sentinel_apply_seconds_total), all on one goroutine.
	apply time.Duration
}

// pollUntilRead scrapes addr every 50 ms until total lines are read,
// timing from start.
func pollUntilRead(b *testing.B, addr string, start time.Time, total int, alive func() error) runTimes {
	b.Helper()
	var samples []sample
	var applied float64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := start.Add(5 * time.Minute)
	for {
		n, apply, err := fastMetrics(addr)
		at := time.Since(start)
		applied = apply
		if err == nil && (len(samples) == 0 || n != samples[len(samples)-1].lines) {
			samples = append(samples, sample{at, n})
		}
		if n >= float64(total) {
			break
		}
		if err := alive(); err != nil {
			b.Fatalf("sentinel stopped before reading every line: %v", err)
		}
		if time.Now().After(deadline) {
			b.Fatalf("sentinel read %v of %d lines in 5 minutes", n, total)
		}
		<-tick.C
	}
	rt := runTimes{total: samples[len(samples)-1].at, apply: time.Duration(applied * float64(time.Second))}
	var read []sample
	for _, s := range samples {
		if s.lines > 0 {
			read = append(read, s)
		}
	}
	first, last := read[0], read[len(read)-1]
	if len(read) >= 3 {
		last = read[len(read)-2]
	}
	if last.at > first.at {
		rt.steady = (last.lines - first.lines) / (last.at - first.at).Seconds()
	}
	return rt
}

var benchGroups atomic.Int64

// timeSentinel starts `sentinel run` as a new group with a new state
// directory and times it until it has read total lines; then it stops
// it, untimed.
func timeSentinel(b *testing.B, brokers string, total int) runTimes {
	b.Helper()
	dir := b.TempDir()
	group := fmt.Sprintf("bench-%d-%d", os.Getpid(), benchGroups.Add(1))
	cfg := benchConfig(b, dir, brokers, group)
	cmd := exec.Command(binary, "run", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	var logs bytes.Buffer
	addr := make(chan string, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	logDone := make(chan struct{})
	var assigned atomic.Int64
	go func() { adminFromLog(stderr, addr, &logs, &assigned); close(logDone) }()
	exited := make(chan error, 1)
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	}
	var admin string
	select {
	case admin = <-addr:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		b.Fatal("sentinel logged no admin address in 30s")
	}
	go func() { <-logDone; exited <- cmd.Wait() }()
	alive := func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("exited with %v:\n%s", err, logs.String())
		default:
			return nil
		}
	}
	rt := pollUntilRead(b, admin, start, total, alive)
	if at := assigned.Load(); at != 0 {
		rt.assigned = time.Unix(0, at).Sub(start)
	}
	stop()
	return rt
}

// BenchmarkKafkaConsumeVsKcat compares `sentinel run`, start-up
// included, reading the whole topic as a new group with kcat -C reading
// it in the same iteration.
func BenchmarkKafkaConsumeVsKcat(b *testing.B) {
	if _, err := exec.LookPath("kcat"); err != nil {
		b.Skip("kcat not installed")
	}
	kc := kafkatest.Start(b, kafkatest.Topic("requests", 4))
	brokers := strings.Join(kc.Addrs(), ",")
	total := fillBenchTopic(b, kc)
	var kcatRate, sentRate, steadyRate, ratio, assignedAt, applying []float64
	i := 0
	for b.Loop() {
		var kd time.Duration
		var rt runTimes
		// Alternate which goes first, so that neither always finds the
		// broker's pages warm.
		if i%2 == 0 {
			kd = timeKcat(b, brokers, total)
			rt = timeSentinel(b, brokers, total)
		} else {
			rt = timeSentinel(b, brokers, total)
			kd = timeKcat(b, brokers, total)
		}
		i++
		k, s := float64(total)/kd.Seconds(), float64(total)/rt.total.Seconds()
		kcatRate, sentRate, steadyRate, ratio = append(kcatRate, k), append(sentRate, s), append(steadyRate, rt.steady), append(ratio, s/k)
		assignedAt, applying = append(assignedAt, rt.assigned.Seconds()), append(applying, rt.apply.Seconds())
		b.Logf("iteration %d: %d lines; kcat %v (%.0f lines/s); sentinel %v (%.0f lines/s, %.0f lines/s while reading; partitions assigned after %v, engine applying %v); ratio %.3f",
			i, total, kd.Round(time.Millisecond), k, rt.total.Round(time.Millisecond), s, rt.steady,
			rt.assigned.Round(time.Millisecond), rt.apply.Round(time.Millisecond), s/k)
	}
	b.ReportMetric(median(kcatRate), "kcat-lines/s")
	b.ReportMetric(median(sentRate), "sentinel-lines/s")
	b.ReportMetric(median(steadyRate), "sentinel-steady-lines/s")
	b.ReportMetric(median(ratio), "sentinel/kcat")
	b.ReportMetric(median(assignedAt), "s-to-assigned")
	b.ReportMetric(median(applying), "s-applying")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkKafkaConsumeInProcess runs `sentinel run` in the test's
// process instead, so that -cpuprofile sees where its time goes (the
// in-process broker's included: tell them apart by package).
func BenchmarkKafkaConsumeInProcess(b *testing.B) {
	kc := kafkatest.Start(b, kafkatest.Topic("requests", 4))
	brokers := strings.Join(kc.Addrs(), ",")
	total := fillBenchTopic(b, kc)
	var rate, steady []float64
	for b.Loop() {
		dir := b.TempDir()
		cfg := benchConfig(b, dir, brokers, fmt.Sprintf("bench-%d-%d", os.Getpid(), benchGroups.Add(1)))
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		var logs bytes.Buffer
		addr := make(chan string, 1)
		logDone := make(chan struct{})
		var assigned atomic.Int64
		go func() { adminFromLog(pr, addr, &logs, &assigned); close(logDone) }()
		exited := make(chan error, 1)
		start := time.Now()
		go func() { exited <- runCmd(ctx, []string{"--config", cfg}, nil, io.Discard, pw); pw.Close() }()
		var admin string
		select {
		case admin = <-addr:
		case err := <-exited:
			b.Fatalf("sentinel stopped: %v", err)
		}
		rt := pollUntilRead(b, admin, start, total, func() error {
			select {
			case err := <-exited:
				exited <- err
				return fmt.Errorf("returned %v", err)
			default:
				return nil
			}
		})
		if at := assigned.Load(); at != 0 {
			rt.assigned = time.Unix(0, at).Sub(start)
		}
		cancel()
		if err := <-exited; err != nil {
			b.Fatalf("sentinel run: %v", err)
		}
		<-logDone
		rate, steady = append(rate, float64(total)/rt.total.Seconds()), append(steady, rt.steady)
		b.Logf("%d lines in %v (%.0f lines/s, %.0f lines/s while reading); partitions assigned after %v; engine applying %v",
			total, rt.total.Round(time.Millisecond), rate[len(rate)-1], rt.steady, rt.assigned.Round(time.Millisecond), rt.apply.Round(time.Millisecond))
	}
	b.ReportMetric(median(rate), "sentinel-lines/s")
	b.ReportMetric(median(steady), "sentinel-steady-lines/s")
}
