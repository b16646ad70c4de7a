package report

// pageHTML is the report's template. Its CSS is inline and it loads
// nothing: the document must open the same offline, in a mail client or
// an evidence archive, years later. The volume colour (VolumeColor) is
// kept out of the CSS so that it appears in charts only.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sentinel replay report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin: 20px 0 4px; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code, .key { font-family: ui-monospace, monospace; }
.meta td:first-child { font-weight: 600; }
.critical { color: #a00; font-weight: 600; }
.warning { color: #8a5a00; }
.chart svg { max-width: 100%; height: auto; }
.note { color: #666; font-size: 12px; }
.alert { margin: 10px 0 18px; }
</style>
</head>
<body>
<h1>sentinel replay report</h1>
<table class="meta">
<tr><td>Replayed</td><td>{{range $i, $s := .Sources}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}</td></tr>
<tr><td>Event time</td><td>{{.From}} to {{.To}}</td></tr>
<tr><td>Lines</td><td>{{.Lines}} ({{.Rejected}} rejected)</td></tr>
<tr><td>Alerts</td><td>{{len .Alerts}} ({{.Severities}})</td></tr>
</table>
<p class="note">Tokens appear only as fingerprints (the first 12 hex characters of the credential's SHA-256) and at most their last four characters.</p>

<h2>Alerted entities</h2>
{{if not .Entities}}<p>No token or address alerted.</p>{{end}}
<p class="note">Each point of a chart is a bucket of {{.Bucket}}: the line is the messages of its busiest {{.Window}} window, the shaded band the entity's baseline from expected to threshold averaged over the bucket; triangles mark alerts.</p>
{{range .Entities}}
<section class="entity" id="{{.Anchor}}">
<h3>{{.Entity}} <span class="key">{{.Key}}</span>{{if .Hint}} (…{{.Hint}}){{end}}{{if .Label}} — {{.Label}}{{end}}</h3>
<p>{{.Alerts}} alert(s), since {{.Since}}, {{num .Excess}} messages above expected.</p>
{{if .NoSeries}}<p class="note">No window of this entity was recorded.</p>{{else}}<div class="chart">{{.SVG}}</div>{{end}}
{{if .ZoomSVG}}<p class="note">Around the incident, window by window:</p><div class="chart zoom">{{.ZoomSVG}}</div>{{end}}
</section>
{{end}}
{{if .Dropped}}<p class="note">{{.Dropped}} low-volume entities were not kept to bound memory; one that alerted is charted from its first window after.</p>{{end}}
{{if .Uncharted}}<p class="note">{{.Uncharted}} more alerted entities are not charted; their alerts are listed below.</p>{{end}}

<h2>Top tokens by messages</h2>
{{template "top" .TopTokens}}
<h2>Top addresses by messages</h2>
{{template "top" .TopIPs}}

<h2>Alerts</h2>
{{if not .Alerts}}<p>No alerts.</p>{{end}}
{{range .Alerts}}
<div class="alert">
<h3>{{stamp .At}} <span class="{{.Severity}}">{{.Severity}}</span> {{.Entity}} {{if or (eq .Entity "token") (eq .Entity "ip")}}<a class="key" href="#{{anchor .Entity .Key}}">{{.Key}}</a>{{else}}<span class="key">{{.Key}}</span>{{end}}{{if .TokenHint}} (…{{.TokenHint}}){{end}}</h3>
<table>
<tr><th>detector</th><th>feature</th><th>observed</th><th>expected</th><th>score</th><th>severity</th><th>window</th><th>since</th><th>excess</th><th>top peers</th></tr>
<tr><td>{{.Detector}}</td><td>{{.Feature}}</td><td class="n">{{num .Observed}}</td><td class="n">{{num .Expected}}</td><td class="n">{{.Score}}</td><td>{{.Severity}}</td><td>{{stamp .WindowStart}}</td><td>{{stamp .Since}}</td><td class="n">{{num .Excess}}</td><td><code>{{join .TopIPs " "}}{{join .TopTokens " "}}</code></td></tr>
</table>
<p>{{.Summary}}</p>
<p class="note">id <code>{{.ID}}</code>{{if .Label}}, label {{.Label}}{{end}}, status {{or .Status "firing"}}</p>
</div>
{{end}}
</body>
</html>
{{define "top"}}{{if not .}}<p>None recorded.</p>{{else}}<table>
<tr><th>key</th><th>messages</th><th>busiest window</th><th>windows with traffic</th></tr>
{{range .}}<tr><td class="key">{{.Key}}</td><td class="n">{{num .Messages}}</td><td class="n">{{num .Peak}}</td><td class="n">{{.Windows}}</td></tr>
{{end}}</table>{{end}}{{end}}
`
