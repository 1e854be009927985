package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/internal/app"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil/testtls"
)

const (
	testSecret = "bench-test-secret"
	testAPIKey = "bench-test-key"
	// Short ping cycle, so that an idle run of a few seconds must answer
	// pings to survive.
	testPingInterval = 2 * time.Second
	testPongTimeout  = time.Second
)

// testServer is a Rotor running in this process.
type testServer struct {
	wsURL    string
	apiURL   string
	grpcAddr string
}

// startServer starts a Rotor on free loopback ports (HTTP and gRPC API on)
// for the test, with a short ping cycle.
func startServer(t *testing.T) testServer {
	t.Helper()
	return startServerWith(t, func(cfg *config.Config) {
		cfg.PingInterval = testPingInterval
		cfg.PongTimeout = testPongTimeout
	})
}

// startServerWith is startServer with the config adjusted by mutate.
func startServerWith(t *testing.T, mutate func(*config.Config)) testServer {
	t.Helper()
	cfg := config.Defaults()
	cfg.Address = "127.0.0.1"
	cfg.Port = 0
	cfg.TokenHMACSecretKey = testSecret
	cfg.APIKey = testAPIKey
	cfg.GRPCAPI = true
	cfg.GRPCAPIAddress = "127.0.0.1"
	cfg.GRPCAPIPort = 0
	cfg.GRPCAPIKey = testAPIKey
	cfg.AllowSubscribeForClient = true
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := app.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
	})
	return testServer{
		wsURL:    "ws://" + a.Addr() + "/connection/websocket",
		apiURL:   "http://" + a.Addr() + "/api",
		grpcAddr: a.GRPCAddr(),
	}
}

// runScenario runs o against s and checks the JSON line against the
// returned summary.
func runScenario(t *testing.T, s testServer, o Options) Summary {
	t.Helper()
	o.URL = s.wsURL
	o.APIURL = s.apiURL
	o.APIKey = testAPIKey
	o.GRPCAddr = s.grpcAddr
	o.GRPCKey = testAPIKey
	if o.Token == "" && o.ConnectProxy == "" {
		o.TokenSecret = testSecret
	}
	o.ServerPID = os.Getpid()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	sum, err := Run(ctx, o, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Logf("%s", bytes.TrimSpace(out.Bytes()))
	if n := bytes.Count(out.Bytes(), []byte("\n")); n != 1 || !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
		t.Fatalf("want one JSON line, got %d lines: %q", n, out.String())
	}
	var parsed Summary
	if err := json.Unmarshal(out.Bytes(), &parsed); err != nil {
		t.Fatalf("summary line does not parse: %v", err)
	}
	a, _ := json.Marshal(parsed)
	b, _ := json.Marshal(sum)
	if !bytes.Equal(a, b) {
		t.Fatalf("line and returned summary differ:\n%s\n%s", a, b)
	}
	checkConnect(t, o, sum)
	return sum
}

func checkConnect(t *testing.T, o Options, sum Summary) {
	t.Helper()
	if sum.Scenario != o.Scenario || sum.Requested != o.Connections || sum.Connections != o.Connections ||
		sum.ConnectErrors != 0 || sum.Disconnects != 0 || len(sum.Errors) != 0 || sum.Interrupted {
		t.Errorf("connections: %+v", sum)
	}
	c := sum.Connect
	if c.Seconds <= 0 || c.PerSecond <= 0 || c.P50Ms <= 0 || c.P99Ms < c.P50Ms || c.MaxMs < c.P99Ms {
		t.Errorf("connect stats: %+v", c)
	}
	if c.ServerCPUSeconds == nil || *c.ServerCPUSeconds < 0 || c.ServerRSSBytes == nil || *c.ServerRSSBytes <= 0 {
		t.Errorf("connect server stats: cpu %v rss %v", c.ServerCPUSeconds, c.ServerRSSBytes)
	}
}

