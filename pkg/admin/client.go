package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sentinel-project/sentinel/pkg/silence"
)

// Client talks to a running sentinel's admin listener.
type Client struct {
	// Addr is the listener's host:port.
	Addr string
	HTTP *http.Client
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Addr+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reaching sentinel's admin listener at %s (is sentinel run going, with admin enabled?): %w", c.Addr, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("sentinel answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// AddSilence sets a silence and returns it as stored, with its id.
func (c *Client) AddSilence(ctx context.Context, s silence.Silence) (silence.Silence, error) {
	var out silence.Silence
	err := c.do(ctx, http.MethodPost, "/silences", s, &out)
	return out, err
}

// Silences lists the active silences.
func (c *Client) Silences(ctx context.Context) ([]silence.Silence, error) {
	var out []silence.Silence
	err := c.do(ctx, http.MethodGet, "/silences", nil, &out)
	return out, err
}

// RemoveSilence ends the silence with id.
func (c *Client) RemoveSilence(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/silences/"+id, nil, nil)
}
