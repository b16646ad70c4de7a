package config

import (
	"strings"
	"testing"
)

func TestAdminListenIsChecked(t *testing.T) {
	for text, want := range map[string]string{
		"admin:\n  listen: \":9741\"\n":          "names no host",
		"admin:\n  listen: 127.0.0.1\n":          "is not host:port",
		"admin:\n  listen: 127.0.0.1:70000\n":    "not a number from 0 to 65535",
		"admin:\n  listen: metrics.local:9741\n": "is not an IP address",
	} {
		_, err := Parse([]byte(text))
		if err == nil || !strings.Contains(err.Error(), "admin.listen (line 2)") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want admin.listen named with %q", text, err, want)
		}
	}
	for _, ok := range []string{"localhost:9741", "0.0.0.0:9741", "\"[::1]:0\"", "127.0.0.1:0"} {
		if _, err := Parse([]byte("admin:\n  listen: " + ok + "\n")); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	c, err := Parse([]byte("admin:\n  enabled: false\n  listen: nonsense\n"))
	if err != nil || c.Admin.On() {
		t.Errorf("a disabled listener's address is not checked: %v", err)
	}
}
