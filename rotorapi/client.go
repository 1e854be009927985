package rotorapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/apiproto"

	"github.com/rotorhq/rotor/wirejson"
)

// DefaultTimeout bounds each call whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// maxResponseSize limits HTTP response bodies (a history or presence
// answer of a busy channel can be large).
const maxResponseSize = 64 << 20

// Client calls the server API of a Rotor or Centrifugo node over gRPC or
// HTTP. It is safe for concurrent use; make one and share it.
type Client struct {
	t       transport
	timeout time.Duration
	close   func() error
}

// Option configures a Client.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	apiKey      string
	tls         *tls.Config
	useTLS      bool
	timeout     time.Duration
	timeoutSet  bool
	httpClient  *http.Client
	dialOptions []grpc.DialOption
}

// WithAPIKey sets the API key: sent as "authorization: apikey KEY" gRPC
// metadata (grpc_api_key), or as the X-API-Key header over HTTP (api_key).
func WithAPIKey(key string) Option {
	return optionFunc(func(o *options) { o.apiKey = key })
}

// WithTLS makes gRPC connections use TLS with cfg (nil: the system's roots,
// the server name from the address). Over HTTP it configures the transport
// of https:// URLs, unless WithHTTPClient is given.
func WithTLS(cfg *tls.Config) Option {
	return optionFunc(func(o *options) { o.tls, o.useTLS = cfg, true })
}

// WithTimeout sets the deadline of calls whose context has none; a context
// deadline always wins. Zero leaves such calls without a deadline. Zero
// value (option not given): DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.timeout, o.timeoutSet = d, true })
}

// WithHTTPClient sets the HTTP client of HTTP calls. Zero value: a client
// of its own (with WithTLS's config for https).
func WithHTTPClient(c *http.Client) Option {
	return optionFunc(func(o *options) { o.httpClient = c })
}

// WithDialOptions adds options to the gRPC client connection (compression,
// interceptors, keepalive, ...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return optionFunc(func(o *options) { o.dialOptions = append(o.dialOptions, opts...) })
}

// New returns a client of the server API at addr. The scheme chooses the
// wire:
//
//   - "host:port", "tcp://host:port" or "grpc://host:port": gRPC (the
//     grpc_api_address and grpc_api_port of the node; RoadRunner's
//     grpc_api_address form "tcp://centrifugo:10000" works as it is).
//   - "http://host:port" or "https://host:port": HTTP, POST <url>/api/<method>
//     with a JSON body. A URL with a path uses it instead of /api
//     ("http://host:8000/custom" posts to /custom/publish).
//
// Nothing connects until the first call. Close releases the connection.
func New(addr string, opts ...Option) (*Client, error) {
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if o.timeout < 0 {
		return nil, fmt.Errorf("rotorapi: timeout %v is negative", o.timeout)
	}
	c := &Client{timeout: o.timeout, close: func() error { return nil }}
	switch {
	case strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://"):
		t, err := newHTTPTransport(addr, &o)
		if err != nil {
			return nil, err
		}
		c.t = t
	default:
		target := strings.TrimPrefix(strings.TrimPrefix(addr, "tcp://"), "grpc://")
		if i := strings.Index(target, "://"); i >= 0 {
			return nil, fmt.Errorf("rotorapi: address %q: scheme %q is not supported (use host:port, tcp://, grpc://, http:// or https://)", addr, target[:i])
		}
		if target == "" {
			return nil, errors.New("rotorapi: empty address")
		}
		creds := insecure.NewCredentials()
		if o.useTLS {
			creds = credentials.NewTLS(o.tls)
		}
		cc, err := grpc.NewClient("passthrough:///"+target,
			append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, o.dialOptions...)...)
		if err != nil {
			return nil, fmt.Errorf("rotorapi: %w", err)
		}
		c.t = &grpcTransport{cc: cc, key: o.apiKey}
		c.close = cc.Close
	}
	return c, nil
}

