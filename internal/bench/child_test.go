package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestMain makes this test binary usable as a publisher process. Run starts
// one by executing os.Executable() — here the test binary — with the
// arguments "bench --publisher-child=<JSON>"; TestMain hands such arguments
// to benchMain, which does what the rotor command's bench does with them
// (RegisterFlags, then Run), instead of running the tests.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		os.Exit(benchMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// benchMain is the bench command: it parses args with RegisterFlags' flags
// and runs them, logging to stderr.
func benchMain(args []string) int {
	var o Options
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	RegisterFlags(fs, &o)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if _, err := Run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func TestFanoutPublisherProcess(t *testing.T) {
	t.Parallel()
	for _, via := range []string{PublishViaHTTP, PublishViaGRPC} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			const subscribers, rate = 50, 100
			s := startServer(t)
			sum := runScenario(t, s, Options{
				Scenario: ScenarioFanout, PublishVia: via, Connections: subscribers, Rate: rate,
				Duration: 1500 * time.Millisecond, Drain: 10 * time.Second, PublisherProcess: true,
			})
			checkDelivery(t, sum, 1)
			d := sum.Delivery
			if !d.PublisherProcess || d.Via != via {
				t.Errorf("publisher process %v, via %q", d.PublisherProcess, d.Via)
			}
			if d.Publications != rate*3/2 || d.Expected != d.Publications*subscribers || d.Loss != 0 || d.Received != d.Expected {
				t.Errorf("publications %d, expected %d, received %d, loss %d", d.Publications, d.Expected, d.Received, d.Loss)
			}
			if d.PublishP50Ms <= 0 || d.PublishP99Ms < d.PublishP50Ms || d.PublishMaxMs < d.PublishP99Ms {
				t.Errorf("publish latencies: p50 %v p99 %v max %v", d.PublishP50Ms, d.PublishP99Ms, d.PublishMaxMs)
			}
		})
	}
}

// TestChannelsPublisherProcess checks that the per-channel counts of the
// child make the expected deliveries over several channels.
func TestChannelsPublisherProcess(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	sum := runScenario(t, s, Options{
		Scenario: ScenarioChannels, Connections: 60, Channels: 12, Rate: 200,
		Duration: time.Second, Drain: 10 * time.Second, PublisherProcess: true,
	})
	checkDelivery(t, sum, 12)
	if d := sum.Delivery; !d.PublisherProcess || d.Publications != 200 || d.Expected != 200*5 {
		t.Errorf("publisher process %v, publications %d, expected %d", d.PublisherProcess, d.Publications, d.Expected)
	}
}

func TestPublisherProcessFailures(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	run := func(t *testing.T, exe string) (Summary, error, string) {
		t.Helper()
		var out bytes.Buffer
		sum, err := Run(t.Context(), Options{
			Scenario: ScenarioFanout, URL: s.wsURL, APIURL: s.apiURL, APIKey: testAPIKey, TokenSecret: testSecret,
			Connections: 5, Duration: 200 * time.Millisecond, PublisherProcess: true, publisherExe: exe,
		}, &out)
		if sum.Delivery == nil || !sum.Delivery.PublisherProcess || sum.Delivery.Publications != 0 ||
			sum.Delivery.Expected != 0 || !strings.Contains(out.String(), `"publisher_process":true`) {
			t.Errorf("summary = %s", out.String())
		}
		return sum, err, out.String()
	}
	// errorKind returns the summary's one publisher process error.
	errorKind := func(t *testing.T, sum Summary) string {
		t.Helper()
		for k := range sum.Errors {
			if strings.HasPrefix(k, "publisher process: ") {
				return k
			}
		}
		t.Errorf("no publisher process error in %v", sum.Errors)
		return ""
	}

	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		sum, err, line := run(t, filepath.Join(t.TempDir(), "no-such-program"))
		if err == nil || !strings.Contains(err.Error(), "publisher process: starting ") {
			t.Fatalf("err = %v, line = %s", err, line)
		}
		if k := errorKind(t, sum); !strings.Contains(k, "no-such-program") {
			t.Errorf("error kind %q", k)
		}
	})
	t.Run("bad line", func(t *testing.T) {
		t.Parallel()
		echo, err := exec.LookPath("echo")
		if err != nil {
			t.Skip("no echo program")
		}
		// echo prints its arguments: one line, but not the child's JSON.
		sum, err, line := run(t, echo)
		if err == nil || !strings.Contains(err.Error(), "bad output line") {
			t.Fatalf("err = %v, line = %s", err, line)
		}
		errorKind(t, sum)
	})
	t.Run("exit status", func(t *testing.T) {
		t.Parallel()
		sh, err := exec.LookPath("sh")
		if err != nil {
			t.Skip("no sh program")
		}
		// sh looks for a script named "bench", fails and says so on stderr.
		sum, err, line := run(t, sh)
		if err == nil || !strings.Contains(err.Error(), "exit status") || !strings.Contains(err.Error(), "bench") {
			t.Fatalf("err = %v, line = %s", err, line)
		}
		errorKind(t, sum)
	})
}

