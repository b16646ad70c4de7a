package admin

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sentinel-project/sentinel/pkg/alert"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/silence"
)

// collector exposes the engine's and the sinks' own counts at scrape
// time. They are kept where they are counted (the engine's loop, each
// sink's worker) and copied here about once a second, so reading lines
// costs no metric updates at all.
type collector struct {
	mu          sync.Mutex
	status      *engine.Status
	sinks       func() map[string]alert.SinkStats
	allowlisted func() int64
	silences    *silence.Store
	reload      reloadCounts
}

type reloadCounts struct {
	ok, failed  float64
	lastOK      bool
	lastSuccess time.Time
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("sentinel_"+name, help, labels, nil)
}

var (
	linesRead     = desc("lines_read_total", "Lines read, per source.", "source")
	linesParsed   = desc("lines_parsed_total", "Lines parsed into requests, per source.", "source")
	linesRejected = desc("lines_rejected_total", "Lines that could not be parsed, per source and reason.", "source", "reason")
	linesLate     = desc("lines_late_total", "Parsed lines too late for their window, per source.", "source")
	linesCred     = desc("lines_with_credential_total", "Parsed lines that carried a credential, per source.", "source")
	bytesLost     = desc("bytes_lost_total", "Bytes known lost before they were read (copytruncate's gap, over-long lines), per source.", "source")
	bytesBehind   = desc("file_bytes_behind", "Bytes written to a followed file and not yet read.", "path")
	kafkaLag      = desc("kafka_lag_messages", "Lines written to an owned Kafka partition and not yet read.", "partition")
	kafkaStalls   = desc("kafka_reader_stalls_total", "Kafka partition readers replaced because they stopped delivering while lines were waiting.")
	kafkaSkipped  = desc("kafka_skipped_lines_total", "Lines of Kafka partitions never read: deleted by retention before their turn.")
	entities      = desc("entities", "Entities whose baselines are remembered, per kind.", "kind")
	evicted       = desc("entities_evicted_total", "Entities forgotten, idle or to stay under the limits, per kind.", "kind")
	untracked     = desc("lines_untracked_total", "Lines whose key was not tracked because its kind was at its limit (a flood of new keys), per kind.", "kind")
	openWindows   = desc("open_windows", "Windows open for counting.")
	alertsRaised  = desc("alerts_raised_total", "Alerts raised.")
	alertsRepeat  = desc("alerts_repeats_suppressed_total", "Alerts not delivered because they were raised before a restart.")
	eventTime     = desc("event_time_seconds", "Latest event time applied, as a Unix time.")
	applySeconds  = desc("apply_seconds_total", "Time spent parsing and applying lines; divided by lines read, the time per line.")
	cpLast        = desc("checkpoint_last_success_timestamp_seconds", "When the checkpoint was last saved, as a Unix time.")
	cpTook        = desc("checkpoint_duration_seconds", "How long the last checkpoint took to save.")
	cpHeld        = desc("checkpoint_snapshot_seconds", "How long taking the last checkpoint's snapshot held the engine's loop; the encoding and writing happen beside it.")
	cpBytes       = desc("checkpoint_bytes", "Size of the last checkpoint saved.")
	cpFailed      = desc("checkpoint_failures_total", "Checkpoints that could not be saved.")
	delivered     = desc("alerts_delivered_total", "Alerts delivered, per sink.", "sink")
	failed        = desc("alerts_failed_total", "Alerts given up after a permanent error or the last retry, per sink.", "sink")
	dropped       = desc("alerts_dropped_total", "Alerts never tried: the sink's queue was full, or sentinel stopped first.", "sink")
	stale         = desc("alerts_stale_total", "Alerts older than the horizon, not sent to a notifying sink.", "sink")
	allowlisted   = desc("alerts_allowlisted_total", "Alerts about allowlisted tokens or addresses, not delivered.")
	silenced      = desc("alerts_silenced_total", "Alerts held back by a silence.")
	silencesOn    = desc("silences_active", "Silences in force.")
	below         = desc("alerts_below_severity_total", "Alerts under a sink's min_severity, not sent to it.", "sink")
	queued        = desc("alert_queue_depth", "Alerts waiting to be delivered, per sink.", "sink")
	reloads       = desc("config_reloads_total", "Configuration reloads on SIGHUP, by result.", "result")
	reloadOK      = desc("config_last_reload_successful", "Whether the last configuration reload succeeded (1) or was rejected (0).")
	reloadAt      = desc("config_last_reload_success_timestamp_seconds", "When the configuration was last loaded successfully, as a Unix time.")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	st, rl := c.status, c.reload
	c.mu.Unlock()
	collectReloads(ch, rl)
	if c.sinks != nil {
		collectSinks(ch, c.sinks())
	}
	if c.allowlisted != nil {
		counter(ch, allowlisted, float64(c.allowlisted()))
	}
	if c.silences != nil {
		counter(ch, silenced, float64(c.silences.Held()))
		gauge(ch, silencesOn, float64(len(c.silences.Active())))
	}
	if st != nil {
		collectStatus(ch, st)
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func collectStatus(ch chan<- prometheus.Metric, st *engine.Status) {
	for name, src := range st.Sources {
		rejected := src.Rejected.Total()
		counter(ch, linesRead, float64(src.Lines), name)
		counter(ch, linesParsed, float64(src.Lines-rejected), name)
		counter(ch, linesLate, float64(src.Late), name)
		counter(ch, linesCred, float64(src.WithCred), name)
		counter(ch, bytesLost, float64(src.GapBytes), name)
		for reason, n := range src.Rejected {
			counter(ch, linesRejected, float64(n), name, reason)
		}
	}
	for path, n := range st.Behind {
		gauge(ch, bytesBehind, float64(n), path)
	}
	for part, n := range st.Lag {
		gauge(ch, kafkaLag, float64(n), part)
	}
	if st.Lag != nil {
		counter(ch, kafkaStalls, float64(st.KafkaStalls))
		counter(ch, kafkaSkipped, float64(st.KafkaSkipped))
	}
	gauge(ch, entities, float64(st.Tokens), "token")
	gauge(ch, entities, float64(st.Addresses), "address")
	counter(ch, evicted, float64(st.EvictedTokens), "token")
	counter(ch, evicted, float64(st.EvictedAddresses), "address")
	counter(ch, untracked, float64(st.UntrackedTokens), "token")
	counter(ch, untracked, float64(st.UntrackedAddresses), "address")
	gauge(ch, openWindows, float64(st.OpenWindows))
	counter(ch, alertsRaised, float64(st.Alerts))
	counter(ch, alertsRepeat, float64(st.Repeats))
	counter(ch, applySeconds, st.Apply.Seconds())
	counter(ch, cpFailed, float64(st.Checkpoints.Failed))
	if cp := st.Checkpoints; !cp.Last.IsZero() {
		gauge(ch, cpLast, float64(cp.Last.UnixMilli())/1000)
		gauge(ch, cpTook, cp.Took.Seconds())
		gauge(ch, cpHeld, cp.Held.Seconds())
		gauge(ch, cpBytes, float64(cp.Bytes))
	}
	if !st.EventTime.IsZero() {
		gauge(ch, eventTime, float64(st.EventTime.UnixMilli())/1000)
	}
}

func collectSinks(ch chan<- prometheus.Metric, sinks map[string]alert.SinkStats) {
	for name, s := range sinks {
		counter(ch, delivered, float64(s.Sent), name)
		counter(ch, failed, float64(s.Failed), name)
		counter(ch, dropped, float64(s.Dropped), name)
		counter(ch, stale, float64(s.Stale), name)
		counter(ch, below, float64(s.Below), name)
		gauge(ch, queued, float64(s.Queued), name)
	}
}

func collectReloads(ch chan<- prometheus.Metric, rl reloadCounts) {
	counter(ch, reloads, rl.ok, "success")
	counter(ch, reloads, rl.failed, "failure")
	ok := 0.0
	if rl.lastOK {
		ok = 1
	}
	gauge(ch, reloadOK, ok)
	gauge(ch, reloadAt, float64(rl.lastSuccess.UnixMilli())/1000)
}
