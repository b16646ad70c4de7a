package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentinel-project/sentinel/pkg/report"
)

// chromium returns the headless browser the report tests render with,
// or skips the test naming the Debian package; CI, which sets
// SENTINEL_REQUIRE_SHARED, fails instead.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SENTINEL_REQUIRE_SHARED") != "" {
		t.Fatal("chromium is missing; this run requires it (SENTINEL_REQUIRE_SHARED is set): apt-get install chromium")
	}
	t.Skip("skipped: needs chromium to render the report (Debian package chromium)")
	return ""
}

// screenshot renders an HTML file in headless Chromium, isolated from the
// network and from any profile, and returns the picture.
func screenshot(t *testing.T, browser, htmlPath string) image.Image {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	abs, err := filepath.Abs(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, browser,
		"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
		"--disable-background-networking", "--disable-component-update", "--disable-default-apps",
		"--disable-extensions", "--disable-sync", "--no-first-run", "--no-default-browser-check",
		"--host-resolver-rules=MAP * ~NOTFOUND",
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1200,2000", "--screenshot="+out, "file://"+abs)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding the screenshot: %v", err)
	}
	return img
}

// countColor counts the pixels of r within tol of c on every channel.
func countColor(img image.Image, r image.Rectangle, c color.RGBA, tol int) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if near(cr>>8, c.R, tol) && near(cg>>8, c.G, tol) && near(cb>>8, c.B, tol) {
				n++
			}
		}
	}
	return n
}

func near(v uint32, want uint8, tol int) bool {
	d := int(v) - int(want)
	return d >= -tol && d <= tol
}

// TestReportRendersVolumeLines replays the sample with --report, renders
// the report in Chromium and finds the volume lines' colour in the
// charts' area; the alerts on stdout are those of a replay without it.
// A replay that raises no alert gives a report without any.
func TestReportRendersVolumeLines(t *testing.T) {
	browser := chromium(t)
	dir := t.TempDir()
	sample := filepath.Join("..", "..", "testdata", "sample", "access.log.gz")
	path := filepath.Join(dir, "report.html")
	out, stderr, code := sentinel(t, "", "replay", "--report", path, sample)
	if code != 0 {
		t.Fatalf("replay --report failed: %s", stderr)
	}
	plain, _, _ := sentinel(t, "", "replay", sample)
	if out != plain || len(parseAlerts(t, out)) == 0 {
		t.Fatal("--report changed the alerts on stdout, or there were none")
	}
	html, _ := os.ReadFile(path)
	// Each charted entity also has its close-up, from the second pass.
	if charts, zooms := strings.Count(string(html), `class="chart"`), strings.Count(string(html), `class="chart zoom"`); zooms == 0 || zooms != charts {
		t.Errorf("%d whole-replay charts and %d close-ups, want one close-up each", charts, zooms)
	}
	img := screenshot(t, browser, path)
	// Below the header: the first charts of the alerted entities.
	charts := image.Rect(0, 300, img.Bounds().Dx(), img.Bounds().Dy())
	if n := countColor(img, charts, report.VolumeColor, 24); n < 300 {
		t.Fatalf("%d pixels of the volume colour in the charts' area, want hundreds", n)
	}

	quiet := filepath.Join(dir, "quiet.log")
	writeHead(t, sample, quiet, 500)
	path = filepath.Join(dir, "quiet.html")
	out, stderr, code = sentinel(t, "", "replay", "--report", path, quiet)
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("replay of the sample's first lines: exit %d, alerts %q, %s", code, out, stderr)
	}
	img = screenshot(t, browser, path)
	if n := countColor(img, img.Bounds(), report.VolumeColor, 24); n != 0 {
		t.Fatalf("a report without alerts has %d pixels of the volume colour", n)
	}
}

// writeHead writes the first n lines of a gzip file to a plain one.
func writeHead(t *testing.T, gz, out string, n int) {
	t.Helper()
	f, err := os.Open(gz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(zr)
	for i := 0; i < n && sc.Scan(); i++ {
		b.WriteString(sc.Text() + "\n")
	}
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
