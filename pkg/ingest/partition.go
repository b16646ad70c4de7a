package ingest

import (
	"cmp"
	"strconv"
	"strings"
)

// Partition names one partition of a partitioned log, such as a Kafka
// topic's. Everything read from one partition is in order; partitions
// are independent of each other.
type Partition struct {
	Topic string
	ID    int
}

// Compare orders partitions by topic, then number.
func (p Partition) Compare(o Partition) int {
	return cmp.Or(strings.Compare(p.Topic, o.Topic), cmp.Compare(p.ID, o.ID))
}

// String gives "topic/id", the partition's name in logs, metrics and
// as a source name.
func (p Partition) String() string { return p.Topic + "/" + strconv.Itoa(p.ID) }

// PartBatch is lines read in order from one partition.
type PartBatch struct {
	Partition Partition
	Lines     [][]byte
	// Next is the offset just after the last line: reading on from Next
	// misses nothing and repeats nothing.
	Next int64
}

// PartState is a partition's saved state, as its consumer encoded it,
// covering every line before Offset.
type PartState struct {
	Offset int64
	Data   []byte
	// Summary is the small part of the state that the owners of other
	// partitions merge into their own judgement (the population
	// baseline), shared separately since it changes as often as Data.
	Summary []byte
}
