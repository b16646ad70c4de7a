package app

import "runtime/debug"

func init() {
	if Version == "dev" {
		Version = builtVersion()
	}
}

// builtVersion reads what the go command recorded in the binary, so
// that a binary built without -ldflags still says what it was built
// from, in logs, metrics and the webhook's User-Agent.
func builtVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			rev = s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return "dev"
	}
	return "dev-" + rev + dirty
}
