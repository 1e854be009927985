package bench

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	h := &histogram{}
	rng := rand.New(rand.NewPCG(1, 2))
	var vals []time.Duration
	for range 100_000 {
		// Log-uniform from 1 µs to 10 s.
		v := time.Duration(1e3 * math.Pow(10, rng.Float64()*7))
		vals = append(vals, v)
		h.Record(v)
	}
	slices.Sort(vals)
	if h.Count() != uint64(len(vals)) {
		t.Fatalf("count = %d, want %d", h.Count(), len(vals))
	}
	if h.Max() != vals[len(vals)-1] {
		t.Fatalf("max = %v, want %v", h.Max(), vals[len(vals)-1])
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		want := vals[int(q*float64(len(vals)))-1+boolInt(q < 1)]
		got := h.Quantile(q)
		if rel := float64(got-want) / float64(want); rel > 0.035 || rel < -0.035 {
			t.Errorf("q%.3f = %v, want %v (±3.5%%), off by %.2f%%", q, got, want, 100*rel)
		}
	}
}

func TestHistogramSmallAndEdgeValues(t *testing.T) {
	t.Parallel()
	h := &histogram{}
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	for _, v := range []time.Duration{-5, 0, 1, 63, 64, 65, 1 << 40, 1<<63 - 1} {
		h.Record(v)
	}
	if h.Quantile(0) != 0 || h.Max() != 1<<63-1 || h.Quantile(1) > h.Max() {
		t.Fatalf("q0 = %v, max = %v, q1 = %v", h.Quantile(0), h.Max(), h.Quantile(1))
	}
	for i := range numBuckets {
		low, width := bucketRange(i)
		if bucketOf(low) != i || bucketOf(low+width-1) != i {
			t.Fatalf("bucket %d: [%d, +%d) maps to %d and %d", i, low, width, bucketOf(low), bucketOf(low+width-1))
		}
		if i+1 < numBuckets {
			if next, _ := bucketRange(i + 1); next != low+width {
				t.Fatalf("bucket %d ends at %d, bucket %d starts at %d", i, low+width, i+1, next)
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestPayload(t *testing.T) {
	t.Parallel()
	now := time.Now().UnixNano()
	for _, size := range []int{48, 100, 1000} {
		p := appendPayload(nil, now, 12345, size)
		if len(p) != size {
			t.Errorf("size %d: payload is %d bytes: %s", size, len(p), p)
		}
		var v struct {
			T int64  `json:"t"`
			S int64  `json:"s"`
			P string `json:"p"`
		}
		if err := json.Unmarshal(p, &v); err != nil || v.T != now || v.S != 12345 {
			t.Errorf("size %d: %s decodes to %+v, %v", size, p, v, err)
		}
		if got, ok := payloadTime(p); !ok || got != now {
			t.Errorf("payloadTime = %d, %v; want %d", got, ok, now)
		}
		body := appendPublishBody(nil, `bench_"1"`, now, 7, size)
		var req struct {
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Channel != `bench_"1"` || len(req.Data) != size {
			t.Errorf("publish body %s: %+v, %v", body, req, err)
		}
	}
	if _, ok := payloadTime([]byte(`{"x":1}`)); ok {
		t.Error("payloadTime accepted a foreign payload")
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scenario   string
		duration   time.Duration
		rate       float64
		channels   int
		publishers int
	}{
		{ScenarioConnect, DefaultPublishDuration, 0, DefaultConnections, DefaultPacedPublishers},
		{ScenarioIdle, DefaultIdleDuration, 0, DefaultConnections, DefaultPacedPublishers},
		{ScenarioFanout, DefaultPublishDuration, DefaultFanoutRate, 1, DefaultPacedPublishers},
		{ScenarioChannels, DefaultPublishDuration, DefaultChannelsRate, DefaultConnections / DefaultSubsPerChannel, DefaultPacedPublishers},
		{ScenarioBurst, DefaultPublishDuration, 0, 1, DefaultBurstPublishers},
	} {
		o, err := Options{Scenario: tc.scenario}.normalized()
		if err != nil {
			t.Fatalf("%s: %v", tc.scenario, err)
		}
		if o.Duration != tc.duration || o.Rate != tc.rate || o.Channels != tc.channels || o.Publishers != tc.publishers {
			t.Errorf("%s: duration %v rate %v channels %d publishers %d", tc.scenario, o.Duration, o.Rate, o.Channels, o.Publishers)
		}
		if o.URL != DefaultURL || o.APIURL != "http://127.0.0.1:8000/api" || o.GRPCAddr != "127.0.0.1:10000" ||
			o.PublishVia != PublishViaHTTP || o.Protocol != ProtocolJSON ||
			o.PayloadSize != DefaultPayloadSize || o.InFlight != DefaultInFlight || o.Drain != DefaultDrain {
			t.Errorf("%s: %+v", tc.scenario, o)
		}
	}
	o, err := Options{Scenario: ScenarioFanout, URL: "wss://example.test:443/connection/websocket"}.normalized()
	if err != nil || o.APIURL != "https://example.test:443/api" {
		t.Errorf("api url from wss = %q, %v", o.APIURL, err)
	}
}

func TestOptionsErrors(t *testing.T) {
	t.Parallel()
	_, err := Options{
		Scenario:    "nope",
		URL:         "http://x/connection/websocket",
		APIURL:      "ftp://x",
		Protocol:    "xml",
		Token:       "a",
		TokenSecret: "b",
		Connections: -1,
		PayloadSize: 10,
		Rate:        -1,
		SourceIPs:   []string{"127.0.0.2", "not-an-ip"},
		PublishVia:  "smtp",
		Duration:    -time.Second,
	}.normalized()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`scenario "nope"`, `url "http://x`, `api url "ftp://x"`, `protocol "xml"`, "mutually exclusive",
		"connections -1", "payload size 10", "rate -1", `source ip "not-an-ip"`, `publish via "smtp"`,
		"duration -1s",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := (Options{Scenario: ScenarioFanout, PublishVia: PublishViaGRPC, GRPCAddr: "nohostport"}).normalized(); err == nil ||
		!strings.Contains(err.Error(), `grpc addr "nohostport"`) {
		t.Errorf("bad grpc addr: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		garbage: `ca file "` + garbage + `": no PEM certificate`,
		filepath.Join(t.TempDir(), "missing.pem"): "ca file: open",
	} {
		if _, err := (Options{Scenario: ScenarioConnect, CAFile: file}).normalized(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ca file %s: %v", file, err)
		}
	}
	for _, tc := range []struct{ endpoint, token, want string }{
		{"grpc://127.0.0.1", "", `connect proxy "grpc://127.0.0.1": want grpc://host:port`},
		{"grpc://127.0.0.1:1/connect", "", "a grpc:// endpoint has no path"},
		{"http://127.0.0.1:1/centrifugo", "", "the path must end in /connect"},
		{"https://127.0.0.1:1/connect", "", `connect proxy "https://127.0.0.1:1/connect": want grpc://`},
		{"grpc://127.0.0.1:1", "t", "connections must send no token"},
	} {
		_, err := (Options{Scenario: ScenarioConnect, ConnectProxy: tc.endpoint, Token: tc.token}).normalized()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("connect proxy %q: %v, want %q", tc.endpoint, err, tc.want)
		}
	}
	for _, ok := range []string{"grpc://127.0.0.1:1", "http://127.0.0.1:1/connect", "http://[::1]:1/a/b/connect"} {
		if _, err := (Options{Scenario: ScenarioConnect, ConnectProxy: ok}).normalized(); err != nil {
			t.Errorf("connect proxy %q: %v", ok, err)
		}
	}
	if _, err := (Options{Scenario: ScenarioChannels, Connections: 3, Channels: 4}).normalized(); err == nil {
		t.Error("more channels than connections accepted")
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Parallel()
	var o Options
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	RegisterFlags(fs, &o)
	if o.Connections != DefaultConnections || o.URL != DefaultURL || o.PayloadSize != DefaultPayloadSize {
		t.Fatalf("defaults not applied: %+v", o)
	}
	err := fs.Parse([]string{
		"--scenario=fanout", "--url=ws://10.0.0.1:9000/connection/websocket", "--api-key=k",
		"--token-secret=s", "--protocol=protobuf", "--connections=500", "--rate=250", "--payload=200",
		"--duration=5s", "--publishers=16", "--in-flight=32", "--pid=42", "--source-ips=127.0.0.2,127.0.0.3",
		"--publisher-process",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		Scenario: "fanout", URL: "ws://10.0.0.1:9000/connection/websocket", APIKey: "k", TokenSecret: "s",
		Protocol: "protobuf", Connections: 500, Rate: 250, PayloadSize: 200, Duration: 5 * time.Second,
		Publishers: 16, InFlight: 32, ServerPID: 42, SourceIPs: []string{"127.0.0.2", "127.0.0.3"},
		PublishVia: "http", ChannelPrefix: DefaultChannelPrefix, Drain: DefaultDrain,
		ConnectTimeout: DefaultConnectTimeout, PublishTimeout: DefaultPublishTimeout,
	}
	if o.Scenario != want.Scenario || o.URL != want.URL || o.APIKey != want.APIKey || o.TokenSecret != want.TokenSecret ||
		o.Protocol != want.Protocol || o.Connections != want.Connections || o.Rate != want.Rate ||
		o.PayloadSize != want.PayloadSize || o.Duration != want.Duration || o.Publishers != want.Publishers ||
		o.InFlight != want.InFlight || o.ServerPID != want.ServerPID || !slices.Equal(o.SourceIPs, want.SourceIPs) ||
		o.PublishVia != want.PublishVia || o.ChannelPrefix != want.ChannelPrefix || o.Drain != want.Drain ||
		o.ConnectTimeout != want.ConnectTimeout || o.PublishTimeout != want.PublishTimeout || !o.PublisherProcess {
		t.Fatalf("parsed\n%+v\nwant\n%+v", o, want)
	}
	if f := fs.Lookup(publisherChildFlag); f == nil || !f.Hidden || o.publisherChild != "" {
		t.Fatalf("hidden flag %s: %+v", publisherChildFlag, f)
	}
	if err := fs.Parse([]string{"--" + publisherChildFlag + `={"scenario":"fanout"}`}); err != nil || o.publisherChild != `{"scenario":"fanout"}` {
		t.Fatalf("--%s: %v, %q", publisherChildFlag, err, o.publisherChild)
	}
}
