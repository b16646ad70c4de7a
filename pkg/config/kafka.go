package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kafka is a Kafka source (sources[].kafka) or the destination of
// `sentinel ship` (ship.to). Brokers, TLS and SASL say how to connect;
// the rest says what to read.
type Kafka struct {
	Brokers []string `yaml:"brokers"`
	// Topics are read by a source; a ship destination writes to the
	// first.
	Topics []string `yaml:"topics"`
	// Group is the consumer group that divides the topics' partitions
	// between sentinel instances.
	Group    string `yaml:"group"`
	ClientID string `yaml:"client_id"`
	// Start is where a group with no committed offset begins: earliest
	// (the default, so nothing produced before the first start is
	// missed) or latest.
	Start string `yaml:"start"`
	// Judge lists the entity kinds judged from this source: token, ip, or
	// both (the default). A topic keyed by token should judge tokens
	// only, and one keyed by address addresses only; see docs/kafka.md.
	Judge []string `yaml:"judge"`
	// JudgeTopics overrides Judge for the topics it names, so that one
	// group can read a topic keyed by token and one keyed by address,
	// judging tokens from the first and addresses from the second.
	JudgeTopics map[string][]string `yaml:"judge_topics"`
	// StateTopic is the compacted topic where each partition's learned
	// state is kept for whichever instance owns the partition next;
	// GROUP.state by default.
	StateTopic string `yaml:"state_topic"`
	// PopulationTopic is the compacted topic where instances share their
	// partitions' population baselines, so that new tokens are judged
	// against the whole fleet's; GROUP.population by default.
	PopulationTopic string `yaml:"population_topic"`
	// SessionTimeout is how long the group waits for a member that
	// stopped answering before its partitions go to the others: the
	// longest a crashed instance's partitions go unread. Heartbeats go
	// at a tenth of it. 30s by default.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// RebalanceTimeout is how long members may take to save their
	// partitions' states and rejoin when the group changes; 30s by
	// default.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	TLS              *KafkaTLS     `yaml:"tls"`
	SASL             *KafkaSASL    `yaml:"sasl"`
}

// KafkaTLS turns on TLS to the brokers. Empty files mean the system's
// roots and no client certificate.
type KafkaTLS struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate: for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// KafkaSASL authenticates to the brokers.
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password is best given as "${NAME}", read from the environment.
	Password string `yaml:"password"`
}

// SASL mechanisms accepted.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// Kafka start positions accepted.
var kafkaStarts = []string{"earliest", "latest"}

// Entity kinds a Kafka source can judge.
var judgeKinds = []string{"token", "ip"}

// KafkaScheme starts a Kafka source or destination given on the command
// line.
const KafkaScheme = "kafka://"

// IsKafkaURL reports whether a command-line source names Kafka.
func IsKafkaURL(s string) bool { return strings.HasPrefix(s, KafkaScheme) }