// TestCancelKillsPublisherProcess cancels a run a minute long while the
// child publishes: Run returns once the child has been killed.
func TestCancelKillsPublisherProcess(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out bytes.Buffer
	done := make(chan struct{})
	var sum Summary
	var err error
	start := time.Now()
	go func() {
		defer close(done)
		sum, err = Run(ctx, Options{
			Scenario: ScenarioFanout, URL: s.wsURL, APIURL: s.apiURL, APIKey: testAPIKey, TokenSecret: testSecret,
			Connections: 5, Rate: 50, Duration: time.Minute, PublisherProcess: true,
		}, &out)
	}()
	time.Sleep(1500 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !errors.Is(err, context.Canceled) || !sum.Interrupted || sum.Delivery == nil || !sum.Delivery.PublisherProcess {
		t.Fatalf("err = %v, summary = %s", err, out.String())
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

func TestParsePublisherLine(t *testing.T) {
	t.Parallel()
	good := `{"start_unix_ns":1700000000000000000,"publish_ns":1000000000,"published":[3,4],"publish_errors":1,` +
		`"error_kinds":{"publish: x":1},"publish_p50_ns":1000,"publish_p99_ns":2000,"publish_max_ns":3000}` + "\n"
	res, err := parsePublisherLine([]byte(good), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := publishResult{
		Start: 1700000000000000000, Nanos: 1e9, Published: []int64{3, 4}, Errors: 1,
		ErrorKinds: map[string]int{"publish: x": 1}, P50: 1000, P99: 2000, Max: 3000,
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("parsed %+v, want %+v", res, want)
	}
	for _, tc := range []struct{ out, want string }{
		{"", "no output line"},
		{"\n", "no output line"},
		{good + good, "2 output lines"},
		{"hello\n", "bad output line"},
		{strings.Replace(good, `"published"`, `"publishd"`, 1), "unknown field"},
		{strings.TrimSuffix(good, "\n") + " {}\n", "data after"},
		{strings.Replace(good, `[3,4]`, `[3]`, 1), "counts 1 channels, want 2"},
		{strings.Replace(good, `[3,4]`, `[3,-4]`, 1), "implausible"},
		{strings.Replace(good, `"start_unix_ns":1700000000000000000`, `"start_unix_ns":0`, 1), "implausible"},
	} {
		if _, err := parsePublisherLine([]byte(tc.out), 2); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.out, err, tc.want)
		}
	}
}

// TestChildOptionsRoundTrip checks that a child normalizes the options it
// is given to the parent's publishing options.
func TestChildOptionsRoundTrip(t *testing.T) {
	t.Parallel()
	parent, err := Options{
		Scenario: ScenarioChannels, URL: "ws://10.0.0.1:9000/connection/websocket", APIKey: "k",
		PublishVia: PublishViaGRPC, GRPCKey: "g", Connections: 20000, Rate: 5000, PayloadSize: 300,
		Duration: 7 * time.Second, Publishers: 9, ChannelPrefix: "p_", PublishTimeout: 3 * time.Second,
		ConnectTimeout: 4 * time.Second, TokenSecret: "secret", PublisherProcess: true,
	}.normalized()
	if err != nil {
		t.Fatal(err)
	}
	child, err := childOptionsOf(&parent).options(nil).normalized()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := childOptionsOf(&child), childOptionsOf(&parent); got != want {
		t.Fatalf("child options\n%+v\nwant\n%+v", got, want)
	}
	if child.Channels != 4000 || child.TokenSecret != "" {
		t.Errorf("channels %d, token secret %q", child.Channels, child.TokenSecret)
	}
}
