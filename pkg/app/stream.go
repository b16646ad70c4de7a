package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/engine"
	"github.com/sentinel-project/sentinel/pkg/features"
	"github.com/sentinel-project/sentinel/pkg/ingest"
	"github.com/sentinel-project/sentinel/pkg/kafka"
)

// KafkaSource is a Kafka source ready to run: its connection settings
// and how its lines are parsed.
type KafkaSource struct {
	Kafka  config.Kafka
	Format engine.Format
}

// errMixedSources refuses files and Kafka in one run: a Kafka source's
// state follows its partitions across instances, and a file's cannot.
var errMixedSources = errors.New("a Kafka source runs alone: give either Kafka or files and standard input, not both")

// Kafka returns the Kafka source of a run, named on the command line as
// a kafka:// URL or in the configuration, or nil when the run reads
// files.
func Kafka(c *config.Config, args []string) (*KafkaSource, error) {
	for _, a := range args {
		if strings.HasPrefix(a, "kafka:") && !config.IsKafkaURL(a) {
			// Else taken for a file glob that matches nothing.
			return nil, fmt.Errorf("a Kafka source starts with kafka:// (two slashes)")
		}
	}
	urls := slices.IndexFunc(args, config.IsKafkaURL) >= 0
	if urls {
		if len(args) != 1 {
			return nil, errMixedSources
		}
		return kafkaFromURL(c, args[0])
	}
	if len(args) > 0 {
		return nil, nil
	}
	i := slices.IndexFunc(c.Sources, func(s config.Source) bool { return s.Kafka != nil })
	if i < 0 {
		return nil, nil
	}
	if len(c.Sources) != 1 {
		return nil, errMixedSources
	}
	return kafkaSource(c, c.Sources[i])
}

func kafkaFromURL(c *config.Config, url string) (*KafkaSource, error) {
	k, err := config.ParseKafkaURL(url)
	if err != nil {
		return nil, err
	}
	config.ApplyKafkaDefaults(&k)
	if err := config.ValidateKafka(&k, true); err != nil {
		return nil, err
	}
	if err := config.KafkaPassword(&k); err != nil {
		return nil, err
	}
	src := config.Source{Kafka: &k}
	if i := slices.IndexFunc(c.Sources, func(s config.Source) bool { return s.Kafka != nil }); i >= 0 {
		// The configured Kafka source's format and mapping still apply.
		src.Format, src.Mapping, src.Pull = c.Sources[i].Format, c.Sources[i].Mapping, c.Sources[i].Pull
	}
	return kafkaSource(c, src)
}

func kafkaSource(c *config.Config, s config.Source) (*KafkaSource, error) {
	if s.Format == "" && s.Mapping == nil {
		// Kafka's lines are the records `sentinel ship` writes, unless
		// the source says otherwise.
		s.Format = ingest.FormatShipped
	}
	f, err := format(c, s)
	if err != nil {
		return nil, fmt.Errorf("kafka source: %w", err)
	}
	return &KafkaSource{Kafka: *s.Kafka, Format: f}, nil
}

// skipKinds turns a source's judge list into the kinds not counted.
func skipKinds(judge []string) [features.NumKinds]bool {
	return [features.NumKinds]bool{
		features.Token: !slices.Contains(judge, "token"),
		features.IP:    !slices.Contains(judge, "ip"),
	}
}

// runStream runs the engine over the Kafka source: a Stream judging the
// partitions this instance is assigned, fed by a consumer in the group.
func (d *Daemon) runStream(ctx context.Context, eo engine.Options, p *parts) error {
	k := &d.Kafka.Kafka
	eo.Features.Skip = skipKinds(k.Judge)
	conn, err := kafka.NewConn(k)
	if err != nil {
		return err
	}
	ro := d.runOptions(ctx, eo, p)
	cons, err := kafka.NewConsumer(ctx, kafka.ConsumerOptions{
		Conn: conn, Group: k.Group, Topics: k.Topics, StateTopic: k.StateTopic, PopulationTopic: k.PopulationTopic,
		Latest: k.Start == "latest", SessionTimeout: k.SessionTimeout, HeartbeatInterval: k.SessionTimeout / 10,
		RebalanceTimeout: k.RebalanceTimeout,
		SaveEvery:        d.Config.CheckpointInterval, Logger: d.Log,
		// Ready once the group gave this instance its share: before
		// that it judges nothing.
		Joined: ro.Ready,
	})
	if ctx.Err() != nil {
		return nil // stopped while waiting for the brokers
	}
	if err != nil {
		return err
	}
	skips := map[string][features.NumKinds]bool{}
	for _, topic := range k.Topics {
		skips[topic] = skipKinds(k.JudgeOf(topic))
	}
	stream, err := engine.NewStream(engine.StreamOptions{
		Options: eo, Format: d.Kafka.Format, StateDir: d.Config.StateDir, SkipByTopic: skips,
		Deliver: ro.Deliver, WaitRecorded: ro.WaitRecorded, Retune: ro.Retune, Evidence: ro.Evidence,
		Status: func(st *engine.Status) {
			st.Lag, st.KafkaStalls, st.KafkaSkipped = map[string]int64{}, cons.Stalls(), cons.Skipped()
			sv := cons.Saves()
			st.Checkpoints = engine.Checkpoints{Last: sv.Last, Took: sv.Took, Bytes: sv.Bytes, Failed: sv.Failed}
			for part, n := range cons.Lag() {
				st.Lag[part.String()] = n
			}
			ro.Status(st)
		},
	})
	if err != nil {
		return err
	}
	defer stream.Close()
	// The stream outlives the consumer, which saves the partitions'
	// states through it when it stops.
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		stream.Run(sctx)
	}()
	d.Log.Info().Strs("topics", k.Topics).Str("group", k.Group).Str("state_topic", k.StateTopic).
		Strs("judge", k.Judge).Msg("kafka: joining the consumer group")
	err = cons.Run(ctx, stream)
	stop()
	<-done
	return err
}

var _ kafka.Handler = (*engine.Stream)(nil)
