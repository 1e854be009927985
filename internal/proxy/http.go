package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/internal/node"

	"github.com/rotorhq/rotor/wirejson"
)

// maxAnswerSize bounds the body of an HTTP proxy answer.
const maxAnswerSize = 16 << 20

// newHTTPClient returns the client every HTTP endpoint shares. The calls'
// contexts bound each request; the transport keeps enough idle connections
// per backend host for a burst of connects (Go's default keeps 2) and does
// not go through HTTP_PROXY: backends are called directly.
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
		},
		// A proxy endpoint that redirects is misconfigured: fail the call.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// post sends req as JSON to the target's URL and decodes the answer into
// resp. Headers: proxy_static_http_headers, then the client headers named in
// proxy_http_headers and proxy_grpc_metadata, then Content-Type.
func (t *target) post(ctx context.Context, info *node.ProxyClientInfo, req, resp proto.Message) error {
	body, err := wirejson.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	h := hreq.Header
	for k, v := range t.static {
		h.Set(k, v)
	}
	for _, name := range t.forward {
		if vs := info.Headers.Values(name); len(vs) > 0 {
			h[http.CanonicalHeaderKey(name)] = slices.Clone(vs)
		}
	}
	h.Set("Content-Type", "application/json")

	hresp, err := t.p.http.Do(hreq)
	if err != nil {
		return err
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(hresp.Body, 64<<10)) // lets the connection be reused
		return fmt.Errorf("HTTP status %d (200 expected)", hresp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxAnswerSize+1))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if len(data) > maxAnswerSize {
		return fmt.Errorf("answer is larger than %d bytes", maxAnswerSize)
	}
	if err := wirejson.Unmarshal(data, resp); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}
