// Package kafka speaks Kafka for sentinel, through segmentio/kafka-go: it
// connects (TLS, SASL), consumes request lines in a consumer group
// partition by partition, produces shipped records, and keeps each
// partition's learned state in a compacted topic. It moves bytes only;
// what the lines and the state mean is the engine's business.
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/sentinel-project/sentinel/pkg/config"
)

// Conn holds how to reach a cluster, built once from the configuration.
type Conn struct {
	Brokers  []string
	ClientID string
	TLS      *tls.Config
	SASL     sasl.Mechanism
}

// NewConn builds the connection settings of a Kafka source or
// destination. The password must already be resolved (config.Parse or
// config.KafkaPassword do it).
func NewConn(k *config.Kafka) (*Conn, error) {
	c := &Conn{Brokers: k.Brokers, ClientID: k.ClientID}
	if k.TLS != nil {
		t, err := tlsConfig(k.TLS)
		if err != nil {
			return nil, err
		}
		c.TLS = t
	}
	if k.SASL != nil {
		m, err := mechanism(k.SASL)
		if err != nil {
			return nil, err
		}
		c.SASL = m
	}
	return c, nil
}

func tlsConfig(t *config.KafkaTLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // documented as for tests only
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: reading ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls: ca_file %s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: loading the client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func mechanism(s *config.KafkaSASL) (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "PLAIN":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "SCRAM-SHA-256":
		return scramMechanism(scram.SHA256, s)
	case "SCRAM-SHA-512":
		return scramMechanism(scram.SHA512, s)
	}
	return nil, fmt.Errorf("kafka sasl: mechanism %q: allowed are PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", s.Mechanism)
}

func scramMechanism(algo scram.Algorithm, s *config.KafkaSASL) (sasl.Mechanism, error) {
	m, err := scram.Mechanism(algo, s.Username, s.Password)
	if err != nil {
		// The error of the scram library could quote the input; say only
		// what failed.
		return nil, fmt.Errorf("kafka sasl: preparing %s for user %q failed", s.Mechanism, s.Username)
	}
	return m, nil
}

// dialTimeout bounds a connection attempt: a broker that is down must
// not hold the loop longer than a retry's worth.
const dialTimeout = 10 * time.Second

// Dialer returns a kafka-go dialer for consumer groups and readers.
func (c *Conn) Dialer() *kafkago.Dialer {
	return &kafkago.Dialer{ClientID: c.ClientID, Timeout: dialTimeout, DualStack: true,
		TLS: c.TLS, SASLMechanism: c.SASL}
}

// Transport returns a kafka-go transport for writers and the client.
func (c *Conn) Transport() *kafkago.Transport {
	return &kafkago.Transport{ClientID: c.ClientID, DialTimeout: dialTimeout, TLS: c.TLS, SASL: c.SASL}
}

// Check connects to the brokers, with TLS and SASL, until one accepts.
// kafka-go's client reports a refused login as a broker not available;
// a dial says what went wrong.
func (c *Conn) Check(ctx context.Context) error {
	var errs []error
	for _, b := range c.Brokers {
		conn, err := c.Dialer().DialContext(ctx, "tcp", b)
		if err == nil {
			conn.Close()
			return nil
		}
		errs = append(errs, fmt.Errorf("connecting to kafka broker %s: %w", b, err))
	}
	return errors.Join(errs...)
}
