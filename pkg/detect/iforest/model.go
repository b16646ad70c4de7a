package iforest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"slices"
	"time"
)

// FormatVersion is the version of the model file layout that Save writes
// and Load reads.
const FormatVersion = 2

// magic opens every model file.
const magic = "SNTLIFOR"

// Limits on what Load accepts, so that a corrupt header cannot make it
// allocate without bound before the data runs out.
const (
	maxTrees      = 1 << 16
	maxSampleSize = 1 << 24
	maxDims       = 1 << 16
	maxNameLen    = 1 << 12
)

// Meta describes how a model's input was built: the name of each feature
// and the scaling applied to it before fitting, x' = (x - Offset) / Scale.
// Save writes it beside the trees; Load returns it, so that a model is
// never applied to features it was not trained on.
type Meta struct {
	// Features names the features in column order; it must have one name
	// per feature of the forest.
	Features []string
	// Offset and Scale are the per-feature scaling, either empty (none)
	// or one value per feature.
	Offset []float64
	Scale  []float64
	// Threshold is the score above which the model's user should call a
	// point anomalous, as calibrated when it was trained; 0 when none
	// was. It must lie in [0, 1].
	Threshold float64
	// TrainedAt and Rows are when and on how many rows the forest was
	// fitted. Save takes them from the forest, not from the Meta it is
	// given; Load fills them in.
	TrainedAt time.Time
	Rows      int
}

// CheckFeatures returns an error naming the difference when names is not
// the model's feature list, in the same order.
func (m Meta) CheckFeatures(names []string) error {
	if slices.Equal(m.Features, names) {
		return nil
	}
	missing := diff(m.Features, names)
	extra := diff(names, m.Features)
	if len(missing) > 0 || len(extra) > 0 {
		return fmt.Errorf("feature mismatch: the model was trained on %d features, %d given; missing %q, unknown to the model %q",
			len(m.Features), len(names), missing, extra)
	}
	for i := range min(len(names), len(m.Features)) {
		if names[i] != m.Features[i] {
			return fmt.Errorf("feature order mismatch: feature %d is %q in the model but %q here", i, m.Features[i], names[i])
		}
	}
	return fmt.Errorf("feature mismatch: the model has %d features, %d given, with repeated names", len(m.Features), len(names))
}

// diff returns the elements of a that are not in b.
func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// Save writes the fitted forest and meta to w in the model file format,
// version FormatVersion. All integers and floats are little-endian:
//
//	magic       8 bytes   "SNTLIFOR"
//	version     uint16    FormatVersion
//	flags       uint16    bit 0: extended forest
//	trees       uint32
//	psi         uint32    effective sample size
//	dims        uint32
//	nnz         uint32    non-zero components per hyperplane; 0 if standard
//	seed        uint64
//	rows        uint64    training rows
//	trainedAt   int64     Unix nanoseconds, UTC
//	names       dims ×    (uint16 length, UTF-8 bytes)
//	scaled      uint32    0, or dims: the length of each of the next two
//	offset      scaled × float64
//	scale       scaled × float64
//	threshold   float64   Meta.Threshold (since version 2)
//	per tree:
//	  nodes     uint32 count, then count × (int32 feat, int32 right, float64 value)
//	  planes    extended only: uint32 count, then count×nnz int32
//	            feature indices, then count×nnz float64 components
//	crc         uint32    CRC-32 (IEEE) of every byte before it
//
// Nodes are in preorder; feat is -1 for an external node, whose value is
// its whole path length, depth + c(size); an internal node's left child
// follows it and its right child is at index right within the tree.
func (f *Forest) Save(w io.Writer, meta Meta) error {
	if err := f.checkMeta(meta); err != nil {
		return fmt.Errorf("saving isolation forest: %w", err)
	}
	e := &encoder{w: bufio.NewWriter(w), crc: crc32.NewIEEE()}
	f.encodeHeader(e, meta)
	for i := range f.trees {
		f.encodeTree(e, &f.trees[i])
	}
	e.u32(e.crc.Sum32())
	if err := e.flush(); err != nil {
		return fmt.Errorf("saving isolation forest: %w", err)
	}
	return nil
}

