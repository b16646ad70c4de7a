package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/sentinel-project/sentinel/internal/kafkatest"
)

// startKafka runs an in-process Kafka cluster on loopback, speaking the
// real wire protocol, with a topic "requests" of the partitions given.
func startKafka(t *testing.T, partitions int, opts ...kafkatest.Option) (*kafkatest.Cluster, string) {
	t.Helper()
	c := kafkatest.Start(t, append(opts, kafkatest.Topic("requests", partitions))...)
	return c, strings.Join(c.Addrs(), ",")
}

// kcatProduce writes lines to the topic with Debian's kcat, an
// independent client, each keyed by its token's fingerprint, in time
// order.
func kcatProduce(t *testing.T, c *kafkatest.Cluster, lines []trafficLine) {
	t.Helper()
	slices.SortStableFunc(lines, func(a, b trafficLine) int { return a.at.Compare(b.at) })
	recs := make([]kafkatest.KV, len(lines))
	for i, l := range lines {
		recs[i] = kafkatest.KV{Key: tokenOf(l.text), Value: strings.TrimSuffix(l.text, "\n")}
	}
	c.Produce(t, "requests", recs)
}

// tokenOf returns the fingerprint of a canonical line's token, its
// partitioning key.
func tokenOf(line string) string {
	i := strings.Index(line, `"token":"`) + len(`"token":"`)
	return fingerprintOf(line[i : i+strings.IndexByte(line[i:], '"')])
}

// kafkaConfig writes a configuration reading the topic in group, with
// alerts to a file in dir. The group's timings and checkpoints are made
// fast for tests, or left at their defaults for benchmarks.
func kafkaConfig(tb testing.TB, dir, brokers, group string) (cfg, alerts string) {
	return kafkaConfigWith(tb, dir, brokers, group, true)
}

func kafkaConfigWith(tb testing.TB, dir, brokers, group string, fast bool) (cfg, alerts string) {
	tb.Helper()
	alerts = filepath.Join(dir, "alerts.jsonl")
	cfg = filepath.Join(dir, "sentinel.yaml")
	top, timing := "", ""
	if fast {
		top = "checkpoint_interval: 1s\n"
		timing = "      session_timeout: 2s\n      rebalance_timeout: 20s\n"
	}
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`state_dir: %s
%sadmin:
  listen: 127.0.0.1:0
log:
  format: json
sources:
  - kafka:
      brokers: [%s]
      topics: [requests]
      group: %s
%s    format: canonical
alerts:
  sinks:
    - type: file
      path: %s
`, filepath.Join(dir, "state"), top, brokers, group, timing, alerts)), 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg, alerts
}

// instance is a sentinel run in a consumer group: the process, its admin
// address, its alert file and its directory.
type instance struct {
	*daemon
	addr, alerts, dir string
}

// startInstance starts sentinel run in group with a configuration of
// its own (see kafkaConfig), and waits for its admin listener.
func startInstance(t *testing.T, brokers, group string) *instance {
	t.Helper()
	dir := t.TempDir()
	cfg, alerts := kafkaConfig(t, dir, brokers, group)
	d := startDaemon(t, dir, nil, "run", "--config", cfg)
	return &instance{daemon: d, addr: adminAddr(t, d), alerts: alerts, dir: dir}
}

// linesRead sums sentinel_lines_read_total over the partitions.
func linesRead(t testing.TB, addr string) float64 {
	f := scrape(t, addr)["sentinel_lines_read_total"]
	if f == nil {
		return 0
	}
	n := 0.0
	for _, m := range f.Metric {
		n += m.Counter.GetValue()
	}
	return n
}

// adminAddr waits for the daemon's admin address; the daemon's log is
// shown if the test fails.
func adminAddr(t *testing.T, d *daemon) string {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s:\n%s", strings.Join(d.cmd.Args, " "), d.allLogs())
		}
	})
	return d.waitLog(t, "admin listener: /metrics, /healthz, /readyz")["addr"].(string)
}

