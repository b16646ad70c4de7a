package kafkatest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/sentinel-project/sentinel/internal/testwait"
)

// kafka-go gets through SASL (PLAIN, SCRAM) and TLS, alone and together:
// a kafka-go Writer writes, a kafka-go group member reads all. kcat joins
// in over TLS; over SASL Debian's kcat cannot (see KcatArgs), which
// TestKcatSASLUnsupported pins down.
func TestSASLAndTLS(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"plain", []Option{SASL(Plain, "alice", "pw-plain")}},
		{"scram-sha-256", []Option{SASL(ScramSHA256, "bob", "pw-256")}},
		{"scram-sha-512", []Option{SASL(ScramSHA512, "carol", "pw-512")}},
		{"tls", []Option{TLS()}},
		{"tls+scram-sha-512", []Option{TLS(), SASL(ScramSHA512, "dave", "pw-tls")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Start(t, append(tc.opts, Topic("s", 2))...)
			kcat := c.cfg.mech == ""
			if kcat {
				c.Produce(t, "s", keyed("kcat", 0, 20, 3))
			}

			w := &kafka.Writer{
				Addr: kafka.TCP(c.Addrs()...), Topic: "s", Transport: c.Transport(t),
				RequiredAcks: kafka.RequireAll, Balancer: &kafka.Hash{}, BatchTimeout: 5 * time.Millisecond,
			}
			defer w.Close()
			var msgs []kafka.Message
			n := 20
			if !kcat {
				n = 40
			}
			for i := range n {
				msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "k%d", i%3), Value: fmt.Appendf(nil, "go-%d", i)})
			}
			ctx, cancel := context.WithTimeout(context.Background(), within)
			defer cancel()
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("WriteMessages: %v", err)
			}

			l := newLedger()
			m := startMember(t, c, "m", "sg", "s", l)
			testwait.For(t, within, "40 records through the group", func() bool { return l.distinct() == 40 })
			if errs := m.errors(); len(errs) > 0 {
				t.Fatalf("member errors: %v", errs)
			}
			if kcat {
				if got := c.Consume(t, "s"); len(got) != 40 {
					t.Fatalf("kcat read %d records, want 40", len(got))
				}
			}
		})
	}
}

// A wrong password is refused, so the SASL tests above do authenticate.
func TestSASLWrongPassword(t *testing.T) {
	c := Start(t, SASL(Plain, "alice", "right"), Topic("s", 1))
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	d := &kafka.Dialer{Timeout: 5 * time.Second, SASLMechanism: plain.Mechanism{Username: "alice", Password: "wrong"}}
	conn, err := d.DialContext(ctx, "tcp", c.Addrs()[0])
	if err == nil {
		conn.Close()
		t.Fatal("dial with a wrong password succeeded")
	}
	t.Logf("wrong password: %v", err)
}

// Debian's kcat fails to log in to kfake over SASL. Should a kcat that
// can arrive, this fails, and Cluster.Produce and Consume can allow SASL.
func TestKcatSASLUnsupported(t *testing.T) {
	c := Start(t, SASL(ScramSHA512, "erin", "pw"), Topic("s", 1))
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	args := append([]string{"-L", "-b", c.Addrs()[0], "-m", "1"}, c.KcatArgs()...)
	out, err := exec.CommandContext(ctx, kcatPath(t), args...).CombinedOutput()
	if err == nil {
		t.Fatalf("kcat logged in over SASL; let Cluster.Produce and Consume use it:\n%s", out)
	}
	if !strings.Contains(string(out), "SASL Handshake not supported by broker") {
		t.Fatalf("kcat failed otherwise than expected: %v\n%s", err, out)
	}
}
