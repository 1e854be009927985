package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// maxReplyBody bounds how much of a publish reply is read.
const maxReplyBody = 64 << 10

// appendPayload appends the JSON data of publication seq, started at t
// (unix nanoseconds), padded to size bytes when size allows:
// {"t":<t>,"s":<seq>,"p":"xxx…"}.
func appendPayload(b []byte, t, seq int64, size int) []byte {
	start := len(b)
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"s":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"p":"`...)
	for pad := size - (len(b) - start) - len(`"}`); pad > 0; pad-- {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// payloadTime extracts t from data made by appendPayload.
func payloadTime(data []byte) (int64, bool) {
	const key = `"t":`
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return 0, false
	}
	data = data[i+len(key):]
	var t int64
	n := 0
	for n < len(data) && n < 19 && data[n] >= '0' && data[n] <= '9' {
		t = t*10 + int64(data[n]-'0')
		n++
	}
	return t, n > 0
}

// appendPublishBody appends a publish request body for channel.
func appendPublishBody(b []byte, channel string, t, seq int64, size int) []byte {
	b = append(b, `{"channel":`...)
	b = strconv.AppendQuote(b, channel)
	b = append(b, `,"data":`...)
	b = appendPayload(b, t, seq, size)
	return append(b, '}')
}

// publisher makes publish calls through one server API transport. It is
// safe for concurrent use.
type publisher interface {
	// publish publishes the payload of publication seq, started at t, to
	// channel. buf is scratch space owned by the caller, returned grown for
	// the next call.
	publish(ctx context.Context, buf []byte, channel string, t, seq int64) ([]byte, error)
	// target names the endpoint, for errors.
	target() string
	close()
}

func newPublisher(o *Options) (publisher, error) {
	if o.PublishVia == PublishViaGRPC {
		return newGRPCPublisher(o)
	}
	return newHTTPPublisher(o), nil
}

// httpPublisher publishes through the HTTP server API.
type httpPublisher struct {
	client *http.Client
	url    string
	key    string
	size   int
}

var _ publisher = (*httpPublisher)(nil)

func newHTTPPublisher(o *Options) *httpPublisher {
	nd := &net.Dialer{Timeout: o.ConnectTimeout}
	return &httpPublisher{
		client: &http.Client{
			Timeout: o.PublishTimeout,
			Transport: &http.Transport{
				Proxy:               nil, // never through an environment proxy
				DialContext:         nd.DialContext,
				TLSClientConfig:     o.tls,
				MaxIdleConns:        o.Publishers,
				MaxIdleConnsPerHost: o.Publishers,
				MaxConnsPerHost:     o.Publishers,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
			},
		},
		url:  o.APIURL + "/publish",
		key:  o.APIKey,
		size: o.PayloadSize,
	}
}

func (p *httpPublisher) target() string { return p.url }

// publish POSTs one publish request and checks its reply.
func (p *httpPublisher) publish(ctx context.Context, buf []byte, channel string, t, seq int64) ([]byte, error) {
	buf = appendPublishBody(buf[:0], channel, t, seq, p.size)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(buf))
	if err != nil {
		return buf, err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.key != "" {
		req.Header.Set("X-API-Key", p.key)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return buf, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBody))
	if err != nil {
		return buf, fmt.Errorf("reading reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return buf, fmt.Errorf("HTTP %d from %s: %s", resp.StatusCode, p.url, bytes.TrimSpace(firstBytes(reply, 120)))
	}
	var r struct {
		Error *struct {
			Code    uint32 `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return buf, fmt.Errorf("malformed reply from %s: %w", p.url, err)
	}
	if r.Error != nil {
		return buf, fmt.Errorf("API error %d %s", r.Error.Code, r.Error.Message)
	}
	return buf, nil
}

func (p *httpPublisher) close() { p.client.CloseIdleConnections() }

func firstBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