// NewWithConn returns a gRPC client over a connection the caller made (and
// closes); WithAPIKey and WithTimeout apply, the TLS, HTTP and dial options
// do not.
func NewWithConn(cc grpc.ClientConnInterface, opts ...Option) (*Client, error) {
	if cc == nil {
		return nil, errors.New("rotorapi: nil connection")
	}
	o := options{timeout: DefaultTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if o.timeout < 0 {
		return nil, fmt.Errorf("rotorapi: timeout %v is negative", o.timeout)
	}
	return &Client{t: &grpcTransport{cc: cc, key: o.apiKey}, timeout: o.timeout, close: func() error { return nil }}, nil
}

// Close releases the client's gRPC connection (a no-op for HTTP clients and
// for connections given to NewWithConn).
func (c *Client) Close() error { return c.close() }

// method names one server API method on both wires.
type method struct {
	name     string // HTTP path element: publish, presence_stats, ...
	fullName string // gRPC method
}

// transport carries one call.
type transport interface {
	invoke(ctx context.Context, m method, req, resp proto.Message) error
}

// errorer is every XxxResponse of api.proto but BatchResponse.
type errorer interface {
	GetError() *apiproto.Error
}

// invoke makes one call, with the default deadline when ctx has none, and
// turns an in-band error into an *Error.
func (c *Client) invoke(ctx context.Context, m method, req, resp proto.Message) error {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	if err := c.t.invoke(ctx, m, req, resp); err != nil {
		return fmt.Errorf("rotorapi: %s: %w", m.name, err)
	}
	if r, ok := resp.(errorer); ok {
		if e := r.GetError(); e != nil {
			return fmt.Errorf("rotorapi: %s: %w", m.name, &Error{Code: e.GetCode(), Message: e.GetMessage()})
		}
	}
	return nil
}

func (c *Client) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || c.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.timeout)
}

type grpcTransport struct {
	cc  grpc.ClientConnInterface
	key string
}

func (g *grpcTransport) invoke(ctx context.Context, m method, req, resp proto.Message) error {
	if g.key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "apikey "+g.key)
	}
	err := g.cc.Invoke(ctx, m.fullName, req, resp)
	if status.Code(err) == codes.Unauthenticated {
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	return err
}

type httpTransport struct {
	prefix string // URL the method names are appended to
	client *http.Client
	key    string
}

func newHTTPTransport(addr string, o *options) (*httpTransport, error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("rotorapi: address: %w", err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("rotorapi: address %q has no host", addr)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/api"
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	hc := o.httpClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.useTLS && o.tls != nil {
			tr.TLSClientConfig = o.tls.Clone()
		}
		hc = &http.Client{Transport: tr}
	}
	return &httpTransport{prefix: u.String() + "/", client: hc, key: o.apiKey}, nil
}

func (h *httpTransport) invoke(ctx context.Context, m method, req, resp proto.Message) error {
	body, err := wirejson.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding the request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, h.prefix+m.name, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	if h.key != "" {
		hr.Header.Set("X-API-Key", h.key)
	}
	res, err := h.client.Do(hr)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseSize+1))
	if err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if len(b) > maxResponseSize {
		return fmt.Errorf("response larger than %d bytes", maxResponseSize)
	}
	switch res.StatusCode {
	case http.StatusOK:
		if err := wirejson.Unmarshal(b, resp); err != nil {
			return fmt.Errorf("decoding the response: %w", err)
		}
		return nil
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: %w", ErrUnauthorized, httpError(res.StatusCode, b))
	}
	// In the transport error mode an API error comes with a status of its
	// own and the error object as the body.
	var e struct {
		Code    *uint32 `json:"code"`
		Message string  `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && e.Code != nil {
		return &Error{Code: *e.Code, Message: e.Message}
	}
	return httpError(res.StatusCode, b)
}

func httpError(code int, body []byte) *HTTPError {
	const maxBody = 256
	s := strings.TrimSpace(string(body))
	if len(s) > maxBody {
		s = s[:maxBody] + "..."
	}
	return &HTTPError{StatusCode: code, Body: s}
}