func TestKafkaLinesProducedByKcatRaiseTheAlert(t *testing.T) {
	kc, brokers := startKafka(t, 4)
	const leaked = "tok_live_kafkaLEAKEDtoken0001"
	start := time.Now().Add(-125 * time.Minute)
	lines := slices.Concat(steadyLines(leaked, "203.0.113.9", start, 120), burstLines(leaked, "203.0.113.9", start.Add(120*time.Minute)))
	for i := range 3 {
		lines = append(lines, steadyLines(fmt.Sprintf("tok_live_quietTOKEN%04d", i), fmt.Sprintf("198.51.100.%d", i+1), start, 125)...)
	}
	kcatProduce(t, kc, lines)

	in := startInstance(t, brokers, "sentinel")
	d, addr, alerts, dir := in.daemon, in.addr, in.alerts, in.dir
	eventually(t, 60*time.Second, "the leaked token's alert", func() bool {
		data, _ := os.ReadFile(alerts)
		return strings.Contains(string(data), fingerprintOf(leaked))
	})
	eventually(t, 30*time.Second, "every line read", func() bool { return linesRead(t, addr) == float64(len(lines)) })
	// Ready, to systemd and to a load balancer, once the group gave it
	// its partitions.
	d.await(t, "READY=1")
	if code := httpStatus(t, "http://"+addr+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d with its partitions assigned, want 200", code)
	}
	families := scrape(t, addr)
	for p := range 4 {
		if lag := value(families, "sentinel_kafka_lag_messages", fmt.Sprintf("partition=requests/%d", p)); lag != 0 {
			t.Errorf("partition %d: lag %v once every line is read, want 0", p, lag)
		}
	}
	d.cmd.Process.Signal(os.Interrupt)
	d.cmd.Wait()
	data, _ := os.ReadFile(alerts)
	for _, a := range parseAlerts(t, string(data)) {
		if a.Entity == "token" && a.Key != fingerprintOf(leaked) {
			t.Errorf("alert on a steady token: %+v", a)
		}
	}
	// Each alert is in the evidence log with the lines it was judged
	// on, redacted, and the chain verifies.
	evlog, _ := os.ReadFile(filepath.Join(dir, "state", "evidence.log"))
	if !strings.Contains(string(evlog), fingerprintOf(leaked)) || !strings.Contains(string(evlog), `\"messages\":500`) {
		t.Errorf("the evidence log lacks the leaked token's alert with its lines")
	}
	if out, errOut, code := sentinel(t, "", "verify", "--state-dir", filepath.Join(dir, "state")); code != 0 {
		t.Errorf("sentinel verify exited %d: %s%s", code, out, errOut)
	}
	if logs := d.allLogs() + string(data) + string(evlog); strings.Contains(logs, "tok_live_") {
		t.Error("a raw token appears in the log, an alert or the evidence")
	}
}

