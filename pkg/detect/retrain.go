package detect

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// A retrained model goes through three steps, each at an event time, so
// that the same history gives the same models at the same windows,
// whether replayed or followed live:
//
//  1. Every RetrainEvery, a forest is fitted on the reservoir in the
//     background; scoring goes on with the model in use.
//  2. A minute later it is picked up, and for Shadow it scores every
//     ordinary window beside the model in use, without alerting.
//  3. Then it takes over, with the threshold that AlertRate of those
//     windows would exceed (see tailThreshold). A threshold is a far
//     tail quantile, which the twenty thousand windows the model learned
//     from cannot place; a day of every window can.
const (
	// minRetrainRows is the fewest ordinary windows a fit needs.
	minRetrainRows = 1000
	// minShadowWindows is the fewest windows a shadow must have scored
	// before its threshold is trusted; a quieter shadow goes on longer.
	minShadowWindows = 5000
	// shadowSample: the shadow scores one ordinary window in this many.
	shadowSample = 4
	// topKept is how many of the highest scores calibration keeps: the
	// tail it models.
	topKept = 64
	// pickUpAfter is how long, in event time, a fit has before it is
	// waited for: it takes milliseconds, so live it is always done.
	pickUpAfter = time.Minute
)

// retraining is the next model's progress through those steps.
type retraining struct {
	// due is the event time of the next fit, every RetrainEvery from the
	// start of the last one, but not while a model is in its shadow; 0
	// before the first window.
	due      int64
	training <-chan fitResult
	pickAt   int64
	shadow   *Model
	until    int64     // end of the shadow
	offered  int64     // ordinary windows offered to the shadow
	count    int64     // ordinary windows the shadow scored
	top      []float64 // the highest shadow scores, ascending
}

// retrainForest moves the next model along at event time now.
func (d *Detector) retrainForest(now int64) {
	f := d.forest
	r := &f.next
	every := int64(f.opts.RetrainEvery)
	if every <= 0 || f.res.size == 0 {
		return
	}
	switch {
	case r.training != nil:
		if now >= r.pickAt {
			f.pickUp(now)
		}
	case r.shadow != nil:
		if now >= r.until {
			d.promote(now)
		}
	case r.due == 0:
		r.due = now + every
	case now >= r.due:
		f.startFit(now, every)
	}
}

// startFit fits a forest on the reservoir in the background. The
// reservoir then forgets how much it has seen, so that the next fit
// learns mostly from the windows after this one.
func (f *forestRun) startFit(now, every int64) {
	r := &f.next
	r.due = now + every
	if f.res.len() < minRetrainRows {
		return
	}
	rows := f.res.rows()
	f.res.seen = min(f.res.seen, int64(f.res.size))
	opts := f.opts.Train
	opts.Seed = f.opts.Seed ^ uint64(now)
	done := make(chan fitResult, 1)
	go func() {
		m, err := FitModel(rows, opts)
		done <- fitResult{m, err}
	}()
	r.training, r.pickAt = done, now+int64(pickUpAfter)
}

// fitResult is what a background fit delivers.
type fitResult struct {
	m   *Model
	err error
}

// pickUp puts the fitted model in its shadow; a failed fit leaves the
// model in use, and is reported.
func (f *forestRun) pickUp(now int64) {
	r := &f.next
	res := <-r.training
	r.training = nil
	if res.err != nil {
		if f.opts.RetrainFailed != nil {
			f.opts.RetrainFailed(res.err)
		}
		return
	}
	r.shadow, r.until, r.offered, r.count, r.top = res.m, now+int64(f.opts.Shadow), 0, 0, r.top[:0]
}

// sample picks, in window order, the windows of jobs that the model in
// its shadow scores: one in shadowSample, which still gives a busy day's
// windows by the ten thousand and keeps the shadow's cost a fraction of
// scoring. It returns the score below which a window cannot be among the
// highest kept, so that scoring can stop early; the floor only rises
// while the windows are recorded, so scoring them all against it and
// recording them in order keeps what scoring them one by one would.
func (r *retraining) sample(jobs []closing) float64 {
	if r.shadow == nil {
		return 0
	}
	for i := range jobs {
		j := &jobs[i].forest
		if !j.scored {
			continue
		}
		r.offered++
		j.shadowed = r.offered%shadowSample == 0
	}
	if len(r.top) < topKept {
		return 0
	}
	return math.Nextafter(r.top[0], 1)
}

// record keeps the shadow's score of j, if among the highest.
func (r *retraining) record(j *forestJob) {
	if r.shadow == nil || !j.shadowed {
		return
	}
	r.count++
	s := j.shadow
	if !j.shadowTop || len(r.top) == topKept && s <= r.top[0] {
		return
	}
	if len(r.top) == topKept {
		r.top = r.top[1:]
	}
	i, _ := slices.BinarySearch(r.top, s)
	r.top = slices.Insert(r.top, i, s)
}

// threshold returns the shadow score that a share rate of the windows it
// scored would exceed.
func (r *retraining) threshold(rate float64) float64 {
	return tailThreshold(r.top, r.count, rate)
}

