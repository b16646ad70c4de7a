package config

import (
	"reflect"
	"strings"
)

// Reloadable lists the fields a running daemon takes over when it
// re-reads its configuration (SIGHUP). Everything else shapes the
// learned state or the open sources, and takes a restart.
var Reloadable = []string{
	"alerts", "labels", "allow", "contracts",
	"detect.z", "detect.ratio", "detect.peak_ratio", "detect.population_z",
	"detect.min_messages", "detect.slow_min_messages", "detect.cooldown",
	"detect.iforest.threshold",
}

// NeedRestart returns the fields, by their YAML path, that differ between
// c and next and that a running daemon cannot take over.
func (c *Config) NeedRestart(next *Config) []string {
	var out []string
	diffFields(reflect.ValueOf(*c), reflect.ValueOf(*next), "", false, &out)
	return out
}

// Changed returns every field, by its YAML path, that differs between c
// and next, reloadable or not, for the log line of a reload.
func (c *Config) Changed(next *Config) []string {
	var out []string
	diffFields(reflect.ValueOf(*c), reflect.ValueOf(*next), "", true, &out)
	return out
}

// diffFields appends the paths of the fields of structs a and b that
// differ, the reloadable ones too when all is set, going into a struct
// only when part of it is reloadable, so that a change is named as
// precisely as it can be taken over.
func diffFields(a, b reflect.Value, prefix string, all bool, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		path := prefix + tag
		fa, fb := a.Field(i), b.Field(i)
		if reflect.DeepEqual(fa.Interface(), fb.Interface()) || (!all && reloadable(path)) {
			continue
		}
		if f.Type.Kind() == reflect.Struct && partlyReloadable(path) {
			diffFields(fa, fb, path+".", all, out)
			continue
		}
		*out = append(*out, path)
	}
}

func reloadable(path string) bool {
	for _, r := range Reloadable {
		if r == path {
			return true
		}
	}
	return false
}

func partlyReloadable(path string) bool {
	for _, r := range Reloadable {
		if strings.HasPrefix(r, path+".") {
			return true
		}
	}
	return false
}