// TestKafkaTakeoverCarriesBaselinesAndLosesNothing runs two instances in
// one group over four partitions. Once both have learned their tokens,
// one stops; the other takes its partitions over with their baselines,
// and every token's burst is then alerted once, with the baseline the
// stopped instance learned as its expected value.
func TestKafkaTakeoverCarriesBaselinesAndLosesNothing(t *testing.T) {
	kc, brokers := startKafka(t, 4)
	start := time.Now().Add(-125 * time.Minute)
	var learn, then []trafficLine
	var tokens []string
	for i := range 8 {
		tok, ip := fmt.Sprintf("tok_live_takeoverTOKEN%04d", i), fmt.Sprintf("198.51.100.%d", i+1)
		tokens = append(tokens, tok)
		learn = append(learn, steadyLines(tok, ip, start, 100)...)
		then = append(then, steadyLines(tok, ip, start.Add(100*time.Minute), 20)...)
		then = append(then, burstLines(tok, ip, start.Add(120*time.Minute))...)
	}
	kcatProduce(t, kc, learn)

	a, b := startInstance(t, brokers, "sentinel"), startInstance(t, brokers, "sentinel")
	addrA, addrB, alertsA, alertsB := a.addr, b.addr, a.alerts, b.alerts
	owned := func(addr string) int {
		f := scrape(t, addr)["sentinel_kafka_lag_messages"]
		if f == nil {
			return 0
		}
		return len(f.Metric)
	}
	eventually(t, 60*time.Second, "the two instances to split the partitions and read every line", func() bool {
		return owned(addrA) == 2 && owned(addrB) == 2 && linesRead(t, addrA)+linesRead(t, addrB) == float64(len(learn))
	})
	readByA := linesRead(t, addrA)
	generations := strings.Count(b.allLogs(), "kafka: partitions assigned")
	a.cmd.Process.Signal(os.Interrupt)
	if err := a.cmd.Wait(); err != nil {
		t.Fatalf("instance A stopped with %v:\n%s", err, a.allLogs())
	}
	eventually(t, 60*time.Second, "instance B to own every partition", func() bool { return owned(addrB) == 4 })
	// A saves, then leaves: the very next generation gives B everything,
	// with no generation between in which A still holds partitions.
	if n := strings.Count(b.allLogs(), "kafka: partitions assigned") - generations; n != 1 {
		t.Errorf("B went through %d generations to take A's partitions over, want 1:\n%s", n, b.allLogs())
	}

	kcatProduce(t, kc, then)
	eventually(t, 60*time.Second, "every line read", func() bool {
		return readByA+linesRead(t, addrB) >= float64(len(learn)+len(then))
	})
	eventually(t, 60*time.Second, "every token's burst alerted", func() bool {
		data, _ := os.ReadFile(alertsB)
		n := 0
		for _, tok := range tokens {
			if strings.Contains(string(data), fingerprintOf(tok)) {
				n++
			}
		}
		return n == len(tokens)
	})
	readByB := linesRead(t, addrB)
	b.cmd.Process.Signal(os.Interrupt)
	b.cmd.Wait()

	if got := readByA + readByB; got != float64(len(learn)+len(then)) {
		t.Errorf("lines read by both: %v, want %d: none lost, none read twice", got, len(learn)+len(then))
	}
	dataA, _ := os.ReadFile(alertsA)
	dataB, _ := os.ReadFile(alertsB)
	if len(dataA) > 0 {
		t.Errorf("instance A alerted while the traffic was steady:\n%s", dataA)
	}
	ids := map[string]int{}
	learned := map[string]bool{}
	for _, al := range parseAlerts(t, string(dataB)) {
		ids[al.ID]++
		t.Logf("%+v", al)
		if al.Entity == "token" && al.Detector == "ewma" && al.Expected >= 5 && al.Expected <= 30 {
			learned[al.Key] = true
		}
	}
	for _, tok := range tokens {
		if !learned[fingerprintOf(tok)] {
			t.Errorf("%s: no alert against its learned baseline of ten messages a minute: its state did not move with its partition", fingerprintOf(tok))
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("alert %s raised %d times", id, n)
		}
	}
}

