package kafka

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// incompressible returns n bytes gzip cannot shrink, so that a state
// takes several chunks.
func incompressible(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func newTestStore(t *testing.T, addrs []string) *Store {
	t.Helper()
	s, err := NewStore(context.Background(), &Conn{Brokers: addrs}, "g.state")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var p0, p1 = ingest.Partition{Topic: "requests", ID: 0}, ingest.Partition{Topic: "requests", ID: 1}

// TestStoreKeepsLargeStatesWhole saves states of several chunks, twice
// (both slots), and reads back the latest of each partition whole, from
// a store that knew nothing before.
func TestStoreKeepsLargeStatesWhole(t *testing.T) {
	c := startCluster(t, 1, "requests")
	s := newTestStore(t, c.ListenAddrs())
	ctx := context.Background()
	big := incompressible(3*chunkSize+1000, 1)
	if err := s.Save(ctx, map[ingest.Partition]ingest.PartState{p0: {Offset: 10, Data: big}, p1: {Offset: 3, Data: []byte("small")}}, 0); err != nil {
		t.Fatal(err)
	}
	bigger := incompressible(5*chunkSize, 2)
	if err := s.Save(ctx, map[ingest.Partition]ingest.PartState{p0: {Offset: 20, Data: bigger}}, 0); err != nil {
		t.Fatal(err)
	}
	states, bad, err := newTestStore(t, c.ListenAddrs()).Load(ctx, []ingest.Partition{p0, p1, {Topic: "requests", ID: 2}})
	if err != nil || len(bad) > 0 {
		t.Fatalf("load: %v, bad %v", err, bad)
	}
	if st := states[p0]; st == nil || st.Offset != 20 || !bytes.Equal(st.Data, bigger) {
		t.Errorf("requests/0 did not come back as last saved (5 chunks at offset 20)")
	}
	if st := states[p1]; st == nil || st.Offset != 3 || string(st.Data) != "small" {
		t.Errorf("requests/1 came back as %+v", st)
	}
	if len(states) != 2 {
		t.Errorf("%d states, want 2: a partition never saved has none", len(states))
	}
}

// TestStoreSurvivesASaveCutShort writes the chunks of a new save without
// its manifest, as a crash between them leaves it, and with them chunks
// over the slot the last manifest names would ruin that state: the last
// complete save is read back.
func TestStoreSurvivesASaveCutShort(t *testing.T) {
	c := startCluster(t, 1, "requests")
	s := newTestStore(t, c.ListenAddrs())
	ctx := context.Background()
	first := incompressible(2*chunkSize, 3)
	if err := s.Save(ctx, map[ingest.Partition]ingest.PartState{p0: {Offset: 7, Data: first}}, 0); err != nil {
		t.Fatal(err)
	}
	// The next save's chunks, alone, as a crash before its manifest
	// leaves them.
	cut, err := s.prepare(map[ingest.Partition]ingest.PartState{p0: {Offset: 8, Data: incompressible(2*chunkSize, 4)}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.w.WriteMessages(ctx, cut.chunks...); err != nil {
		t.Fatal(err)
	}
	states, bad, err := newTestStore(t, c.ListenAddrs()).Load(ctx, []ingest.Partition{p0})
	if err != nil || len(bad) > 0 || states[p0] == nil || states[p0].Offset != 7 || !bytes.Equal(states[p0].Data, first) {
		t.Fatalf("after a cut save: states %v, bad %v, err %v; want the complete save at offset 7", states, bad, err)
	}

	// A chunk of the slot the manifest names, spoiled: that partition
	// is reported bad, and the others still load.
	if err := s.Save(ctx, map[ingest.Partition]ingest.PartState{p1: {Offset: 1, Data: []byte("fine")}}, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.w.WriteMessages(ctx, kafkago.Message{Key: []byte(chunkKey(p0, s.slots[p0], 1)), Value: []byte("spoiled")}); err != nil {
		t.Fatal(err)
	}
	states, bad, err = newTestStore(t, c.ListenAddrs()).Load(ctx, []ingest.Partition{p0, p1})
	if err != nil {
		t.Fatal(err)
	}
	if bad[p0] == nil || !strings.Contains(bad[p0].Error(), "checksum") || states[p0] != nil {
		t.Errorf("a spoiled chunk gave state %v, error %v; want the partition reported bad", states[p0], bad[p0])
	}
	if states[p1] == nil || string(states[p1].Data) != "fine" {
		t.Errorf("a spoiled partition kept another from loading: %v", states[p1])
	}
}

// TestTwoOwnersInDifferentGenerationsNeverMixChunks has a partition's
// dropped owner, still in its old generation, and its new owner save at
// once, as when the fence's check and the write race: the dropped
// owner's chunks land, then the new owner's whole save, then the dropped
// owner's manifest. Each wrote its chunks in its own lane, so that last
// manifest names chunks that are whole.
func TestTwoOwnersInDifferentGenerationsNeverMixChunks(t *testing.T) {
	c := startCluster(t, 1, "requests")
	ctx := context.Background()
	old, next := newTestStore(t, c.ListenAddrs()), newTestStore(t, c.ListenAddrs())
	oldState, newState := incompressible(2*chunkSize, 5), incompressible(2*chunkSize, 6)
	// Both know the same last save, made in generation 2.
	if err := old.Save(ctx, map[ingest.Partition]ingest.PartState{p0: {Offset: 1, Data: []byte("gen 2")}}, 0); err != nil {
		t.Fatal(err)
	}
	next.slots[p0] = old.slots[p0]
	stale, err := old.prepare(map[ingest.Partition]ingest.PartState{p0: {Offset: 5, Data: oldState}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.w.WriteMessages(ctx, stale.chunks...); err != nil {
		t.Fatal(err)
	}
	if err := next.Save(ctx, map[ingest.Partition]ingest.PartState{p0: {Offset: 9, Data: newState}}, 1); err != nil {
		t.Fatal(err)
	}
	if err := old.w.WriteMessages(ctx, stale.manifests...); err != nil {
		t.Fatal(err)
	}
	states, bad, err := newTestStore(t, c.ListenAddrs()).Load(ctx, []ingest.Partition{p0})
	if err != nil || bad[p0] != nil {
		t.Fatalf("load: %v, bad %v: the two owners' chunks mixed", err, bad[p0])
	}
	if st := states[p0]; st == nil || st.Offset != 5 || !bytes.Equal(st.Data, oldState) {
		t.Errorf("want the last manifest's state whole (offset 5)")
	}
}
