package kafka

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/sentinel-project/sentinel/pkg/ingest"
)

// Store keeps each partition's learned state in a compacted topic, the
// way Kafka Streams keeps its state stores: whichever instance owns a
// partition next reads the topic and carries on from the state its last
// owner saved, with the offset that state covers.
//
// A state is gzipped and cut into chunks, since brokers refuse messages
// over about a megabyte; a manifest keyed by the partition names the
// chunks and the offset. Chunks go to one of two slots in turn, and the
// manifest is written after them, so a save cut short leaves the
// previous manifest and its slot whole: compaction keeps the latest
// value of each key, and the slot the manifest names is never the one
// being overwritten.
//
// Each save also names a lane, the parity of the group generation it is
// made in, and each lane has its two slots of its own: an owner the
// group dropped a moment ago, still saving in its old generation, writes
// in the other lane than the partition's new owner, so the two cannot
// mix their chunks. The later manifest wins, and names whole chunks.
type Store struct {
	conn  *Conn
	topic string
	w     *kafkago.Writer
	slots map[ingest.Partition]int // slot of the last save, per partition; absent before one
}

// nextSlot returns the slot a save in lane takes after last: the other
// slot of the lane, or the lane's first when the last save was in the
// other lane or there was none.
func nextSlot(last int, known bool, lane int) int {
	if known && last/2 == lane {
		return lane*2 + 1 - last%2
	}
	return lane * 2
}

// chunkSize bounds a chunk, well under the brokers' default 1 MB message
// limit, batch overhead included.
const chunkSize = 256 << 10

// NewStore opens the state topic, creating it compacted, with a single
// partition, when it does not exist.
func NewStore(ctx context.Context, conn *Conn, topic string) (*Store, error) {
	s := &Store{conn: conn, topic: topic, slots: map[ingest.Partition]int{},
		w: &kafkago.Writer{Addr: kafkago.TCP(conn.Brokers...), Topic: topic, Transport: conn.Transport(),
			RequiredAcks: kafkago.RequireAll, BatchTimeout: 5 * time.Millisecond, BatchBytes: 4 * chunkSize,
			Balancer: &kafkago.LeastBytes{}}}
	if err := createCompacted(ctx, conn, topic); err != nil {
		return nil, err
	}
	return s, nil
}

// createCompacted creates a compacted topic of one partition, unless it
// exists. One partition keeps every key in one ordered log, which is
// what reading a topic to its end as a table needs.
func createCompacted(ctx context.Context, conn *Conn, topic string) error {
	tr := conn.Transport()
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(conn.Brokers...), Transport: tr, Timeout: dialTimeout}
	resp, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: topic, NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	return nil
}

// Close flushes and closes the writer.
func (s *Store) Close() error { return s.w.Close() }

// manifest names a partition's saved state.
type manifest struct {
	Slot   int    `json:"slot"`
	Chunks int    `json:"chunks"`
	Offset int64  `json:"offset"`
	SHA256 string `json:"sha256"` // of the gzipped state
	Saved  string `json:"saved"`
}

func manifestKey(p ingest.Partition) string { return p.Topic + "/" + strconv.Itoa(p.ID) }

// partitionKey returns the manifest key a manifest or chunk key belongs
// to: its first two parts, topic and partition.
func partitionKey(key string) string {
	i := strings.IndexByte(key, '/')
	if i < 0 {
		return key
	}
	if j := strings.IndexByte(key[i+1:], '/'); j >= 0 {
		return key[:i+1+j]
	}
	return key
}

func chunkKey(p ingest.Partition, slot, i int) string {
	return manifestKey(p) + "/" + strconv.Itoa(slot) + "/" + strconv.Itoa(i)
}

// Save writes the states in lane (0 or 1; see Store), returning once the
// brokers acknowledged them.
func (s *Store) Save(ctx context.Context, states map[ingest.Partition]ingest.PartState, lane int) error {
	sv, err := s.prepare(states, lane)
	if err != nil || len(sv.chunks) == 0 {
		return err
	}
	// Chunks first: a manifest must never name chunks not yet written.
	if err := s.w.WriteMessages(ctx, sv.chunks...); err != nil {
		return fmt.Errorf("writing partition states to %s: %w", s.topic, err)
	}
	if err := s.w.WriteMessages(ctx, sv.manifests...); err != nil {
		return fmt.Errorf("writing partition state manifests to %s: %w", s.topic, err)
	}
	maps.Copy(s.slots, sv.slots)
	return nil
}

// save is one save's messages, and the slots they take.
type save struct {
	chunks, manifests []kafkago.Message
	slots             map[ingest.Partition]int
}

func (s *Store) prepare(states map[ingest.Partition]ingest.PartState, lane int) (save, error) {
	sv := save{slots: map[ingest.Partition]int{}}
	for p, st := range states {
		z, err := gzipBytes(st.Data)
		if err != nil {
			return save{}, fmt.Errorf("compressing the state of %s: %w", p, err)
		}
		last, known := s.slots[p]
		slot := nextSlot(last, known, lane)
		n := 0
		for off := 0; off < len(z) || n == 0; off += chunkSize {
			sv.chunks = append(sv.chunks, kafkago.Message{Key: []byte(chunkKey(p, slot, n)), Value: z[off:min(off+chunkSize, len(z))]})
			n++
		}
		sum := sha256.Sum256(z)
		m, _ := json.Marshal(manifest{Slot: slot, Chunks: n, Offset: st.Offset, SHA256: hex.EncodeToString(sum[:]),
			Saved: time.Now().UTC().Format(time.RFC3339)})
		sv.manifests = append(sv.manifests, kafkago.Message{Key: []byte(manifestKey(p)), Value: m})
		sv.slots[p] = slot
	}
	return sv, nil
}

