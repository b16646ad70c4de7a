package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/detect"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/gen"
	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// streamOf starts a Stream over partitions of topic "requests", all
// assigned with no saved state, and returns it with the alerts it raised.
func streamOf(t *testing.T, partitions int, now time.Time) (*Stream, func() []*alert.Alert) {
	t.Helper()
	var mu sync.Mutex
	var raised []*alert.Alert
	s, err := NewStream(StreamOptions{Options: testOptions(), Format: canonicalSource().Format, StateDir: t.TempDir(),
		Now: func() time.Time { return now },
		Deliver: func(a *alert.Alert, recorded func()) {
			mu.Lock()
			raised = append(raised, a)
			mu.Unlock()
			recorded()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	states := map[ingest.Partition]*ingest.PartState{}
	for i := range partitions {
		states[ingest.Partition{Topic: "requests", ID: i}] = nil
	}
	if _, err := s.Assigned(ctx, states); err != nil {
		t.Fatal(err)
	}
	return s, func() []*alert.Alert {
		mu.Lock()
		defer mu.Unlock()
		return append([]*alert.Alert(nil), raised...)
	}
}

// feed hands lines to s, each to the partition its token hashes to, as a
// producer keyed by token would, in batches of 500 per partition.
func feed(t *testing.T, s *Stream, partitions int, lines [][]byte) {
	t.Helper()
	p, _ := ingest.NewParser(canonicalSource().Format.Mapping, nil)
	batches := make([]ingest.PartBatch, partitions)
	for i := range batches {
		batches[i].Partition = ingest.Partition{Topic: "requests", ID: i}
	}
	flush := func(b *ingest.PartBatch) {
		if len(b.Lines) == 0 {
			return
		}
		if err := s.Apply(context.Background(), *b); err != nil {
			t.Fatal(err)
		}
		b.Lines = nil
	}
	for _, l := range lines {
		var r ingest.Record
		if err := p.Parse(l, &r); err != nil {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(r.Cred.FP))
		b := &batches[int(h.Sum32()%uint32(partitions))]
		b.Lines = append(b.Lines, l)
		b.Next++
		if len(b.Lines) == 500 {
			flush(b)
		}
	}
	for i := range batches {
		flush(&batches[i])
	}
	s.owned(context.Background()) // runs after every batch queued
}

// population returns the token population's mean and deviation of
// log(1+messages) per partition.
func population(t *testing.T, s *Stream) (mu, sigma []float64, samples []int64) {
	t.Helper()
	for _, p := range s.owned(context.Background()) {
		s.do(context.Background(), func() {
			ps := s.tasks[p].core.det.Snapshot().Population[features.Token]
			m := ps.Mu[features.Messages]
			mu = append(mu, m)
			sigma = append(sigma, math.Sqrt(max(ps.M2[features.Messages]-m*m, 0)))
			samples = append(samples, ps.Samples)
		})
	}
	return mu, sigma, samples
}

// TestFleetPopulationMatchesTheWhole shows how the population baseline
// forms across instances. Each partition forms its own from its own
// tokens; a producer keyed by token spreads tokens over partitions by
// hash, so each partition holds a random sample, but with fifty tokens
// to a partition a sample's spread strays far from the fleet's. Merged,
// weighted by the windows each folded, the partitions' summaries give
// back the population of one core that saw everything, and with it every
// partition catches a new token pulling a mailbox in its first minute.
func TestFleetPopulationMatchesTheWhole(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if _, err := gen.Generate(gen.Options{Seed: 7, Tokens: 200, Start: start, Duration: 36 * time.Hour}, bw); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	end := start.Add(36 * time.Hour)
	var burst [][]byte
	var newTokens []string
	// New tenants of ordinary size start too, each syncing 1,500
	// messages in its first minute: within the fleet's spread, far above
	// what a partition of small tenants calls typical.
	tenants := map[string]bool{}
	for i := range 8 {
		tok := fmt.Sprintf("tok_new_tenant%04d", i)
		tenants[ingest.Fingerprint(tok)] = true
		for s := range 15 {
			burst = append(burst, []byte(fmt.Sprintf(`{"ts":%q,"token":%q,"ip":"192.0.2.%d","method":"GET","path":"/messages","status":200,"bytes":1000,"messages":100,"ua":"x"}`,
				end.Add(time.Duration(s)*4*time.Second).Format(time.RFC3339Nano), tok, i+1)))
		}
	}
	for i := range 8 {
		tok := fmt.Sprintf("tok_new_exfiltrating%04d", i)
		newTokens = append(newTokens, tok)
		for s := range 20 {
			burst = append(burst, []byte(fmt.Sprintf(`{"ts":%q,"token":%q,"ip":"203.0.113.%d","method":"GET","path":"/messages","status":200,"bytes":1000,"messages":2000,"ua":"x"}`,
				end.Add(time.Duration(s)*3*time.Second).Format(time.RFC3339Nano), tok, i+1)))
		}
	}
	now := end.Add(time.Hour)

	whole, _ := streamOf(t, 1, now)
	feed(t, whole, 1, lines)
	split, alerts := streamOf(t, 4, now)
	feed(t, split, 4, lines)

	wMu, wSigma, _ := population(t, whole)
	mu, sigma, samples := population(t, split)
	var sums []detect.PopulationSummary
	for i := range mu {
		t.Logf("partition %d alone: mu %.3f sigma %.3f over %d windows (whole: %.3f, %.3f)", i, mu[i], sigma[i], samples[i], wMu[0], wSigma[0])
		sums = append(sums, split.tasks[ingest.Partition{Topic: "requests", ID: i}].core.det.Population(features.Token))
	}
	m := detect.MergePopulations(sums)
	mMu, mSigma := m.Mu[features.Messages], math.Sqrt(m.M2[features.Messages]-m.Mu[features.Messages]*m.Mu[features.Messages])
	t.Logf("merged: mu %.3f sigma %.3f over %d windows", mMu, mSigma, m.Samples)
	if math.Abs(mMu-wMu[0]) > 0.1 || math.Abs(mSigma-wSigma[0]) > 0.1*wSigma[0] {
		t.Errorf("merged population (mu %.3f, sigma %.3f) is not the whole's (%.3f, %.3f)", mMu, mSigma, wMu[0], wSigma[0])
	}

	states, err := split.Snapshot(context.Background(), split.owned(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string][]byte{}
	for p, st := range states {
		shared[p.String()] = st.Summary
	}
	if err := split.Fleet(context.Background(), shared); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(burst, func(a, b []byte) int { return bytes.Compare(a[:40], b[:40]) })
	feed(t, split, 4, burst)
	caught := map[string]bool{}
	for _, a := range alerts() {
		if a.Detector == "population" {
			caught[a.Key] = true
		}
		if tenants[a.Key] {
			t.Errorf("a new tenant of ordinary size alerted: %s", a.Summary)
		}
	}
	for _, tok := range newTokens {
		if !caught[ingest.Fingerprint(tok)] {
			t.Errorf("new token %s pulling 40,000 messages in its first minute not caught against the fleet's population", ingest.Fingerprint(tok))
		}
	}
}

// TestPartitionStateRoundTrips saves a partition's state and restores it
// in another Stream, as the partition's next owner: the entities and the
// offset come back. A state that cannot be restored starts the partition
// from nothing instead of holding it back.
func TestPartitionStateRoundTrips(t *testing.T) {
	var buf bytes.Buffer
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	if _, err := gen.Generate(gen.Options{Seed: 2, Tokens: 50, Start: start, Duration: 3 * time.Hour}, &buf); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	now := start.Add(4 * time.Hour)
	old, _ := streamOf(t, 1, now)
	feed(t, old, 1, lines)
	p := ingest.Partition{Topic: "requests", ID: 0}
	states, err := old.Snapshot(context.Background(), []ingest.Partition{p})
	if err != nil {
		t.Fatal(err)
	}
	st := states[p]
	entities := func(s *Stream) (tok, ip int) {
		s.do(context.Background(), func() { tok, ip = s.tasks[p].core.det.Entities() })
		return tok, ip
	}
	wantTok, wantIP := entities(old)
	if st.Offset != int64(len(lines)) || wantTok == 0 {
		t.Fatalf("state at offset %d with %d tokens; want %d lines covered and the tokens learnt", st.Offset, wantTok, len(lines))
	}

	next, _ := streamOf(t, 0, now)
	starts, err := next.Assigned(context.Background(), map[ingest.Partition]*ingest.PartState{p: &st})
	if err != nil || starts[p] != st.Offset {
		t.Fatalf("restored: starts %v, err %v; want reading on from %d", starts, err, st.Offset)
	}
	if tok, ip := entities(next); tok != wantTok || ip != wantIP {
		t.Errorf("restored %d tokens and %d addresses, want %d and %d", tok, ip, wantTok, wantIP)
	}

	spoiled := ingest.PartState{Offset: st.Offset, Data: append([]byte("not gob"), st.Data...)}
	cold, _ := streamOf(t, 0, now)
	starts, err = cold.Assigned(context.Background(), map[ingest.Partition]*ingest.PartState{p: &spoiled})
	if err != nil || starts[p] != -1 {
		t.Fatalf("a spoiled state: starts %v, err %v; want the partition from the group's offset, learning from nothing", starts, err)
	}
	if tok, _ := entities(cold); tok != 0 {
		t.Errorf("a spoiled state restored %d tokens", tok)
	}
}

// TestTopicsJudgeTheirOwnKinds has one stream read a topic keyed by token
// and one keyed by address, judging tokens only from the first and
// addresses only from the second: each partition's core then tracks only
// its topic's kind.
func TestTopicsJudgeTheirOwnKinds(t *testing.T) {
	s, err := NewStream(StreamOptions{Options: testOptions(), Format: canonicalSource().Format, StateDir: t.TempDir(),
		Deliver: func(_ *alert.Alert, recorded func()) { recorded() },
		SkipByTopic: map[string][features.NumKinds]bool{
			"requests": {features.IP: true}, "by-ip": {features.Token: true}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done; s.Close() }()
	byToken, byIP := ingest.Partition{Topic: "requests", ID: 0}, ingest.Partition{Topic: "by-ip", ID: 0}
	if _, err := s.Assigned(ctx, map[ingest.Partition]*ingest.PartState{byToken: nil, byIP: nil}); err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for m := range 30 {
		lines = append(lines, []byte(fmt.Sprintf(`{"ts":%q,"token":"tok_a","ip":"192.0.2.1","method":"GET","path":"/m","status":200,"bytes":10,"messages":1,"ua":"x"}`,
			start.Add(time.Duration(m)*time.Minute).Format(time.RFC3339))))
	}
	for _, p := range []ingest.Partition{byToken, byIP} {
		if err := s.Apply(ctx, ingest.PartBatch{Partition: p, Lines: lines, Next: int64(len(lines))}); err != nil {
			t.Fatal(err)
		}
	}
	kinds := func(p ingest.Partition) (tok, ip int) {
		s.do(ctx, func() { tok, ip = s.tasks[p].core.det.Entities() })
		return tok, ip
	}
	if tok, ip := kinds(byToken); tok != 1 || ip != 0 {
		t.Errorf("the token topic's core tracks %d tokens and %d addresses, want 1 and 0", tok, ip)
	}
	if tok, ip := kinds(byIP); tok != 0 || ip != 1 {
		t.Errorf("the address topic's core tracks %d tokens and %d addresses, want 0 and 1", tok, ip)
	}
}
