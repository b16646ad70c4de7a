package config

import (
	"net"
	"net/netip"
	"strconv"
)

// Admin is the local HTTP listener serving /metrics, /healthz and
// /readyz.
type Admin struct {
	// Enabled turns the listener on; default true.
	Enabled *bool `yaml:"enabled"`
	// Listen is the address to listen on, host:port; default
	// 127.0.0.1:9741, so that only this machine can reach it. Port 0
	// takes a free port, which sentinel logs.
	Listen string `yaml:"listen"`
}

// DefaultAdminListen is where the admin listener listens by default.
const DefaultAdminListen = "127.0.0.1:9741"

// On reports whether the listener is enabled.
func (a Admin) On() bool { return a.Enabled == nil || *a.Enabled }

func (a *Admin) applyDefaults() {
	setDefault(&a.Listen, DefaultAdminListen)
}

func (c *Config) validateAdmin() error {
	if !c.Admin.On() {
		return nil
	}
	host, port, err := net.SplitHostPort(c.Admin.Listen)
	if err != nil {
		return c.fieldErr("admin.listen", "%q is not host:port: allowed is an address and port such as %s", c.Admin.Listen, DefaultAdminListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return c.fieldErr("admin.listen", "port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		// ":9741" listens on every interface, easily written by mistake.
		return c.fieldErr("admin.listen", "%q names no host: allowed is an IP address or localhost, e.g. %s; write 0.0.0.0 or [::] to listen on every interface", c.Admin.Listen, DefaultAdminListen)
	}
	if host == "localhost" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return c.fieldErr("admin.listen", "host %q is not an IP address: allowed is an IP address or localhost", host)
	}
	return nil
}