// Load reads the state topic to its end and returns the latest state of
// each partition asked for that has one. A partition whose state cannot
// be read (a chunk missing or not matching its manifest) is in bad, with
// why; err is for the topic that cannot be read at all.
func (s *Store) Load(ctx context.Context, parts []ingest.Partition) (states map[ingest.Partition]*ingest.PartState, bad map[ingest.Partition]error, err error) {
	latest, err := s.readAll(ctx, parts)
	states, bad = map[ingest.Partition]*ingest.PartState{}, map[ingest.Partition]error{}
	if errors.Is(err, kafkago.UnknownTopicOrPartition) {
		// Deleted, or a broker that lost its data: waiting would not
		// bring it back, and saves need it.
		if err := createCompacted(ctx, s.conn, s.topic); err != nil {
			return nil, nil, err
		}
		for _, p := range parts {
			bad[p] = fmt.Errorf("the state topic %s was missing, and is created again empty", s.topic)
		}
		return states, bad, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, p := range parts {
		raw, ok := latest[manifestKey(p)]
		if !ok {
			continue
		}
		st, slot, err := assemble(p, raw, latest)
		if err != nil {
			bad[p] = err
			continue
		}
		s.slots[p] = slot
		states[p] = st
	}
	return states, bad, nil
}

func assemble(p ingest.Partition, raw []byte, latest map[string][]byte) (*ingest.PartState, int, error) {
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, 0, fmt.Errorf("state of %s: unreadable manifest: %w", p, err)
	}
	var z bytes.Buffer
	for i := range m.Chunks {
		c, ok := latest[chunkKey(p, m.Slot, i)]
		if !ok {
			return nil, 0, fmt.Errorf("state of %s: chunk %d of %d is missing", p, i, m.Chunks)
		}
		z.Write(c)
	}
	if sum := sha256.Sum256(z.Bytes()); hex.EncodeToString(sum[:]) != m.SHA256 {
		return nil, 0, fmt.Errorf("state of %s: chunks do not match their manifest's checksum", p)
	}
	data, err := gunzip(z.Bytes())
	if err != nil {
		return nil, 0, fmt.Errorf("state of %s: %w", p, err)
	}
	return &ingest.PartState{Offset: m.Offset, Data: data}, m.Slot, nil
}

// readAll reads the state topic from its start to the end it had when
// the read began, keeping the latest value of the keys of parts only:
// the states of partitions owned elsewhere would cost memory for
// nothing.
func (s *Store) readAll(ctx context.Context, parts []ingest.Partition) (map[string][]byte, error) {
	wanted := map[string]bool{}
	for _, p := range parts {
		wanted[manifestKey(p)] = true
	}
	first, end, err := s.bounds(ctx)
	if err != nil {
		return nil, err
	}
	latest := map[string][]byte{}
	if end <= first {
		return latest, nil
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: s.conn.Brokers, Topic: s.topic, Partition: 0,
		Dialer: s.conn.Dialer(), MaxBytes: 8 << 20, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return nil, fmt.Errorf("reading state topic %s: %w", s.topic, err)
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading state topic %s: %w", s.topic, err)
		}
		switch key := string(m.Key); {
		case !wanted[partitionKey(key)]:
		case m.Value == nil:
			delete(latest, key) // a tombstone
		default:
			latest[key] = m.Value
		}
		if m.Offset+1 >= end {
			return latest, nil
		}
	}
}

// bounds returns the state topic's first offset and its end (the offset
// the next message will get).
func (s *Store) bounds(ctx context.Context) (first, end int64, err error) {
	return listBounds(ctx, s.conn, ingest.Partition{Topic: s.topic})
}

// listBounds returns a partition's first offset and its end.
func listBounds(ctx context.Context, conn *Conn, p ingest.Partition) (first, end int64, err error) {
	// A transport per call: these calls are seconds apart, and a pooled
	// connection broken by a broker restart would fail the next one.
	tr := conn.Transport()
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(conn.Brokers...), Transport: tr, Timeout: dialTimeout}
	resp, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{
		p.Topic: {kafkago.FirstOffsetOf(p.ID), kafkago.LastOffsetOf(p.ID)}}})
	if err != nil {
		return 0, 0, fmt.Errorf("listing the offsets of %s: %w", p, err)
	}
	for _, po := range resp.Topics[p.Topic] {
		if po.Partition != p.ID {
			continue
		}
		if po.Error != nil {
			return 0, 0, fmt.Errorf("listing the offsets of %s: %w", p, po.Error)
		}
		return po.FirstOffset, po.LastOffset, nil
	}
	return 0, 0, fmt.Errorf("listing the offsets of %s: the brokers did not answer for it", p)
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gunzip(z []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	return data, nil
}