func (f *Forest) checkMeta(m Meta) error {
	switch {
	case len(f.trees) == 0:
		return errors.New("forest is not fitted")
	case len(m.Features) != f.dims:
		return fmt.Errorf("meta names %d features, the forest has %d", len(m.Features), f.dims)
	case len(m.Offset) != len(m.Scale):
		return fmt.Errorf("meta has %d offsets and %d scales", len(m.Offset), len(m.Scale))
	case len(m.Offset) != 0 && len(m.Offset) != f.dims:
		return fmt.Errorf("meta has scaling for %d features, the forest has %d", len(m.Offset), f.dims)
	case !(m.Threshold >= 0 && m.Threshold <= 1):
		return fmt.Errorf("meta threshold is %v, it must lie in [0, 1]", m.Threshold)
	}
	for i, name := range m.Features {
		if len(name) > maxNameLen {
			return fmt.Errorf("feature %d's name is %d bytes, the limit is %d", i, len(name), maxNameLen)
		}
	}
	return nil
}

func (f *Forest) encodeHeader(e *encoder, m Meta) {
	e.bytes([]byte(magic))
	e.u16(FormatVersion)
	var flags uint16
	if f.opts.Extended {
		flags |= 1
	}
	e.u16(flags)
	e.u32(uint32(len(f.trees)))
	e.u32(uint32(f.psi))
	e.u32(uint32(f.dims))
	e.u32(uint32(f.nnz))
	e.u64(f.opts.Seed)
	e.u64(uint64(f.rows))
	e.u64(uint64(f.at.UnixNano()))
	for _, name := range m.Features {
		e.u16(uint16(len(name)))
		e.bytes([]byte(name))
	}
	e.u32(uint32(len(m.Offset)))
	e.floats(m.Offset)
	e.floats(m.Scale)
	e.f64(m.Threshold)
}

func (f *Forest) encodeTree(e *encoder, t *tree) {
	e.u32(uint32(len(t.nodes)))
	for _, n := range t.nodes {
		e.u32(uint32(n.feat))
		e.u32(uint32(n.right))
		e.f64(n.value)
	}
	if f.nnz == 0 {
		return
	}
	e.u32(uint32(len(t.coef) / f.nnz))
	for _, q := range t.idx {
		e.u32(uint32(q))
	}
	e.floats(t.coef)
}

// encoder writes little-endian values and hashes them, keeping the first
// error.
type encoder struct {
	w   *bufio.Writer
	crc hash.Hash32
	buf [8]byte
	err error
}

func (e *encoder) bytes(p []byte) {
	if e.err != nil {
		return
	}
	e.crc.Write(p)
	_, e.err = e.w.Write(p)
}

func (e *encoder) u16(v uint16)  { e.bytes(binary.LittleEndian.AppendUint16(e.buf[:0], v)) }
func (e *encoder) u32(v uint32)  { e.bytes(binary.LittleEndian.AppendUint32(e.buf[:0], v)) }
func (e *encoder) u64(v uint64)  { e.bytes(binary.LittleEndian.AppendUint64(e.buf[:0], v)) }
func (e *encoder) f64(v float64) { e.u64(math.Float64bits(v)) }

func (e *encoder) floats(v []float64) {
	for _, x := range v {
		e.f64(x)
	}
}

func (e *encoder) flush() error {
	if e.err != nil {
		return e.err
	}
	return e.w.Flush()
}

// Load reads a model written by Save. It refuses another format version,
// and checks the trees' structure so that scoring a loaded forest cannot
// fail; a truncated or corrupted file is an error. The returned forest
// scores with GOMAXPROCS workers.
func Load(r io.Reader) (*Forest, Meta, error) {
	d := &decoder{r: bufio.NewReader(r), crc: crc32.NewIEEE()}
	f, m, err := d.forest()
	if err != nil {
		return nil, Meta{}, fmt.Errorf("loading isolation forest: %w", err)
	}
	return f, m, nil
}

// decoder reads little-endian values and hashes them. Its methods return
// zero after the first error, which err keeps; callers check it at the
// points where a bad value would otherwise be used.
type decoder struct {
	r   *bufio.Reader
	crc hash.Hash32
	buf [8]byte
	err error
}