// TestShipThenConsumeRaisesTheAlert goes from a gateway's log file to
// alerts through Kafka. sentinel ship at the edge tails the file and
// produces canonical records keyed by fingerprint to one topic and by
// address to another; one sentinel run group judges tokens from the
// first, another addresses from the second, each in the default format.
// The raw token never travels.
func TestShipThenConsumeRaisesTheAlert(t *testing.T) {
	kc := kafkatest.Start(t, kafkatest.Topic("requests", 4), kafkatest.Topic("addresses", 4))
	brokers := strings.Join(kc.Addrs(), ",")
	dir := t.TempDir()
	const leaked = "tok_live_shippedLEAKtoken0001"
	logPath := filepath.Join(dir, "access.log")
	f, _ := os.Create(logPath)
	steadyThenBurst(f, leaked, "203.0.113.9", time.Now().Add(-121*time.Minute))
	f.Close()

	shipper := startDaemon(t, dir, nil, "ship", "--to", "kafka://"+brokers+"/requests", "--address-topic", "addresses",
		"--state-dir", filepath.Join(dir, "ship"), logPath)
	run := func(url string) (*daemon, string) {
		dir := t.TempDir()
		alerts := filepath.Join(dir, "alerts.jsonl")
		cfg := filepath.Join(dir, "run.yaml")
		os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir: %s\nadmin:\n  listen: 127.0.0.1:0\nlog:\n  format: json\nalerts:\n  sinks:\n    - type: file\n      path: %s\n",
			filepath.Join(dir, "state"), alerts)), 0o600)
		return startDaemon(t, dir, nil, "run", "--config", cfg, url), alerts
	}
	tokens, tokenAlerts := run("kafka://" + brokers + "/requests?group=tokens&judge=token")
	addrs, addrAlerts := run("kafka://" + brokers + "/addresses?group=addresses&judge=ip")
	eventually(t, 60*time.Second, "the leaked token's alert", func() bool { return fileHas(tokenAlerts, fingerprintOf(leaked)) })
	eventually(t, 60*time.Second, "its address's alert", func() bool { return fileHas(addrAlerts, "203.0.113.9") })
	for _, d := range []*daemon{tokens, addrs, shipper} {
		d.cmd.Process.Signal(os.Interrupt)
		d.cmd.Wait()
	}

	tokenData, _ := os.ReadFile(tokenAlerts)
	addrData, _ := os.ReadFile(addrAlerts)
	for _, a := range parseAlerts(t, string(tokenData)) {
		if a.Entity != "token" {
			t.Errorf("the group judging tokens alerted on %s %s", a.Entity, a.Key)
		}
	}
	for _, a := range parseAlerts(t, string(addrData)) {
		if a.Entity != "ip" {
			t.Errorf("the group judging addresses alerted on %s %s", a.Entity, a.Key)
		}
	}
	var topics strings.Builder
	for _, r := range kafkatest.Consume(t, kc.Addrs(), "requests") {
		if r.Key != fingerprintOf(leaked) {
			t.Errorf("record keyed %q, want the token's fingerprint", r.Key)
		}
		topics.WriteString(r.Value)
	}
	for _, r := range kafkatest.Consume(t, kc.Addrs(), "addresses") {
		if r.Key != "203.0.113.9" {
			t.Errorf("address record keyed %q, want the address", r.Key)
		}
		topics.WriteString(r.Value)
	}
	all := topics.String() + tokens.allLogs() + addrs.allLogs() + shipper.allLogs() + string(tokenData) + string(addrData)
	if strings.Contains(all, leaked) {
		t.Error("the raw token travelled: it is in a topic, a log or an alert")
	}
}

// leakScenario is the lines of one token that bursts after two hours of
// ten messages a minute, and of three steady ones, split at the burst:
// before holds the learning, after the burst and what follows.
func leakScenario(leaked string) (before, after []trafficLine) {
	start := time.Now().Add(-125 * time.Minute)
	before = steadyLines(leaked, "203.0.113.9", start, 120)
	after = burstLines(leaked, "203.0.113.9", start.Add(120*time.Minute))
	for i := range 3 {
		tok, ip := fmt.Sprintf("tok_live_quietTOKEN%04d", i), fmt.Sprintf("198.51.100.%d", i+1)
		before = append(before, steadyLines(tok, ip, start, 120)...)
		after = append(after, steadyLines(tok, ip, start.Add(120*time.Minute), 5)...)
	}
	return before, after
}

// countAlerts returns how often each alert id is in the file.
func countAlerts(t *testing.T, path string) map[string]int {
	t.Helper()
	data, _ := os.ReadFile(path)
	ids := map[string]int{}
	for _, a := range parseAlerts(t, string(data)) {
		ids[a.ID]++
	}
	return ids
}

func fileHas(path, s string) bool {
	data, _ := os.ReadFile(path)
	return strings.Contains(string(data), s)
}

