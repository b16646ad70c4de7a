package alert

import (
	"context"
	"slices"
)

// GroupSender is a sink that can deliver several alerts about one
// incident as one message, for people who would rather read one message
// than ten. Slack is one; webhooks and Alertmanager, read by programs
// that group for themselves, are not.
type GroupSender interface {
	Sink
	// SendGroup delivers alerts, related and oldest first, as one
	// message. It must not modify them.
	SendGroup(ctx context.Context, alerts []*Alert) error
}

// MaxGroup bounds the alerts in one grouped message.
const MaxGroup = 20

// Related reports whether two alerts are about one incident: the same
// entity (one token over several detectors or features), or a token and
// an address seen with it (one address pulling with, or trying, many
// tokens). Back-to-normal notices are sent alone.
func Related(a, b *Alert) bool {
	if a.Status == StatusResolved || b.Status == StatusResolved {
		return false
	}
	if a.Entity == b.Entity && a.Key == b.Key {
		return true
	}
	if a.Entity == EntityIP && b.Entity == EntityToken {
		a, b = b, a
	}
	if a.Entity != EntityToken || b.Entity != EntityIP {
		return false
	}
	return slices.Contains(a.TopIPs, b.Key) || slices.Contains(b.TopTokens, a.Key)
}

// group returns the indexes of the candidates that join the first one's
// group, in order, the first included: those related to it or to one
// already in, at most MaxGroup.
func group(candidates []*Alert) []int {
	in := []int{0}
	taken := make([]bool, len(candidates))
	taken[0] = true
	for grew := true; grew && len(in) < MaxGroup; {
		grew = false
		for i, c := range candidates {
			if taken[i] || len(in) == MaxGroup {
				continue
			}
			if slices.ContainsFunc(in, func(j int) bool { return Related(candidates[j], c) }) {
				in, taken[i], grew = append(in, i), true, true
			}
		}
	}
	slices.Sort(in)
	return in
}