// read returns the next n bytes, valid until the next call.
func (d *decoder) read(n int) []byte {
	p := d.buf[:]
	if n > len(p) {
		p = make([]byte, n)
	}
	p = p[:n]
	if d.err != nil {
		clear(p)
		return p
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = fmt.Errorf("file is truncated: %w", err)
		return p
	}
	d.crc.Write(p)
	return p
}

func (d *decoder) u16() uint16  { return binary.LittleEndian.Uint16(d.read(2)) }
func (d *decoder) u32() uint32  { return binary.LittleEndian.Uint32(d.read(4)) }
func (d *decoder) u64() uint64  { return binary.LittleEndian.Uint64(d.read(8)) }
func (d *decoder) f64() float64 { return math.Float64frombits(d.u64()) }

// count reads a uint32 count and checks it against a limit.
func (d *decoder) count(what string, limit int) int {
	n := d.u32()
	if d.err == nil && int64(n) > int64(limit) {
		d.err = fmt.Errorf("%s is %d, more than the %d a valid file can have", what, n, limit)
	}
	return int(n)
}

func (d *decoder) floats(n int) []float64 {
	v := make([]float64, 0, min(n, 1<<12))
	for range n {
		if d.err != nil {
			return nil
		}
		v = append(v, d.f64())
	}
	return v
}

func (d *decoder) forest() (*Forest, Meta, error) {
	f, m := &Forest{}, Meta{}
	if err := d.header(f, &m); err != nil {
		return nil, Meta{}, err
	}
	f.trees = make([]tree, 0, min(f.opts.Trees, 1<<10))
	for i := range f.opts.Trees {
		t, err := d.tree(f)
		if err != nil {
			return nil, Meta{}, fmt.Errorf("tree %d: %w", i, err)
		}
		f.trees = append(f.trees, t)
	}
	sum := d.crc.Sum32()
	if got := d.u32(); d.err != nil {
		return nil, Meta{}, d.err
	} else if got != sum {
		return nil, Meta{}, fmt.Errorf("checksum mismatch: file says %08x, content hashes to %08x; the file is corrupt", got, sum)
	}
	m.Rows, m.TrainedAt = f.rows, f.at
	f.bound()
	return f, m, nil
}

func (d *decoder) header(f *Forest, m *Meta) error {
	if got := string(d.read(len(magic))); d.err != nil {
		return fmt.Errorf("not an isolation forest model: shorter than its %d-byte header", len(magic))
	} else if got != magic {
		return fmt.Errorf("not an isolation forest model: starts with %q, want %q", got, magic)
	}
	if v := d.u16(); d.err == nil && v != FormatVersion {
		return fmt.Errorf("model file format version %d, this build reads only version %d: retrain or convert the model", v, FormatVersion)
	}
	flags := d.u16()
	f.opts.Extended = flags&1 != 0
	f.opts.Trees = d.count("tree count", maxTrees)
	f.psi = d.count("sample size", maxSampleSize)
	f.dims = d.count("feature count", maxDims)
	f.nnz = d.count("hyperplane size", maxDims)
	f.opts.Seed = d.u64()
	f.rows = int(min(d.u64(), math.MaxInt32))
	f.at = time.Unix(0, int64(d.u64())).UTC()
	if d.err != nil {
		return d.err
	}
	if err := f.checkHeader(flags); err != nil {
		return err
	}
	return d.meta(f, m)
}

// checkHeader checks the header's fields against each other.
func (f *Forest) checkHeader(flags uint16) error {
	switch {
	case flags&^1 != 0:
		return fmt.Errorf("unknown flags %#x", flags)
	case f.opts.Trees == 0 || f.psi == 0 || f.dims == 0:
		return fmt.Errorf("empty forest: %d trees, sample size %d, %d features", f.opts.Trees, f.psi, f.dims)
	case f.opts.Extended && (f.nnz < 1 || f.nnz > f.dims):
		return fmt.Errorf("extended forest with %d-component hyperplanes over %d features", f.nnz, f.dims)
	case !f.opts.Extended && f.nnz != 0:
		return fmt.Errorf("standard forest with %d-component hyperplanes", f.nnz)
	}
	f.opts.SampleSize = f.psi
	if f.opts.Extended {
		f.opts.ExtensionLevel = f.nnz - 1
	}
	f.norm = avgPath(f.psi)
	return nil
}