// promote puts the shadow model in use, once it has scored enough.
func (d *Detector) promote(now int64) {
	f := d.forest
	r := &f.next
	if r.count < minShadowWindows {
		r.until = now + int64(f.opts.Shadow)
		return
	}
	thr := r.threshold(f.opts.AlertRate)
	shadow := r.shadow
	r.shadow, r.top = nil, nil
	if err := CheckThreshold(thr); err != nil {
		if f.opts.RetrainFailed != nil {
			f.opts.RetrainFailed(fmt.Errorf("the retrained model was calibrated on %d windows: %w", r.count, err))
		}
		return
	}
	m := shadow.WithThreshold(thr)
	f.setModel(m)
	if f.opts.Retrained != nil {
		f.opts.Retrained(m, r.count, f.thr)
	}
}

// ForestState is the isolation forest's part of a DetState.
type ForestState struct {
	// Base identifies the configured model the retrained ones replaced:
	// when another is configured at restore, they are dropped.
	Base string
	// Model is the retrained model in use, in the iforest file format;
	// empty while the configured model is.
	Model []byte
	// The next model: Due, the time of its fit; Trained, a fit to be
	// picked up at PickAt; Shadow, a model in its shadow until Until,
	// offered Offered windows, having scored Count, the highest Top.
	Due, PickAt, Until, Offered, Count int64
	Trained, Shadow                    []byte
	Top                                []float64
	// Reservoir holds the collected windows, rows of ForestFeatures, and
	// Seen how many were offered to it.
	Reservoir []float32
	Seen      int64
}

func (f *forestRun) state() *ForestState {
	r := &f.next
	s := &ForestState{
		Base: modelID(f.opts.Model), Due: r.due, PickAt: r.pickAt, Until: r.until,
		Offered: r.offered, Count: r.count,
		Top: slices.Clone(r.top), Reservoir: slices.Clone(f.res.data), Seen: f.res.seen,
	}
	encoded := make(map[*Model][]byte, 3)
	enc := func(m *Model) []byte {
		if m == nil {
			return nil
		}
		b, ok := f.encoded[m]
		if !ok {
			b = modelBytes(m)
		}
		encoded[m] = b
		return b
	}
	if f.model != f.opts.Model {
		s.Model = enc(f.model)
	}
	if r.training != nil {
		// A fit takes milliseconds: wait for it rather than lose it.
		res := <-r.training
		r.training = resultChan(res)
		s.Trained = enc(res.m)
	}
	s.Shadow = enc(r.shadow)
	// Encoding a model takes milliseconds and megabytes: each is encoded
	// once, for as long as it is around.
	f.encoded = encoded
	return s
}

func resultChan(res fitResult) <-chan fitResult {
	ch := make(chan fitResult, 1)
	ch <- res
	return ch
}

// modelID identifies a model by when and on how many windows it was
// trained; "" for none.
func modelID(m *Model) string {
	if m == nil {
		return ""
	}
	return fmt.Sprintf("%d/%d", m.meta.TrainedAt.UnixNano(), m.meta.Rows)
}

func modelBytes(m *Model) []byte {
	if m == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		return nil // a fitted model with valid meta always saves
	}
	return buf.Bytes()
}

// ErrForestModel marks a restore that failed on one of the forest's
// retrained models: the caller may drop them (ForestState.DropModels) and
// restore the rest.
var ErrForestModel = errors.New("isolation forest model of the checkpoint")

func loadBytes(what string, b []byte) (*Model, error) {
	if len(b) == 0 {
		return nil, nil
	}
	m, err := LoadModel(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %s model: %w", ErrForestModel, what, err)
	}
	return m, nil
}

// DropModels forgets the retrained models, keeping the reservoir: a
// restore then scores with the configured model until the next
// retraining.
func (s *ForestState) DropModels() {
	s.Model, s.Trained, s.Shadow = nil, nil, nil
	s.PickAt, s.Until, s.Offered, s.Count, s.Top = 0, 0, 0, 0, nil
}

func (f *forestRun) restore(s *ForestState) error {
	if s == nil {
		return nil
	}
	if len(s.Reservoir)%numForest != 0 {
		return fmt.Errorf("forest reservoir of %d values is not rows of %d", len(s.Reservoir), numForest)
	}
	if s.Base == modelID(f.opts.Model) {
		// Else the operator trained or chose another model since: it
		// wins over what was retrained from the old one.
		if err := f.restoreModels(s); err != nil {
			return err
		}
	}
	f.res.seen = s.Seen
	f.res.data = slices.Clone(s.Reservoir)
	if f.res.len() > f.res.size {
		f.res.data = f.res.data[:f.res.size*numForest]
	}
	return nil
}

func (f *forestRun) restoreModels(s *ForestState) error {
	inUse, err := loadBytes("retrained", s.Model)
	if err != nil {
		return err
	}
	if inUse != nil {
		f.setModel(inUse)
	}
	trained, err := loadBytes("trained", s.Trained)
	if err != nil {
		return err
	}
	shadow, err := loadBytes("shadow", s.Shadow)
	if err != nil {
		return err
	}
	r := &f.next
	r.due, r.pickAt, r.until, r.offered, r.count = s.Due, s.PickAt, s.Until, s.Offered, s.Count
	r.top = slices.Clone(s.Top)
	if len(r.top) > topKept || !slices.IsSorted(r.top) {
		return fmt.Errorf("shadow scores: %d, sorted %v; want at most %d, sorted", len(r.top), slices.IsSorted(r.top), topKept)
	}
	if trained != nil {
		r.training = resultChan(fitResult{m: trained})
	}
	r.shadow = shadow
	return nil
}