// TestKafkaBrokerRestartAndCutConnectionsUnderARunningConsumer restarts
// the broker under a running sentinel, then cuts every connection for a
// while: it reads on each time, loses no line and reads none twice.
func TestKafkaBrokerRestartAndCutConnectionsUnderARunningConsumer(t *testing.T) {
	kc, brokers := startKafka(t, 4, kafkatest.Persist())
	const leaked = "tok_live_restartLEAKtoken001"
	before, after := leakScenario(leaked)
	half := len(before) / 2
	slices.SortStableFunc(before, func(a, b trafficLine) int { return a.at.Compare(b.at) })
	kcatProduce(t, kc, before[:half])

	in := startInstance(t, brokers, "sentinel")
	d, addr, alerts := in.daemon, in.addr, in.alerts
	eventually(t, 30*time.Second, "the first half read", func() bool { return linesRead(t, addr) == float64(half) })

	kc.Restart(t)
	kcatProduce(t, kc, before[half:])
	eventually(t, 60*time.Second, "the lines written after the restart read", func() bool {
		return linesRead(t, addr) == float64(len(before))
	})

	restore := kc.DropConnections()
	eventually(t, 30*time.Second, "sentinel's requests to meet cut connections", func() bool { return kc.Dropped() >= 10 })
	restore()
	kcatProduce(t, kc, after)
	eventually(t, 60*time.Second, "the burst alerted after the connections came back", func() bool { return fileHas(alerts, fingerprintOf(leaked)) })
	eventually(t, 30*time.Second, "every line read", func() bool { return linesRead(t, addr) >= float64(len(before)+len(after)) })
	if n := linesRead(t, addr); n != float64(len(before)+len(after)) {
		t.Errorf("read %v lines, want %d: none lost, none read twice", n, len(before)+len(after))
	}
	d.cmd.Process.Signal(os.Interrupt)
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("sentinel exited with %v", err)
	}
}

// TestKafkaKillBetweenApplyAndCommit kills sentinel after it applied
// every line but committed only up to the alert: the restart reads again
// exactly the lines after what was committed, and the alert is not
// raised twice.
func TestKafkaKillBetweenApplyAndCommit(t *testing.T) {
	kc, brokers := startKafka(t, 4)
	const leaked = "tok_live_killedLEAKtoken0001"
	before, after := leakScenario(leaked)
	kcatProduce(t, kc, slices.Concat(before, after))
	// More of the quiet tokens' minutes, written once the alert's save
	// is done.
	var more []trafficLine
	for i := range 3 {
		more = append(more, steadyLines(fmt.Sprintf("tok_live_quietTOKEN%04d", i), fmt.Sprintf("198.51.100.%d", i+1), time.Now().Add(-4*time.Minute), 3)...)
	}
	lines := slices.Concat(before, after, more)

	dir := t.TempDir()
	cfg, alerts := kafkaConfig(t, dir, brokers, "sentinel")
	// Saves only when an alert asks for one: the lines after it are
	// applied and not committed when the kill comes.
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "checkpoint_interval: 1s", "checkpoint_interval: 1h", 1)), 0o600)
	d := startDaemon(t, dir, nil, "run", "--config", cfg)
	addr := adminAddr(t, d)
	eventually(t, 60*time.Second, "the alert", func() bool {
		return fileHas(alerts, fingerprintOf(leaked)) && linesRead(t, addr) == float64(len(before)+len(after))
	})
	eventually(t, 30*time.Second, "the alert's save committed", func() bool { return committedOffsets(t, kc, "sentinel") > 0 })
	kcatProduce(t, kc, more)
	eventually(t, 60*time.Second, "every line applied", func() bool { return linesRead(t, addr) == float64(len(lines)) })
	d.cmd.Process.Signal(syscall.SIGKILL)
	d.cmd.Wait()
	committed := committedOffsets(t, kc, "sentinel")
	if committed >= int64(len(lines)) {
		t.Fatalf("committed %d of %d lines before the kill: the test needs lines applied and not committed", committed, len(lines))
	}

	d = startDaemon(t, t.TempDir(), nil, "run", "--config", cfg)
	addr = adminAddr(t, d)
	want := float64(int64(len(lines)) - committed)
	eventually(t, 60*time.Second, "the uncommitted lines read again", func() bool { return linesRead(t, addr) >= want })
	if n := linesRead(t, addr); n != want {
		t.Errorf("the restart read %v lines, want the %v after the committed offsets", n, want)
	}
	d.cmd.Process.Signal(os.Interrupt)
	d.cmd.Wait()
	ids := countAlerts(t, alerts)
	if len(ids) == 0 {
		t.Fatal("no alert in the file")
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("alert %s written %d times", id, n)
		}
	}
}

