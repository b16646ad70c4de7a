package config

import (
	"strings"
	"testing"
)

func TestKafkaURLParses(t *testing.T) {
	k, err := ParseKafkaURL("kafka://127.0.0.1:9092,127.0.0.1:9093/requests,more?group=g1&start=latest&judge=token&sasl=scram-sha-512&user=u&tls=true&ca_file=/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	ApplyKafkaDefaults(&k)
	if len(k.Brokers) != 2 || k.Brokers[1] != "127.0.0.1:9093" || len(k.Topics) != 2 || k.Topics[0] != "requests" {
		t.Errorf("brokers %v topics %v", k.Brokers, k.Topics)
	}
	if k.Group != "g1" || k.Start != "latest" || k.StateTopic != "g1.state" || k.ClientID != "sentinel" {
		t.Errorf("group %q start %q state topic %q client id %q", k.Group, k.Start, k.StateTopic, k.ClientID)
	}
	if k.SASL == nil || k.SASL.Mechanism != "SCRAM-SHA-512" || k.SASL.Username != "u" || k.SASL.Password != "${SENTINEL_KAFKA_PASSWORD}" {
		t.Errorf("sasl %+v", k.SASL)
	}
	if k.TLS == nil || k.TLS.CAFile != "/ca.pem" {
		t.Errorf("tls %+v", k.TLS)
	}
	if err := ValidateKafka(&k, true); err != nil {
		t.Errorf("valid URL refused: %v", err)
	}
}

func TestKafkaURLRefusesCredentialsAndUnknownParameters(t *testing.T) {
	for url, want := range map[string]string{
		"kafka://user:secret@127.0.0.1:9092/t?group=g": "credentials in the URL are refused",
		"kafka://edge:p%zzsecret@127.0.0.1:9092/t":     "credentials in the URL are refused",
		"kafka://edge:a/secret@127.0.0.1:9092/t":       "credentials in the URL are refused",
		"kafka://edge:a#secret@127.0.0.1:9092/t":       "credentials in the URL are refused",
		"kafka://127.0.0.1:9092/t?grup=g":              `unknown parameter "grup"`,
		"http://127.0.0.1:9092/t":                      "not a Kafka URL",
		"kafka://127.0.0.1:9092/t?tls=maybe":           "allowed are true or false",
	} {
		_, err := ParseKafkaURL(url)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", url, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error repeats the password: %v", url, err)
		}
	}
}

func TestKafkaSourceMistakesNameTheField(t *testing.T) {
	_, err := Parse([]byte(`sources:
  - kafka:
      brokers: [nohost]
      topics: []
      start: middle
      judge: [tenant]
      sasl:
        mechanism: GSSAPI
  - path: /var/log/x.log
    kafka:
      brokers: [127.0.0.1:9092]
      topics: [t]
      group: g
`))
	if err == nil {
		t.Fatal("a broken kafka source was accepted")
	}
	for _, want := range []string{
		`sources[0].kafka.brokers[0] (line 3): "nohost" is not host:port`,
		"sources[0].kafka.topics",
		"sources[0].kafka.group",
		`sources[0].kafka.start (line 5): "middle": allowed are earliest or latest`,
		`sources[0].kafka.judge[0]`,
		`sources[0].kafka.sasl.mechanism (line 8): "GSSAPI": allowed are PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`,
		"sources[0].kafka.sasl.username",
		"sources[1].path (line 9): is given with kafka",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

func TestKafkaPasswordComesFromTheEnvironment(t *testing.T) {
	t.Setenv("KAFKA_PW", "s3cret-pw")
	c, err := Parse([]byte("sources:\n  - kafka:\n      brokers: [127.0.0.1:9092]\n      topics: [t]\n      group: g\n" +
		"      sasl: {mechanism: PLAIN, username: u, password: '${KAFKA_PW}'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[0].Kafka.SASL.Password; got != "s3cret-pw" {
		t.Errorf("password %q, want the variable's value", got)
	}
	k, _ := ParseKafkaURL("kafka://127.0.0.1:9092/t?group=g&sasl=PLAIN&user=u")
	t.Setenv("SENTINEL_KAFKA_PASSWORD", "")
	if err := KafkaPassword(&k); err == nil || !strings.Contains(err.Error(), "SENTINEL_KAFKA_PASSWORD") {
		t.Errorf("unset password variable: %v", err)
	}
}

func TestKafkaJudgeTopics(t *testing.T) {
	c, err := Parse([]byte("sources:\n  - kafka:\n      brokers: [127.0.0.1:9092]\n      topics: [requests, by-ip]\n      group: g\n" +
		"      judge: [token]\n      judge_topics: {by-ip: [ip]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Sources[0].Kafka
	if got := k.JudgeOf("by-ip"); len(got) != 1 || got[0] != "ip" {
		t.Errorf("by-ip judges %v, want [ip]", got)
	}
	if got := k.JudgeOf("requests"); len(got) != 1 || got[0] != "token" {
		t.Errorf("requests judges %v, want the source's [token]", got)
	}
	_, err = Parse([]byte("sources:\n  - kafka:\n      brokers: [127.0.0.1:9092]\n      topics: [requests]\n      group: g\n" +
		"      judge_topics: {by-ip: [ip], requests: [tenant]}\n"))
	for _, want := range []string{"sources[0].kafka.judge_topics.by-ip", "is not one of the topics read (requests)",
		`sources[0].kafka.judge_topics.requests[0]`, `"tenant": allowed are token and ip`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}