func (d *decoder) meta(f *Forest, m *Meta) error {
	m.Features = make([]string, 0, min(f.dims, 1<<10))
	for range f.dims {
		n := int(d.u16())
		if d.err == nil && n > maxNameLen {
			return fmt.Errorf("feature name of %d bytes, the limit is %d", n, maxNameLen)
		}
		m.Features = append(m.Features, string(d.read(n)))
		if d.err != nil {
			return d.err
		}
	}
	scaled := d.count("scaling length", f.dims)
	if d.err == nil && scaled != 0 && scaled != f.dims {
		return fmt.Errorf("scaling for %d features, the model has %d", scaled, f.dims)
	}
	m.Offset, m.Scale = d.floats(scaled), d.floats(scaled)
	m.Threshold = d.f64()
	if d.err == nil && !(m.Threshold >= 0 && m.Threshold <= 1) {
		return fmt.Errorf("threshold %v is outside [0, 1]", m.Threshold)
	}
	return d.err
}

func (d *decoder) tree(f *Forest) (tree, error) {
	var t tree
	limit := bits.Len(uint(f.psi - 1))
	n := d.count("node count", 1<<(limit+1)-1)
	t.nodes = make([]node, 0, min(n, 1<<12))
	for range n {
		t.nodes = append(t.nodes, node{feat: int32(d.u32()), right: int32(d.u32()), value: d.f64()})
		if d.err != nil {
			return t, d.err
		}
	}
	if f.nnz > 0 {
		planes := d.count("hyperplane count", n)
		t.idx = make([]int32, 0, min(planes*f.nnz, 1<<12))
		for range planes * f.nnz {
			t.idx = append(t.idx, int32(d.u32()))
			if d.err != nil {
				return t, d.err
			}
		}
		t.coef = d.floats(planes * f.nnz)
	}
	if d.err != nil {
		return t, d.err
	}
	if err := t.check(f.dims, f.nnz); err != nil {
		return t, err
	}
	// No external node of a grown tree is deeper than the height limit or
	// holds more than psi rows; a longer path would let a corrupt file
	// drive scores to zero.
	most := float64(limit) + avgPath(f.psi) + 1e-9
	for i, n := range t.nodes {
		if n.feat < 0 && n.value > most {
			return t, fmt.Errorf("node %d: path length %v, more than the %v a tree of %d rows can have", i, n.value, most, f.psi)
		}
	}
	return t, nil
}

// check verifies what scoring relies on: every internal node's children
// come after it inside the tree, so that a walk ends at an external node,
// and every feature or hyperplane index is in range.
func (t *tree) check(dims, nnz int) error {
	if len(t.nodes) == 0 {
		return errors.New("no nodes")
	}
	planes := len(t.coef) / max(nnz, 1)
	for i, n := range t.nodes {
		if err := n.check(i, len(t.nodes), dims, planes, nnz > 0); err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
	}
	for h := range planes {
		idx := t.idx[h*nnz : (h+1)*nnz]
		for j, q := range idx {
			// Increasing indices are what Save writes, and what makes a
			// full-extension normal dense for scoring.
			if q < 0 || int(q) >= dims || (j > 0 && q <= idx[j-1]) {
				return fmt.Errorf("hyperplane %d: feature indices %v are not increasing within [0, %d)", h, idx, dims)
			}
		}
		for _, c := range t.coef[h*nnz : (h+1)*nnz] {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				return fmt.Errorf("hyperplane %d: component %v", h, c)
			}
		}
	}
	return nil
}

func (n node) check(i, count, dims, planes int, extended bool) error {
	if math.IsNaN(n.value) || math.IsInf(n.value, 0) {
		return fmt.Errorf("value %v", n.value)
	}
	if n.feat < 0 {
		if n.feat != -1 || n.value < 0 {
			return fmt.Errorf("external node with feature %d and path length %v", n.feat, n.value)
		}
		return nil
	}
	limit := dims
	if extended {
		limit = planes
	}
	if int(n.feat) >= limit {
		return fmt.Errorf("cut on feature or hyperplane %d, out of range", n.feat)
	}
	if int(n.right) <= i+1 || int(n.right) >= count {
		return fmt.Errorf("right child at %d, want within (%d, %d)", n.right, i+1, count)
	}
	return nil
}
