package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/sentinel-project/sentinel/pkg/app"
	"github.com/sentinel-project/sentinel/pkg/config"
	"github.com/sentinel-project/sentinel/pkg/kafka"
	"github.com/sentinel-project/sentinel/pkg/ship"
)

func shipCmd(ctx context.Context, args []string, _ io.Reader, _, stderr io.Writer) error {
	fs := newFlags("ship", stderr)
	cfgPath := fs.String("config", "", "configuration file (defaults apply without one)")
	to := fs.String("to", "", "destination kafka://BROKER[,BROKER...]/TOPIC, overriding ship.to (SASL password from SENTINEL_KAFKA_PASSWORD)")
	addrTopic := fs.String("address-topic", "", "topic receiving every request again keyed by client address, overriding ship.address_topic")
	stateDir := fs.String("state-dir", "", "directory of the file positions, overriding ship.state_dir (default STATE_DIR/ship)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	dest, err := shipDestination(c, *to)
	if err != nil {
		return err
	}
	sources, err := app.Sources(c, fs.Args())
	if err != nil {
		return usageErr("%v", err)
	}
	conn, err := kafka.NewConn(dest)
	if err != nil {
		return err
	}
	// A refused login or certificate is a mistake waiting will not mend;
	// brokers that are down are waited for, holding the lines.
	if err := conn.CheckSettings(ctx); err != nil {
		return fmt.Errorf("shipping: %w", err)
	}
	opts := ship.Options{Sources: sources, Topic: dest.Topics[0], AddressTopic: pick(*addrTopic, c.Ship.AddressTopic),
		StateDir: pick(*stateDir, c.Ship.StateDir, filepath.Join(c.StateDir, "ship")),
		Logger:   app.NewLogger(c.Log, stderr), Brokers: dest.Brokers}
	prod := kafka.NewProducer(conn)
	opts.Producer = prod
	_, err = ship.Run(ctx, opts)
	if cerr := prod.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("shipping: %w", err)
	}
	return nil
}

// shipDestination returns --to when given, else the configuration's
// ship.to, checked and with its password resolved.
func shipDestination(c *config.Config, to string) (*config.Kafka, error) {
	if to == "" {
		if c.Ship.To == nil {
			return nil, usageErr("no destination: give --to kafka://BROKER/TOPIC or ship.to in the configuration")
		}
		return c.Ship.To, nil
	}
	k, err := config.ParseKafkaURL(to)
	if err != nil {
		return nil, usageErr("--to: %v", err)
	}
	if k.Group != "" || k.Start != "" || len(k.Judge) > 0 || k.StateTopic != "" || k.PopulationTopic != "" {
		return nil, usageErr("--to: group, start, judge, state_topic and population_topic are settings of a Kafka source, not of where ship writes")
	}
	config.ApplyKafkaDefaults(&k)
	if err := config.ValidateKafka(&k, false); err != nil {
		return nil, usageErr("--to: %v", err)
	}
	if err := config.KafkaPassword(&k); err != nil {
		return nil, usageErr("--to: %v", err)
	}
	return &k, nil
}

// pick returns the first non-empty value.
func pick(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