func checkDelivery(t *testing.T, sum Summary, channels int) {
	t.Helper()
	d := sum.Delivery
	if d == nil {
		t.Fatal("no delivery section")
	}
	if d.Channels != channels || d.Publications <= 0 || d.PublishErrors != 0 || d.Expected <= 0 ||
		d.Received != d.Expected || d.Loss != 0 {
		t.Errorf("delivery counts: %+v", *d)
	}
	if d.Expected != d.Publications*int64(sum.Connections/channels) {
		t.Errorf("expected %d deliveries, want publications %d × subscribers per channel %d",
			d.Expected, d.Publications, sum.Connections/channels)
	}
	if d.LatencyP50Ms <= 0 || d.LatencyP95Ms < d.LatencyP50Ms || d.LatencyP99Ms < d.LatencyP95Ms ||
		d.LatencyMaxMs < d.LatencyP99Ms || d.PublishP50Ms <= 0 || d.PublishP99Ms < d.PublishP50Ms {
		t.Errorf("latencies: %+v", *d)
	}
	if d.DeliveriesPerSecond <= 0 || d.PublishRate <= 0 || d.PublishSeconds <= 0 {
		t.Errorf("rates: %+v", *d)
	}
	if d.ServerCPUSeconds == nil || d.ServerCPUSecondsPerMillion == nil || d.ServerCPUMillisPerPublish == nil {
		t.Errorf("server cpu: %+v", *d)
	}
}

var protocols = []string{ProtocolJSON, ProtocolProtobuf}

func TestConnect(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			sum := runScenario(t, s, Options{Scenario: ScenarioConnect, Protocol: p, Connections: 200, InFlight: 16})
			if sum.Idle != nil || sum.Delivery != nil {
				t.Errorf("connect has other sections: %+v", sum)
			}
		})
	}
}

// TestConnectProxy has the server ask the tool's connect proxy, over gRPC
// and over HTTP, for every connection instead of checking a token.
func TestConnectProxy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ scheme, path string }{{"grpc", ""}, {"http", "/centrifugo/connect"}} {
		t.Run(tc.scheme, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			endpoint := tc.scheme + "://" + ln.Addr().String() + tc.path
			s := startServerWith(t, func(cfg *config.Config) { cfg.ProxyConnectEndpoint = endpoint })
			const n = 50
			sum := runScenario(t, s, Options{
				Scenario: ScenarioConnect, Connections: n, InFlight: 8,
				ConnectProxy: endpoint, proxyListener: ln,
			})
			if c := sum.Connect.ProxyCalls; c == nil || *c != n {
				t.Errorf("proxy calls %v, want %d", c, n)
			}
		})
	}
}

// TestConnectProxyNotAsked: a server that lets clients in without asking
// the proxy is reported, connection by connection.
func TestConnectProxyNotAsked(t *testing.T) {
	t.Parallel()
	s := startServerWith(t, func(cfg *config.Config) { cfg.ClientInsecure = true })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "grpc://" + ln.Addr().String()
	var out bytes.Buffer
	sum, err := Run(t.Context(), Options{
		Scenario: ScenarioConnect, URL: s.wsURL, Connections: 5, ConnectProxy: endpoint, proxyListener: ln,
	}, &out)
	if err != nil || sum.Connections != 5 || sum.Connect.ProxyCalls == nil || *sum.Connect.ProxyCalls != 0 {
		t.Fatalf("err = %v, summary = %s", err, out.String())
	}
	want := "connect proxy: connections set up without a call to " + endpoint
	if len(sum.Errors) != 1 {
		t.Fatalf("errors %v, want one kind: %q", sum.Errors, want)
	}
	for k, v := range sum.Errors {
		if !strings.HasPrefix(k, want) || v != 5 {
			t.Errorf("error %q × %d, want %q × 5", k, v, want)
		}
	}
}

// TestIdleAnswersPings runs longer than ping_interval + pong_timeout: every
// connection is pinged at least once and must answer to stay.
func TestIdleAnswersPings(t *testing.T) {
	t.Parallel()
	const n = 100
	for _, p := range protocols {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			window := testPingInterval + testPongTimeout + 700*time.Millisecond
			sum := runScenario(t, s, Options{Scenario: ScenarioIdle, Protocol: p, Connections: n, Duration: window})
			st := sum.Idle
			if st == nil {
				t.Fatal("no idle section")
			}
			if st.Alive != n || sum.Pings < n || st.Seconds < window.Seconds() {
				t.Errorf("alive %d, pings %d, window %v", st.Alive, sum.Pings, st.Seconds)
			}
			if st.ServerCPUPercent == nil || *st.ServerCPUPercent < 0 || st.ServerRSSPerConnBytes == nil ||
				st.ServerRSSBeforeBytes == nil || st.ServerRSSAfterBytes == nil {
				t.Errorf("idle server stats: %+v", *st)
			}
		})
	}
}

