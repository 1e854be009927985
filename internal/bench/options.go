package bench

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Scenario names accepted in Options.Scenario.
const (
	ScenarioConnect  = "connect"
	ScenarioIdle     = "idle"
	ScenarioFanout   = "fanout"
	ScenarioChannels = "channels"
	ScenarioBurst    = "burst"
)

// Scenarios lists the scenario names, in the order they are documented.
var Scenarios = []string{ScenarioConnect, ScenarioIdle, ScenarioFanout, ScenarioChannels, ScenarioBurst}

// Server API transports accepted in Options.PublishVia.
const (
	PublishViaHTTP = "http"
	PublishViaGRPC = "grpc"
)

// DefaultGRPCPort is the port of the gRPC server API (grpc_api_port) assumed
// when Options.GRPCAddr is empty.
const DefaultGRPCPort = "10000"

// Protocol names accepted in Options.Protocol.
const (
	ProtocolJSON     = "json"
	ProtocolProtobuf = "protobuf"
)

// Defaults, used where the matching Options field is zero.
const (
	DefaultURL            = "ws://127.0.0.1:8000/connection/websocket"
	DefaultConnections    = 1000
	DefaultPayloadSize    = 100
	DefaultInFlight       = 64
	DefaultDrain          = 2 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultPublishTimeout = 10 * time.Second
	DefaultChannelPrefix  = "bench_"

	// DefaultIdleDuration covers one full ping cycle at Centrifugo's default
	// ping_interval (25 s) with room to spare; the pong_timeout (8 s) of the
	// last ping may still be running when it ends, so pass
	// ping_interval+pong_timeout or more to prove every pong arrived.
	DefaultIdleDuration    = 30 * time.Second
	DefaultPublishDuration = 10 * time.Second
	DefaultFanoutRate      = 100
	DefaultChannelsRate    = 1000
	DefaultPacedPublishers = 64
	DefaultBurstPublishers = 8
	DefaultSubsPerChannel  = 5
)

// Payload size bounds: the smallest holds the timestamp and sequence fields.
const (
	minPayloadSize = 48
	maxPayloadSize = 1 << 20
)