// ParseKafkaURL reads kafka://BROKER[,BROKER...]/TOPIC[,TOPIC...] with the
// query parameters group, client_id, start, judge (comma-separated),
// state_topic, tls (true), ca_file, server_name, sasl (a mechanism) and
// user. A password never travels in a URL, which ends up in process
// listings and shell history: with sasl set it is read from the
// environment variable SENTINEL_KAFKA_PASSWORD by the caller.
func ParseKafkaURL(s string) (Kafka, error) {
	if hasUserinfo(s) {
		// Checked before parsing, so that no error ever quotes it.
		return Kafka{}, fmt.Errorf("kafka URL: credentials in the URL are refused: give sasl=MECHANISM&user=NAME and the password in SENTINEL_KAFKA_PASSWORD")
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "kafka" {
		// Not quoted: a URL that does not parse may hold anything.
		return Kafka{}, fmt.Errorf("not a Kafka URL: allowed is kafka://BROKER[,BROKER...]/TOPIC[,TOPIC...]?group=NAME")
	}
	k := Kafka{Brokers: splitList(u.Host), Topics: splitList(strings.Trim(u.Path, "/"))}
	q := u.Query()
	for name := range q {
		if !slices.Contains(kafkaURLParams, name) {
			return Kafka{}, fmt.Errorf("kafka URL: unknown parameter %q: allowed are %s", name, strings.Join(kafkaURLParams, ", "))
		}
	}
	k.Group, k.ClientID, k.Start = q.Get("group"), q.Get("client_id"), q.Get("start")
	k.StateTopic, k.PopulationTopic = q.Get("state_topic"), q.Get("population_topic")
	k.Judge = splitList(q.Get("judge"))
	if err := k.urlTLS(q); err != nil {
		return Kafka{}, err
	}
	if m := q.Get("sasl"); m != "" {
		k.SASL = &KafkaSASL{Mechanism: strings.ToUpper(m), Username: q.Get("user"), Password: "${SENTINEL_KAFKA_PASSWORD}"}
	}
	return k, nil
}

// hasUserinfo reports whether a URL holds an "@" before its query,
// which only credentials put there: topic and host names cannot hold
// one, while a user name given as a parameter may.
func hasUserinfo(s string) bool {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	return strings.Contains(s, "@")
}

var kafkaURLParams = []string{"group", "client_id", "start", "judge", "state_topic", "population_topic", "tls", "ca_file", "server_name", "sasl", "user"}

func (k *Kafka) urlTLS(q url.Values) error {
	on := q.Get("tls")
	if on == "" && q.Get("ca_file") == "" {
		return nil
	}
	if on != "" {
		b, err := strconv.ParseBool(on)
		if err != nil {
			return fmt.Errorf("kafka URL: tls=%q: allowed are true or false", on)
		}
		if !b {
			return nil
		}
	}
	k.TLS = &KafkaTLS{CAFile: q.Get("ca_file"), ServerName: q.Get("server_name")}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// applyDefaults fills what a Kafka source leaves unset.
func (k *Kafka) applyDefaults() {
	setDefault(&k.ClientID, "sentinel")
	setDefault(&k.SessionTimeout, 30*time.Second)
	setDefault(&k.RebalanceTimeout, 30*time.Second)
	setDefault(&k.Start, "earliest")
	if len(k.Judge) == 0 {
		k.Judge = slices.Clone(judgeKinds)
	}
	if k.Group != "" {
		setDefault(&k.StateTopic, k.Group+".state")
		setDefault(&k.PopulationTopic, k.Group+".population")
	}
}

// ApplyKafkaDefaults fills the defaults of a Kafka source or destination
// given on the command line, which Parse did not see.
func ApplyKafkaDefaults(k *Kafka) { k.applyDefaults() }

// validate reports every mistake of a Kafka source (consumer true) or
// ship destination, each under field.
func (k *Kafka) validate(field string, consumer bool, fe func(field, format string, args ...any) error) []error {
	var errs []error
	if len(k.Brokers) == 0 {
		errs = append(errs, fe(field+".brokers", "is empty: give at least one broker as host:port"))
	}
	for i, b := range k.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			errs = append(errs, fe(fmt.Sprintf("%s.brokers[%d]", field, i), "%q is not host:port", b))
		}
	}
	if len(k.Topics) == 0 {
		errs = append(errs, fe(field+".topics", "is empty: give the topic(s) the gateways' logs are written to"))
	}
	if consumer && k.Group == "" {
		errs = append(errs, fe(field+".group", "is empty: instances of one group divide the partitions between them"))
	}
	if !slices.Contains(kafkaStarts, k.Start) {
		errs = append(errs, fe(field+".start", "%q: allowed are earliest or latest", k.Start))
	}
	errs = append(errs, validJudge(field+".judge", k.Judge, fe)...)
	for _, topic := range slices.Sorted(maps.Keys(k.JudgeTopics)) {
		if !slices.Contains(k.Topics, topic) {
			errs = append(errs, fe(field+".judge_topics."+topic, "is not one of the topics read (%s)", strings.Join(k.Topics, ", ")))
		}
		errs = append(errs, validJudge(field+".judge_topics."+topic, k.JudgeTopics[topic], fe)...)
	}
	for name, d := range map[string]time.Duration{"session_timeout": k.SessionTimeout, "rebalance_timeout": k.RebalanceTimeout} {
		if d < time.Second || d > 10*time.Minute {
			errs = append(errs, fe(field+"."+name, "%v is out of range: allowed is 1s to 10m (default 30s)", d))
		}
	}
	if consumer && k.StateTopic != "" && slices.Contains(k.Topics, k.StateTopic) {
		errs = append(errs, fe(field+".state_topic", "%q is also read as a source topic: give a topic of its own", k.StateTopic))
	}
	if consumer && k.PopulationTopic != "" && (slices.Contains(k.Topics, k.PopulationTopic) || k.PopulationTopic == k.StateTopic) {
		errs = append(errs, fe(field+".population_topic", "%q is also a source or the state topic: give a topic of its own", k.PopulationTopic))
	}
	return append(errs, k.validateAuth(field, fe)...)
}