// TestTLSConnections runs through wss:// and https://, trusting the
// server's certificate with CAFile. TLS connections cannot be read by the
// epoll loops and get a reader goroutine each, which must answer pings as
// the loops do; a publisher process must trust the certificate too.
func TestTLSConnections(t *testing.T) {
	t.Parallel()
	cert, key, _ := testtls.SelfSigned(t)
	s := startServerWith(t, func(cfg *config.Config) {
		cfg.PingInterval = testPingInterval
		cfg.PongTimeout = testPongTimeout
		cfg.TLS, cfg.TLSCert, cfg.TLSKey = true, cert, key
	})
	wss := strings.Replace(s.wsURL, "ws://", "wss://", 1)
	run := func(o Options) (Summary, error, string) {
		t.Helper()
		o.URL, o.TokenSecret, o.APIKey = wss, testSecret, testAPIKey
		var out bytes.Buffer
		sum, err := Run(t.Context(), o, &out)
		return sum, err, out.String()
	}

	const n = 20
	window := testPingInterval + testPongTimeout + 700*time.Millisecond
	sum, err, line := run(Options{Scenario: ScenarioIdle, Connections: n, Duration: window, CAFile: cert})
	if err != nil || sum.Connections != n || sum.Idle == nil || sum.Idle.Alive != n || sum.Pings < n {
		t.Fatalf("idle: err = %v, summary = %s", err, line)
	}

	// The API URL defaults to https:// for wss://.
	sum, err, line = run(Options{
		Scenario: ScenarioFanout, Connections: n, Rate: 50, Duration: time.Second, Drain: 10 * time.Second,
		PublisherProcess: true, CAFile: cert,
	})
	if d := sum.Delivery; err != nil || d == nil || d.Publications != 50 || d.Received != 50*n || d.Loss != 0 {
		t.Fatalf("fanout: err = %v, summary = %s", err, line)
	}

	// Without the certificate's authority nothing connects.
	sum, err, line = run(Options{Scenario: ScenarioConnect, Connections: 2})
	if err == nil || sum.ConnectErrors != 2 || !strings.Contains(line, "certificate") {
		t.Fatalf("untrusted: err = %v, summary = %s", err, line)
	}
}

// TestIdleWithoutPongs checks the other side of TestIdleAnswersPings: the
// server does drop connections that do not answer (3012 no pong).
func TestIdleWithoutPongs(t *testing.T) {
	t.Parallel()
	const n = 20
	s := startServer(t)
	o := Options{
		// Every connection is pinged within a ping interval and dropped a pong
		// timeout later; the extra 2 s absorbs scheduling delays when the
		// machine is busy with the other tests.
		Scenario: ScenarioIdle, Connections: n, Duration: testPingInterval + testPongTimeout + 2*time.Second,
		URL: s.wsURL, TokenSecret: testSecret, disablePongs: true,
	}
	var out bytes.Buffer
	sum, err := Run(t.Context(), o, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Disconnects != n || sum.Closes["3012"] != n || sum.Idle.Alive != 0 || sum.Pings != 0 {
		t.Fatalf("without pongs: %s", out.String())
	}
}

func TestFanout(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			sum := runScenario(t, s, Options{
				Scenario: ScenarioFanout, Protocol: p, Connections: 50, Rate: 100,
				Duration: 1500 * time.Millisecond, Drain: 10 * time.Second,
			})
			checkDelivery(t, sum, 1)
			if d := sum.Delivery; d.Publications != 150 || d.TargetRate != 100 {
				t.Errorf("publications %d, target rate %v", d.Publications, d.TargetRate)
			}
		})
	}
}

func TestFanoutGRPC(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	sum := runScenario(t, s, Options{
		Scenario: ScenarioFanout, PublishVia: PublishViaGRPC, Connections: 30, Rate: 100,
		Duration: time.Second, Drain: 10 * time.Second,
	})
	checkDelivery(t, sum, 1)
	if d := sum.Delivery; d.Via != PublishViaGRPC || d.Publications != 100 {
		t.Errorf("via %q, publications %d", d.Via, d.Publications)
	}
}

func TestChannels(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			sum := runScenario(t, s, Options{
				Scenario: ScenarioChannels, Protocol: p, Connections: 100, Channels: 20, Rate: 200,
				Duration: 1500 * time.Millisecond, Drain: 10 * time.Second,
			})
			checkDelivery(t, sum, 20)
			if d := sum.Delivery; d.Publications != 300 || d.Expected != 300*5 {
				t.Errorf("publications %d, expected %d", d.Publications, d.Expected)
			}
		})
	}
}