// Options configure one Run. The zero value of each field but Scenario
// selects the documented default, so DefaultOptions is only needed to show
// defaults (it is what RegisterFlags uses). Negative numbers are rejected.
type Options struct {
	// Scenario is connect, idle, fanout, channels or burst. Required.
	Scenario string

	// URL is the client WebSocket endpoint, ws:// or wss://.
	// Zero value: DefaultURL.
	URL string
	// APIURL is the HTTP server API prefix; publications are POSTed to
	// APIURL+"/publish". Zero value: http:// (https:// for wss://) on the
	// host of URL, path /api.
	APIURL string
	// APIKey is sent as the X-API-Key header when set.
	APIKey string
	// PublishVia selects the server API transport: "http" or "grpc".
	// Zero value: "http".
	PublishVia string
	// GRPCAddr is the host:port of the gRPC server API, reached without TLS.
	// Zero value: the host of URL, port DefaultGRPCPort.
	GRPCAddr string
	// GRPCKey is sent as "authorization: apikey <key>" metadata when set
	// (grpc_api_key).
	GRPCKey string
	// CAFile is a PEM file of the certificate authorities trusted for
	// wss:// and https:// (a server's self-signed certificate, say). Zero
	// value: the system's.
	CAFile string

	// TokenSecret is the HMAC secret (token_hmac_secret_key) used to sign
	// one HS256 connection token per connection, user "bench-<i>" in the
	// sub claim. Token and TokenSecret are mutually exclusive; with neither
	// the connect command carries no token (client_insecure servers).
	TokenSecret string
	// Token is a fixed connection token used by every connection.
	Token string
	// ConnectProxy makes the run serve a connect proxy, the application
	// backend a server calls when a client connects without a token:
	// grpc://host:port (the gRPC proxy, CentrifugoProxy/Connect) or
	// http://host:port/…/connect (the HTTP proxy). Point the server's
	// proxy_connect_endpoint at the same URL. Connections then send no
	// token, and the proxy answers each call with user "bench-<n>"; the
	// summary counts its calls. Mutually exclusive with Token and
	// TokenSecret. Zero value: no proxy.
	ConnectProxy string

	// Protocol is json or protobuf (subprotocol centrifuge-protobuf).
	// Zero value: json.
	Protocol string

	// Connections is the number of connections: all of them in connect and
	// idle, the subscribers in fanout, channels and burst.
	// Zero value: DefaultConnections.
	Connections int
	// Channels is the number of channels of the channels scenario;
	// connection i subscribes to channel i mod Channels. Other scenarios
	// ignore it. Zero value: Connections/DefaultSubsPerChannel, at least 1.
	Channels int
	// ChannelPrefix starts every channel name; the rest is a number.
	// It should name no namespace (no ':'), or a namespace the server knows.
	// Zero value: DefaultChannelPrefix.
	ChannelPrefix string

	// Rate is the number of publications per second of fanout and channels.
	// Zero value: DefaultFanoutRate for fanout, DefaultChannelsRate for
	// channels.
	Rate float64
	// PayloadSize is the size in bytes of each publication's JSON data,
	// at least 48. Zero value: DefaultPayloadSize.
	PayloadSize int
	// Duration is the length of the idle window (idle) or of the publishing
	// phase (fanout, channels, burst). Zero value: DefaultIdleDuration for
	// idle, DefaultPublishDuration otherwise.
	Duration time.Duration
	// Drain is how long to wait after the last publish call for deliveries
	// still in flight before counting the loss; the wait ends early when
	// every expected delivery has arrived. Zero value: DefaultDrain.
	Drain time.Duration
	// Publishers bounds the concurrent publish calls. Zero value:
	// DefaultPacedPublishers for fanout and channels (enough to keep the
	// rate while each call takes up to Publishers/Rate seconds),
	// DefaultBurstPublishers for burst.
	Publishers int
	// InFlight bounds the connections being set up at once (dial, connect,
	// subscribe). Zero value: DefaultInFlight.
	InFlight int

	// ServerPID is the server's process id. When set, server CPU time and
	// RSS are read from /proc/<pid> (Linux only; Run fails when the process
	// cannot be found). Zero value: no server figures.
	ServerPID int
	// SourceIPs are local addresses (e.g. 127.0.0.2, 127.0.0.3) that
	// connections are dialled from in turn, to get past the ~28k ephemeral
	// ports one source address has per destination. Zero value: the system
	// picks the source address.
	SourceIPs []string

	// ConnectTimeout bounds the setup of one connection: dial, handshake,
	// connect and subscribe replies. Zero value: DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// PublishTimeout bounds one publish call. Zero value: DefaultPublishTimeout.
	PublishTimeout time.Duration

	// PublisherProcess makes fanout, channels and burst publish from a
	// child process of the running executable (os.Executable, run as
	// "bench" with a hidden flag) instead of from goroutines of this one,
	// the way an application backend publishes from its own process: the
	// publish calls then do not wait behind the subscribers' reader
	// goroutines for the scheduler, so the publish-call latency is the
	// server's and the network's. The child makes the same publish calls
	// (same pacing, publishers, payloads and timestamps, taken from the
	// same machine's clock) and reports its counts and publish-call
	// latencies to this process in one JSON line; the summary's delivery
	// section then says "publisher_process":true. The executable must
	// accept the arguments "bench --publisher-child=<JSON>" and call Run
	// with the Options RegisterFlags parsed from them, as the rotor command
	// does. Other scenarios ignore it. Zero value: publish in process.
	PublisherProcess bool

	// Logger receives progress messages. Zero value: none.
	Logger *slog.Logger

	// proxyListener, when set, is the connect proxy's listener instead of
	// one at ConnectProxy's address (tests listen on a free port).
	proxyListener net.Listener
	// tls is the client TLS configuration made from CAFile; nil for the
	// default.
	tls *tls.Config
	// disablePongs makes connections ignore server pings (tests use it to
	// check that a server does disconnect silent clients).
	disablePongs bool
	// publisherChild, set by the hidden --publisher-child flag, holds the
	// JSON childOptions of a publisher process: Run then only publishes
	// and writes a publishResult line (see runPublisherChild).
	publisherChild string
	// publisherExe replaces os.Executable() as the publisher process
	// program (tests use it to make the child fail).
	publisherExe string
}

// DefaultOptions returns the defaults RegisterFlags shows. Fields whose
// default depends on the scenario (Channels, Rate, Duration, Publishers) stay
// zero.
func DefaultOptions() Options {
	return Options{
		URL:            DefaultURL,
		PublishVia:     PublishViaHTTP,
		Protocol:       ProtocolJSON,
		Connections:    DefaultConnections,
		ChannelPrefix:  DefaultChannelPrefix,
		PayloadSize:    DefaultPayloadSize,
		Drain:          DefaultDrain,
		InFlight:       DefaultInFlight,
		ConnectTimeout: DefaultConnectTimeout,
		PublishTimeout: DefaultPublishTimeout,
	}
}