// committedOffsets sums the group's committed offsets over the topic's
// partitions, read with kafka-go's client.
func committedOffsets(t *testing.T, kc *kafkatest.Cluster, group string) int64 {
	t.Helper()
	cl := &kafkago.Client{Addr: kafkago.TCP(kc.Addrs()...)}
	resp, err := cl.OffsetFetch(context.Background(), &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{"requests": {0, 1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range resp.Topics["requests"] {
		n += max(p.CommittedOffset, 0)
	}
	return n
}

// TestKafkaTakeoverMatchesOneInstance replays four days of generated
// traffic with attacks through a topic twice: once read by one instance
// from start to end, once by two instances of another group, one of
// which stops halfway. If state follows its partition exactly, the two
// runs raise the same alerts on established entities, lose no line and
// raise none twice.
func TestKafkaTakeoverMatchesOneInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("replays four days of traffic twice")
	}
	kc, brokers := startKafka(t, 4)
	var lines []trafficLine
	for _, l := range strings.SplitAfter(string(writeTraffic(t, 3)), "\n") {
		if strings.Contains(l, `"token":"`) {
			lines = append(lines, trafficLine{text: l})
		}
	}
	half := len(lines) / 2
	t.Logf("%d lines", len(lines))
	// The lines carry no time here: kcatProduce's stable sort keeps the
	// generator's order.
	kcatProduce(t, kc, lines[:half])

	a, b := startInstance(t, brokers, "pair"), startInstance(t, brokers, "pair")
	addrA, addrB, alertsA, alertsB := a.addr, b.addr, a.alerts, b.alerts
	eventually(t, 120*time.Second, "the first half read by the pair", func() bool {
		n := linesRead(t, addrA) + linesRead(t, addrB)
		if n > float64(half) {
			t.Fatalf("the pair read %v lines of %d", n, half)
		}
		return n == float64(half)
	})
	readByA := linesRead(t, addrA)
	a.cmd.Process.Signal(os.Interrupt)
	a.cmd.Wait()
	kcatProduce(t, kc, lines[half:])
	eventually(t, 120*time.Second, "the second half read by the one left", func() bool {
		return readByA+linesRead(t, addrB) >= float64(len(lines))
	})
	readByB := linesRead(t, addrB)
	b.cmd.Process.Signal(os.Interrupt)
	b.cmd.Wait()

	c := startInstance(t, brokers, "alone")
	addrC, alertsC := c.addr, c.alerts
	eventually(t, 120*time.Second, "every line read by the one alone", func() bool { return linesRead(t, addrC) == float64(len(lines)) })
	c.cmd.Process.Signal(os.Interrupt)
	c.cmd.Wait()

	if readByA+readByB != float64(len(lines)) {
		t.Errorf("the pair read %v lines, want %d", readByA+readByB, len(lines))
	}
	pair := map[string]int{}
	for id, n := range countAlerts(t, alertsA) {
		pair[id] += n
	}
	for id, n := range countAlerts(t, alertsB) {
		pair[id] += n
	}
	alone := countAlerts(t, alertsC)
	dups, missing, extra := 0, 0, 0
	for id, n := range pair {
		dups += n - 1
		if alone[id] == 0 {
			extra++
		}
	}
	for id := range alone {
		if pair[id] == 0 {
			missing++
		}
	}
	t.Logf("lines %d (A read %v, B %v); alerts alone %d, pair %d; duplicates %d, only alone %d, only pair %d",
		len(lines), readByA, readByB, len(alone), len(pair), dups, missing, extra)
	// Judging new entities against the fleet's population depends on
	// when the partitions' summaries arrive, which a replay at full
	// speed does not fix; every other detector judges an entity on its
	// own state, which must have moved whole.
	detector := map[string]string{}
	for _, f := range []string{alertsA, alertsB, alertsC} {
		data, _ := os.ReadFile(f)
		for _, a := range parseAlerts(t, string(data)) {
			detector[a.ID] = a.Detector + " " + a.Entity + " " + a.Key + " " + a.At
		}
	}
	for id := range detector {
		if (pair[id] == 0) != (alone[id] == 0) && !strings.HasPrefix(detector[id], "population ") {
			t.Errorf("alert %s (%s) raised by one run and not the other", id, detector[id])
		}
	}
	// Which entities the population's timing changes is logged: an
	// address's traffic split over partitions by token (the topic is
	// keyed by token here) stands near its partitions' thresholds.
	entities := func(ids map[string]int) map[string]bool {
		out := map[string]bool{}
		for id := range ids {
			f := strings.Fields(detector[id])
			out[f[1]+" "+f[2]] = true
		}
		return out
	}
	ea, ep := entities(alone), entities(pair)
	for e := range ea {
		if !ep[e] {
			t.Logf("%s alerted by the instance alone and not by the pair", e)
		}
	}
	for e := range ep {
		if !ea[e] {
			t.Logf("%s alerted by the pair and not by the instance alone", e)
		}
	}

	if dups > 0 {
		t.Errorf("%d alerts raised twice across the takeover", dups)
	}
}

// TestKafkaMistakesAreSaid makes the mistakes an operator makes when
// setting Kafka up, each of which must end in an error that says what is
// wrong, at once, without repeating a password.
func TestKafkaMistakesAreSaid(t *testing.T) {
	kc := kafkatest.Start(t, kafkatest.Topic("requests", 2), kafkatest.SASL(kafkatest.ScramSHA512, "edge", "right-password-1"))
	brokers := strings.Join(kc.Addrs(), ",")
	dir := t.TempDir()
	cfg, _ := kafkaConfig(t, dir, brokers, "sentinel")
	os.Setenv("SENTINEL_KAFKA_PASSWORD", "wrong-password-2")
	defer os.Unsetenv("SENTINEL_KAFKA_PASSWORD")
	log := filepath.Join(dir, "access.log")
	os.WriteFile(log, nil, 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--config", cfg}, "valid (1 sources"},
		{[]string{"run", "--config", cfg, "kafka:/" + brokers + "/requests?group=g"}, "starts with kafka:// (two slashes)"},
		{[]string{"run", "--config", cfg, "kafka://" + brokers + "/reqeusts?group=g&sasl=SCRAM-SHA-512&user=edge"}, "SASL Authentication Failed"},
		{[]string{"ship", "--state-dir", filepath.Join(dir, "ship"), "--to", "kafka://" + brokers + "/requests?sasl=SCRAM-SHA-512&user=edge", log}, "SASL Authentication Failed"},
		{[]string{"ship", "--state-dir", filepath.Join(dir, "ship"), "--to", "kafka://" + brokers + "/requests?group=g", log}, "settings of a Kafka source"},
	} {
		out, errOut, code := sentinel(t, "", c.args...)
		if !strings.Contains(out+errOut, c.want) {
			t.Errorf("sentinel %s: exit %d, said %q, want %q", strings.Join(c.args, " "), code, out+errOut, c.want)
		}
		if strings.Contains(out+errOut, "wrong-password-2") {
			t.Errorf("sentinel %s repeats the password", strings.Join(c.args, " "))
		}
	}
}