func TestBurst(t *testing.T) {
	t.Parallel()
	for _, p := range protocols {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			sum := runScenario(t, s, Options{
				Scenario: ScenarioBurst, Protocol: p, Connections: 20, Publishers: 2,
				Duration: time.Second, Drain: 10 * time.Second,
			})
			checkDelivery(t, sum, 1)
			if d := sum.Delivery; d.TargetRate != 0 || d.Publishers != 2 {
				t.Errorf("burst: %+v", *d)
			}
		})
	}
}

func TestSourceIPs(t *testing.T) {
	t.Parallel()
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Skipf("cannot bind %s here: %v", ip, err)
		}
		ln.Close()
	}
	ips := []string{"127.0.0.2", "127.0.0.3", "127.0.0.1"}
	// Each dialer dials from its address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for i, d := range newDialers(&Options{SourceIPs: ips, ConnectTimeout: time.Second}) {
		c, err := d.NetDial(t.Context(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if got := peer.RemoteAddr().(*net.TCPAddr).IP.String(); got != ips[i] {
			t.Errorf("dialer %d dials from %s, want %s", i, got, ips[i])
		}
		c.Close()
		peer.Close()
	}
	s := startServer(t)
	runScenario(t, s, Options{Scenario: ScenarioConnect, Connections: 30, SourceIPs: ips})
}

func TestFixedTokenAndPublishFailure(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	// A fixed token: every connection is the same user.
	tok := mustToken(t, "same-user")
	runScenario(t, s, Options{Scenario: ScenarioConnect, Connections: 10, Token: tok})

	// A wrong API key stops a publishing scenario before it connects.
	var out bytes.Buffer
	_, err := Run(t.Context(), Options{
		Scenario: ScenarioFanout, URL: s.wsURL, APIURL: s.apiURL, APIKey: "wrong", TokenSecret: testSecret,
		Connections: 5, Duration: time.Second,
	}, &out)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || out.Len() != 0 {
		t.Fatalf("err = %v, out = %q", err, out.String())
	}
	_, err = Run(t.Context(), Options{
		Scenario: ScenarioBurst, URL: s.wsURL, PublishVia: PublishViaGRPC, GRPCAddr: s.grpcAddr, GRPCKey: "wrong",
		TokenSecret: testSecret, Connections: 5, Duration: time.Second,
	}, &out)
	if err == nil || !strings.Contains(err.Error(), "Unauthenticated") || out.Len() != 0 {
		t.Fatalf("grpc: err = %v, out = %q", err, out.String())
	}
}

func TestConnectErrorsAreCounted(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	var out bytes.Buffer
	sum, err := Run(t.Context(), Options{
		Scenario: ScenarioConnect, URL: s.wsURL, TokenSecret: "not-the-secret", Connections: 5,
	}, &out)
	if err == nil || sum.Connections != 0 || sum.ConnectErrors != 5 || len(sum.Errors) == 0 {
		t.Fatalf("err = %v, summary = %s", err, out.String())
	}
	for k := range sum.Errors {
		if !strings.Contains(k, "3500") {
			t.Errorf("error %q does not name the invalid token close code", k)
		}
	}
	// A wrong path fails the handshake.
	out.Reset()
	sum, err = Run(t.Context(), Options{
		Scenario: ScenarioConnect, URL: strings.Replace(s.wsURL, "/connection/", "/nothing/", 1), Connections: 3,
	}, &out)
	if err == nil || sum.ConnectErrors != 3 || sum.Errors["connect: handshake: HTTP 404"] != 3 {
		t.Fatalf("err = %v, summary = %s", err, out.String())
	}
}

func TestCancelStopsIdle(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	var out bytes.Buffer
	sum, err := Run(ctx, Options{Scenario: ScenarioIdle, URL: s.wsURL, TokenSecret: testSecret, Connections: 20, Duration: time.Minute}, &out)
	if !errors.Is(err, context.Canceled) || !sum.Interrupted || sum.Connections != 20 {
		t.Fatalf("err = %v, summary = %s", err, out.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if !strings.Contains(out.String(), `"interrupted":true`) {
		t.Fatalf("line = %s", out.String())
	}
}

func TestMissingServerPID(t *testing.T) {
	t.Parallel()
	_, err := Run(t.Context(), Options{Scenario: ScenarioConnect, ServerPID: 1<<31 - 1}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "/proc") {
		t.Fatalf("err = %v", err)
	}
}

func mustToken(t *testing.T, user string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user}).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
