package config

// Admin is the local HTTP listener serving /metrics, /healthz and
// /readyz.
type Admin struct{}

func (a *Admin) applyDefaults() {}

func (c *Config) validateAdmin() error { return nil }