// RegisterFlags binds o's fields to flags on fs, with the defaults of
// DefaultOptions. Logger has no flag. It also adds the hidden flag that a
// publisher process (Options.PublisherProcess) is started with.
func RegisterFlags(fs *pflag.FlagSet, o *Options) {
	d := DefaultOptions()
	fs.StringVar(&o.Scenario, "scenario", "", "scenario: "+strings.Join(Scenarios, ", "))
	fs.StringVar(&o.URL, "url", d.URL, "client WebSocket endpoint")
	fs.StringVar(&o.APIURL, "api-url", "", "HTTP server API prefix (default: http://<host of --url>/api)")
	fs.StringVar(&o.APIKey, "api-key", "", "server API key, sent as X-API-Key")
	fs.StringVar(&o.PublishVia, "publish-via", d.PublishVia, "server API transport used to publish: http or grpc")
	fs.StringVar(&o.GRPCAddr, "grpc-addr", "", "gRPC server API host:port, plaintext (default: host of --url, port 10000)")
	fs.StringVar(&o.GRPCKey, "grpc-key", "", "gRPC server API key, sent as authorization: apikey <key>")
	fs.StringVar(&o.TokenSecret, "token-secret", "", "HMAC secret to sign one HS256 connection token per connection")
	fs.StringVar(&o.Token, "token", "", "fixed connection token for every connection")
	fs.StringVar(&o.ConnectProxy, "connect-proxy", "",
		"serve a connect proxy at this URL (grpc://host:port or http://host:port/connect) for the server's proxy_connect_endpoint; connections send no token")
	fs.StringVar(&o.Protocol, "protocol", d.Protocol, "client protocol: json or protobuf")
	fs.IntVar(&o.Connections, "connections", d.Connections, "connections (subscribers in fanout, channels, burst)")
	fs.IntVar(&o.Channels, "channels", 0, "channels of the channels scenario (0: connections/5)")
	fs.StringVar(&o.ChannelPrefix, "channel-prefix", d.ChannelPrefix, "channel name prefix (no namespace by default)")
	fs.Float64Var(&o.Rate, "rate", 0, "publications per second in fanout and channels (0: 100 fanout, 1000 channels)")
	fs.IntVar(&o.PayloadSize, "payload", d.PayloadSize, "publication payload size in bytes")
	fs.DurationVar(&o.Duration, "duration", 0, "idle window or publishing time (0: 30s idle, 10s otherwise)")
	fs.DurationVar(&o.Drain, "drain", d.Drain, "wait for late deliveries after publishing")
	fs.IntVar(&o.Publishers, "publishers", 0, "concurrent publish calls (0: 64 paced, 8 burst)")
	fs.IntVar(&o.InFlight, "in-flight", d.InFlight, "connections being set up at once")
	fs.IntVar(&o.ServerPID, "pid", 0, "server process id, to read its CPU and RSS from /proc")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM file of the certificate authorities to trust for wss:// and https:// (default: the system's)")
	fs.StringSliceVar(&o.SourceIPs, "source-ips", nil, "local addresses to dial from in turn (e.g. 127.0.0.2,127.0.0.3)")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", d.ConnectTimeout, "bound on one connection's setup")
	fs.DurationVar(&o.PublishTimeout, "publish-timeout", d.PublishTimeout, "bound on one publish call")
	fs.BoolVar(&o.PublisherProcess, "publisher-process", false,
		"publish from a child process of this executable, so that publish calls do not share a scheduler with the subscribers")
	fs.StringVar(&o.publisherChild, publisherChildFlag, "", "internal: run as the publisher process of another bench (JSON options)")
	_ = fs.MarkHidden(publisherChildFlag)
}

