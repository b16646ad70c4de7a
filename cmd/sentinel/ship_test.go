package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sentinel-project/sentinel/internal/kafkatest"
	"github.com/sentinel-project/sentinel/internal/testlog"
	"github.com/sentinel-project/sentinel/internal/testwait"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// TestShipToKafka ships a log file through the ship command to an
// in-process broker and reads the topics back with kcat: every good line
// arrives once, keyed by its token's fingerprint (or "ip:" and the
// address when it has none) in the partition the Java client's
// partitioner picks for the key, and no raw token appears in the topics
// or in the shipper's log.
func TestShipToKafka(t *testing.T) {
	const topic, byAddr, partitions = "requests", "requests-by-ip", 3
	c := kafkatest.Start(t, kafkatest.Topic(topic, partitions), kafkatest.Topic(byAddr, partitions))
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	lines, tokens := shipLog()
	if err := os.WriteFile(logPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := expectedRecords(t, lines)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testlog.Buffer
	done := make(chan error, 1)
	args := []string{"--to", "kafka://" + strings.Join(c.Addrs(), ",") + "/" + topic,
		"--address-topic", byAddr, "--state-dir", filepath.Join(dir, "state"), logPath}
	go func() { done <- shipCmd(ctx, args, nil, nil, &stderr) }()

	var got, gotAddr []kafkatest.KV
	testwait.For(t, 10*time.Second, "every good line on both topics", func() bool {
		got, gotAddr = kafkatest.Consume(t, c.Addrs(), topic), kafkatest.Consume(t, c.Addrs(), byAddr)
		return len(got) >= len(want) && len(gotAddr) >= len(want)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ship: %v\n%s", err, stderr.String())
	}

	checkRecords(t, topic, got, want, func(r ingest.Record) string {
		if r.Cred.FP != "" {
			return r.Cred.FP
		}
		return "ip:" + r.IP.String()
	})
	checkRecords(t, byAddr, gotAddr, want, func(r ingest.Record) string { return r.IP.String() })
	checkPartitions(t, topic, got, partitions)
	checkPartitions(t, byAddr, gotAddr, partitions)

	log := stderr.String()
	for _, tok := range tokens {
		for _, kv := range append(got, gotAddr...) {
			if strings.Contains(kv.Key+kv.Value, tok[:len(tok)-4]) {
				t.Errorf("token %s shipped in clear: %s %s", tok, kv.Key, kv.Value)
			}
		}
		if strings.Contains(log, tok[:len(tok)-4]) {
			t.Errorf("token %s in the shipper's log:\n%s", tok, log)
		}
	}
	for _, msg := range []string{"shipping started", "connected to Kafka", `"reason_json":1`, "shipping stopped"} {
		if n := strings.Count(log, msg); n != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", msg, n, log)
		}
	}
}

// shipLog returns canonical lines from several tokens, one in a query
// string, one line without a credential and one that is not JSON, and
// the tokens.
func shipLog() (lines, tokens []string) {
	tokens = []string{"pm-live-Alpha-7c1f0e", "pm-live-Bravo-99a0d2", "pm-live-Charlie-3be7",
		"pm-live-Delta-0f9e41", "pm-live-Echo-51c2aa"}
	const f = `{"ts":"2026-05-14T09:%02d:07.%06dZ","token":%q,"ip":"198.51.100.%d","method":"GET",` +
		`"path":"/messages?count=%d","status":200,"bytes":%d,"messages":%d,"ua":"client \"%d\""}`
	for i := range 50 {
		tok := tokens[i%len(tokens)]
		lines = append(lines, fmt.Sprintf(f, i%60, i, tok, i%len(tokens)+1, i, 1000+i, i, i))
	}
	query := "pm-query-Foxtrot-e3d1"
	tokens = append(tokens, query)
	lines = append(lines,
		`{"ts":"2026-05-14T09:30:00Z","ip":"203.0.113.9","method":"GET","path":"/messages","status":200,"messages":3}`,
		`{"ts":"2026-05-14T09:31:00Z","ip":"2001:db8::7","method":"GET","path":"/messages?api_key=`+query+`","status":200,"messages":4}`,
		`this is not JSON, and it holds pm-live-Golf-000001`)
	return lines, tokens
}

// expectedRecords parses the lines as run would and encodes each good
// one as shipped.
func expectedRecords(t *testing.T, lines []string) []ingest.Record {
	t.Helper()
	m, _ := ingest.Preset(ingest.FormatCanonical)
	p, err := ingest.NewParser(m, ingest.DefaultPullRules(ingest.FormatCanonical))
	if err != nil {
		t.Fatal(err)
	}
	var out []ingest.Record
	for _, l := range lines {
		var r ingest.Record
		if p.Parse([]byte(l), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// checkRecords compares the topic's records with the expected ones,
// as multisets of key and value.
func checkRecords(t *testing.T, topic string, got []kafkatest.KV, want []ingest.Record, key func(ingest.Record) string) {
	t.Helper()
	var g, w []string
	for _, kv := range got {
		g = append(g, kv.Key+" "+kv.Value)
	}
	for i := range want {
		w = append(w, key(want[i])+" "+string(ingest.AppendShipped(nil, &want[i])))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("topic %s holds\n%s\nwant\n%s", topic, strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

// checkPartitions checks that each key is in the one partition franz-go's
// default partitioner, which hashes keys as the Java client does, picks.
func checkPartitions(t *testing.T, topic string, got []kafkatest.KV, partitions int) {
	t.Helper()
	hash := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	for _, kv := range got {
		want := hash.Partition(&kgo.Record{Key: []byte(kv.Key)}, partitions)
		if kv.Partition != want {
			t.Errorf("topic %s: key %q in partition %d, the Java client's partitioner puts it in %d",
				topic, kv.Key, kv.Partition, want)
		}
	}
}

// TestShipKill9 kills the shipper process after its first save, writes
// more lines while it is dead, and starts it again: it resumes from its
// saved positions, every line arrives, and SIGTERM then stops it cleanly.
func TestShipKill9(t *testing.T) {
	const topic = "requests"
	c := kafkatest.Start(t, kafkatest.Topic(topic, 3))
	dir := t.TempDir()
	logPath, stateDir := filepath.Join(dir, "access.log"), filepath.Join(dir, "state")
	appendNumbered(t, logPath, 0, 2000)
	args := []string{"ship", "--to", "kafka://" + strings.Join(c.Addrs(), ",") + "/" + topic, "--state-dir", stateDir, logPath}

	p := startSentinel(t, args...)
	testwait.For(t, 10*time.Second, "positions saved", func() bool {
		_, err := os.Stat(filepath.Join(stateDir, "positions"))
		return err == nil
	})
	p.kill9(t)
	appendNumbered(t, logPath, 2000, 2500)

	p = startSentinel(t, args...)
	testwait.For(t, 10*time.Second, "every line shipped after the restart", func() bool {
		seen := map[string]bool{}
		for _, kv := range kafkatest.Consume(t, c.Addrs(), topic) {
			seen[kv.Value[strings.Index(kv.Value, `"bytes":`):]] = true
		}
		for i := range 2500 {
			if !seen[fmt.Sprintf(`"bytes":%d,"messages":1}`, i)] {
				return false
			}
		}
		return true
	})
	p.stop(t)
	log := p.stderr.String()
	if !strings.Contains(log, `"positions":1`) || !strings.Contains(log, "shipping stopped") {
		t.Errorf("the restarted shipper did not resume from its positions or did not stop cleanly:\n%s", log)
	}
}

func appendNumbered(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < to; i++ {
		fmt.Fprintf(f, `{"ts":"2026-05-14T09:21:07Z","token":"pm-live-kill-%d","path":"/m","status":200,"bytes":%d,"messages":1}`+"\n", i%5, i)
	}
}