func (k *Kafka) validateAuth(field string, fe func(field, format string, args ...any) error) []error {
	var errs []error
	if t := k.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, fe(field+".tls", "cert_file and key_file go together: give both or neither"))
	}
	s := k.SASL
	if s == nil {
		return errs
	}
	if !slices.Contains(saslMechanisms, s.Mechanism) {
		errs = append(errs, fe(field+".sasl.mechanism", "%q: allowed are %s", s.Mechanism, strings.Join(saslMechanisms, ", ")))
	}
	if s.Username == "" {
		errs = append(errs, fe(field+".sasl.username", "is empty: SASL needs a user name"))
	}
	return errs
}

func validJudge(field string, kinds []string, fe func(field, format string, args ...any) error) []error {
	var errs []error
	for i, j := range kinds {
		if !slices.Contains(judgeKinds, j) {
			errs = append(errs, fe(fmt.Sprintf("%s[%d]", field, i), "%q: allowed are token and ip", j))
		}
	}
	return errs
}

// JudgeOf returns the entity kinds judged from topic.
func (k *Kafka) JudgeOf(topic string) []string {
	if kinds, ok := k.JudgeTopics[topic]; ok {
		return kinds
	}
	return k.Judge
}

// ValidateKafka checks a Kafka source given on the command line.
func ValidateKafka(k *Kafka, consumer bool) error {
	return joinErrors(k.validate("kafka", consumer, fieldErr))
}

// Ship configures `sentinel ship`: where the requests it reads go.
type Ship struct {
	// To is the Kafka cluster and topic (the first of topics) of the
	// requests, keyed by token fingerprint.
	To *Kafka `yaml:"to"`
	// AddressTopic, when set, receives every request a second time keyed
	// by client address, for instances that judge addresses.
	AddressTopic string `yaml:"address_topic"`
	// StateDir keeps the positions of the files shipped; the top-level
	// state_dir's ship subdirectory by default.
	StateDir string `yaml:"state_dir"`
}

func (c *Config) validateShip() error {
	if c.Ship.To == nil {
		return nil
	}
	return joinErrors(c.Ship.To.validate("ship.to", false, c.fieldErr))
}

// KafkaPassword resolves a SASL password given as "${NAME}" on the
// command line (ParseKafkaURL sets it so), naming the variable when it
// is unset.
func KafkaPassword(k *Kafka) error {
	if k.SASL == nil {
		return nil
	}
	c := &Config{}
	c.expandValue(&k.SASL.Password, "kafka.sasl.password")
	for field, name := range c.unsetEnv {
		return fieldErr(field, "environment variable %s is not set (or is empty)", name)
	}
	return nil
}