// normalized returns o with defaults filled in, or every problem found.
func (o Options) normalized() (Options, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("bench: "+format, args...)) }

	known := false
	for _, s := range Scenarios {
		known = known || o.Scenario == s
	}
	if !known {
		bad("scenario %q: want one of %s", o.Scenario, strings.Join(Scenarios, ", "))
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	wsURL, err := url.Parse(o.URL)
	if err != nil || (wsURL.Scheme != "ws" && wsURL.Scheme != "wss") || wsURL.Host == "" {
		bad("url %q: want ws://host:port/path or wss://…", o.URL)
	} else {
		if o.APIURL == "" {
			scheme := "http"
			if wsURL.Scheme == "wss" {
				scheme = "https"
			}
			o.APIURL = scheme + "://" + wsURL.Host + "/api"
		}
		if o.GRPCAddr == "" {
			o.GRPCAddr = net.JoinHostPort(wsURL.Hostname(), DefaultGRPCPort)
		}
	}
	if o.APIURL != "" {
		if u, err := url.Parse(o.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("api url %q: want http://host:port/api or https://…", o.APIURL)
		}
	}
	o.APIURL = strings.TrimRight(o.APIURL, "/")
	switch o.PublishVia {
	case "":
		o.PublishVia = PublishViaHTTP
	case PublishViaHTTP:
	case PublishViaGRPC:
		if _, _, err := net.SplitHostPort(o.GRPCAddr); err != nil {
			bad("grpc addr %q: want host:port", o.GRPCAddr)
		}
	default:
		bad("publish via %q: want http or grpc", o.PublishVia)
	}
	if o.Token != "" && o.TokenSecret != "" {
		bad("token and token secret are mutually exclusive")
	}
	if o.ConnectProxy != "" {
		if _, _, err := checkConnectProxy(o.ConnectProxy); err != nil {
			bad("%v", err)
		}
		if o.Token != "" || o.TokenSecret != "" {
			bad("connect proxy: connections must send no token for the server to call the proxy; leave out token and token secret")
		}
	}
	switch o.Protocol {
	case "":
		o.Protocol = ProtocolJSON
	case ProtocolJSON, ProtocolProtobuf:
	default:
		bad("protocol %q: want json or protobuf", o.Protocol)
	}

	nonNegative := func(name string, v int) {
		if v < 0 {
			bad("%s %d: must not be negative", name, v)
		}
	}
	nonNegative("connections", o.Connections)
	nonNegative("channels", o.Channels)
	nonNegative("payload size", o.PayloadSize)
	nonNegative("publishers", o.Publishers)
	nonNegative("in-flight", o.InFlight)
	nonNegative("pid", o.ServerPID)
	for name, d := range map[string]time.Duration{
		"duration": o.Duration, "drain": o.Drain,
		"connect timeout": o.ConnectTimeout, "publish timeout": o.PublishTimeout,
	} {
		if d < 0 {
			bad("%s %v: must not be negative", name, d)
		}
	}
	if o.Rate < 0 {
		bad("rate %v: must not be negative", o.Rate)
	}
	for _, s := range o.SourceIPs {
		if net.ParseIP(s) == nil {
			bad("source ip %q: not an IP address", s)
		}
	}

	if o.Connections == 0 {
		o.Connections = DefaultConnections
	}
	if o.ChannelPrefix == "" {
		o.ChannelPrefix = DefaultChannelPrefix
	}
	if o.PayloadSize == 0 {
		o.PayloadSize = DefaultPayloadSize
	}
	if o.PayloadSize > 0 && (o.PayloadSize < minPayloadSize || o.PayloadSize > maxPayloadSize) {
		bad("payload size %d: want %d to %d bytes", o.PayloadSize, minPayloadSize, maxPayloadSize)
	}
	if o.Drain == 0 {
		o.Drain = DefaultDrain
	}
	if o.InFlight == 0 {
		o.InFlight = DefaultInFlight
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = DefaultPublishTimeout
	}
	if o.Duration == 0 {
		o.Duration = DefaultPublishDuration
		if o.Scenario == ScenarioIdle {
			o.Duration = DefaultIdleDuration
		}
	}
	switch o.Scenario {
	case ScenarioChannels:
		if o.Channels == 0 {
			o.Channels = max(1, o.Connections/DefaultSubsPerChannel)
		}
		if o.Channels > o.Connections {
			bad("channels %d: more than connections %d, some channels would have no subscriber", o.Channels, o.Connections)
		}
	case ScenarioFanout, ScenarioBurst:
		o.Channels = 1
	default:
		o.Channels = o.Connections // one channel per connection
	}
	if o.Rate == 0 {
		switch o.Scenario {
		case ScenarioFanout:
			o.Rate = DefaultFanoutRate
		case ScenarioChannels:
			o.Rate = DefaultChannelsRate
		}
	}
	if o.Publishers == 0 {
		o.Publishers = DefaultPacedPublishers
		if o.Scenario == ScenarioBurst {
			o.Publishers = DefaultBurstPublishers
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CAFile != "" {
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(o.CAFile)
		switch {
		case err != nil:
			bad("ca file: %v", err)
		case !pool.AppendCertsFromPEM(pem):
			bad("ca file %q: no PEM certificate in it", o.CAFile)
		default:
			o.tls = &tls.Config{RootCAs: pool}
		}
	}
	return o, errors.Join(errs...)
}

// publishes reports whether the scenario has a publishing phase.
func (o *Options) publishes() bool {
	return o.Scenario == ScenarioFanout || o.Scenario == ScenarioChannels || o.Scenario == ScenarioBurst
}
