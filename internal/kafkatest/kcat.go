package kafkatest

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// KV is one record. Produce sends Key and Value (an empty Key is sent as
// an empty key); Consume also fills Partition and Offset.
type KV struct {
	Key       string
	Value     string
	Partition int
	Offset    int64
}

// keySep separates key from value on kcat's standard input. A control
// character, so that keys and values can hold tabs, spaces and colons.
const keySep = "\x1f"

// kcatTimeout bounds one kcat run; librdkafka retries a broker it cannot
// reach forever, and a test must fail rather than hang.
const kcatTimeout = 20 * time.Second

func kcatPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kafkatest: kcat not found: scripts/test installs Debian's kcat package")
	}
	return p
}

// KcatArgs returns the -X settings kcat needs for the cluster's TLS and
// SASL; none for a plain cluster.
//
// SASL settings are there for a newer kcat only: Debian's kcat 1.7.1 with
// librdkafka 2.0.2 cannot authenticate to kfake, which (like Kafka 4.0,
// KIP-896) offers SaslHandshake v1 only, while that librdkafka turns SASL
// on only when the broker offers v0 ("SASL Handshake not supported by
// broker"). TLS alone works.
func (c *Cluster) KcatArgs() []string {
	var args []string
	switch {
	case c.ca != nil && c.cfg.mech != "":
		args = append(args, "-X", "security.protocol=SASL_SSL")
	case c.ca != nil:
		args = append(args, "-X", "security.protocol=SSL")
	case c.cfg.mech != "":
		args = append(args, "-X", "security.protocol=SASL_PLAINTEXT")
	}
	if c.ca != nil {
		args = append(args, "-X", "ssl.ca.location="+c.caFile)
	}
	if c.cfg.mech != "" {
		args = append(args, "-X", "sasl.mechanisms="+c.cfg.mech,
			"-X", "sasl.username="+c.cfg.user, "-X", "sasl.password="+c.cfg.pass)
	}
	return args
}

// Produce writes records to topic with kcat, one line each, and fails the
// test unless kcat exits cleanly, which it does once every record is
// acknowledged. args are extra kcat arguments (see KcatArgs).
func Produce(t testing.TB, brokers []string, topic string, records []KV, args ...string) {
	t.Helper()
	var in strings.Builder
	for _, r := range records {
		if strings.ContainsAny(r.Key, keySep+"\n") || strings.Contains(r.Value, "\n") {
			t.Fatalf("kafkatest: Produce cannot send record %q=%q: no newlines, no \\x1f in keys", r.Key, r.Value)
		}
		in.WriteString(r.Key + keySep + r.Value + "\n")
	}
	cmdArgs := []string{"-P", "-b", strings.Join(brokers, ","), "-t", topic, "-K", keySep,
		// acks=all and no batching delay: the records are in the log,
		// and visible to any consumer, when kcat exits.
		"-X", "acks=all", "-X", "linger.ms=0"}
	runKcat(t, append(cmdArgs, args...), in.String())
}

// Consume reads topic from the beginning to its current end with kcat,
// every partition, and returns the records in kcat's order (per partition
// by offset; partitions interleaved). args are extra kcat arguments.
func Consume(t testing.TB, brokers []string, topic string, args ...string) []KV {
	t.Helper()
	cmdArgs := []string{"-C", "-b", strings.Join(brokers, ","), "-t", topic,
		"-o", "beginning", "-e", "-J", "-q"}
	out := runKcat(t, append(cmdArgs, args...), "")
	var recs []KV
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var m struct {
			Partition int     `json:"partition"`
			Offset    int64   `json:"offset"`
			Key       *string `json:"key"`
			Payload   *string `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("kafkatest: kcat output %q: %v", line, err)
		}
		r := KV{Partition: m.Partition, Offset: m.Offset}
		if m.Key != nil {
			r.Key = *m.Key
		}
		if m.Payload != nil {
			r.Value = *m.Payload
		}
		recs = append(recs, r)
	}
	return recs
}

// Produce is Produce to this cluster with its TLS settings. It fails the
// test on a SASL cluster, which Debian's kcat cannot log in to (see
// KcatArgs): use a kafka-go Writer with Transport there.
func (c *Cluster) Produce(t testing.TB, topic string, records []KV) {
	t.Helper()
	c.noKcatSASL(t)
	Produce(t, c.Addrs(), topic, records, c.KcatArgs()...)
}

// Consume is Consume from this cluster with its TLS settings; like
// Produce, not on a SASL cluster.
func (c *Cluster) Consume(t testing.TB, topic string) []KV {
	t.Helper()
	c.noKcatSASL(t)
	return Consume(t, c.Addrs(), topic, c.KcatArgs()...)
}

func runKcat(t testing.TB, args []string, stdin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcatPath(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafkatest: kcat %s: %v\n%s", redact(args), err, stderr.String())
	}
	return stdout.String()
}

// redact hides the SASL password in failure messages.
func redact(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.HasPrefix(a, "sasl.password=") {
			a = "sasl.password=***"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func (c *Cluster) noKcatSASL(t testing.TB) {
	t.Helper()
	if c.cfg.mech != "" {
		t.Fatal("kafkatest: Debian's kcat (librdkafka 2.0.2) cannot SASL-authenticate to kfake, " +
			"which offers SaslHandshake v1 only; use kafka-go on SASL clusters")
	}
}
