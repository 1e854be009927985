//go:build centrifugo

// Package centrifugo tests rotorapi and rotorproxy against a real Centrifugo
// v6 node that run.sh starts; the addresses and keys come from the
// COMPAT_CENTRIFUGO_* variables it sets.
package centrifugo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/rotorproxy"
)

// env holds what run.sh passes.
var env struct {
	httpAPI, httpAPIKey string // e.g. http://127.0.0.1:8000
	grpcAPI, grpcAPIKey string // host:port
	wsURL               string
	proxyGRPC           string // where the gRPC proxy backend must listen
	proxyHTTP           string // where the HTTP proxy backend must listen
}

// back is the proxy backend Centrifugo calls, on both wires.
var back *backend

func TestMain(m *testing.M) {
	vars := []struct {
		name string
		dst  *string
	}{
		{"COMPAT_CENTRIFUGO_HTTP_API", &env.httpAPI},
		{"COMPAT_CENTRIFUGO_HTTP_API_KEY", &env.httpAPIKey},
		{"COMPAT_CENTRIFUGO_GRPC_API", &env.grpcAPI},
		{"COMPAT_CENTRIFUGO_GRPC_API_KEY", &env.grpcAPIKey},
		{"COMPAT_CENTRIFUGO_WS_URL", &env.wsURL},
		{"COMPAT_CENTRIFUGO_PROXY_GRPC_ADDR", &env.proxyGRPC},
		{"COMPAT_CENTRIFUGO_PROXY_HTTP_ADDR", &env.proxyHTTP},
	}
	var missing []string
	for _, v := range vars {
		*v.dst = os.Getenv(v.name)
		if *v.dst == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %v not set. These tests need a running Centrifugo v6 node: run compat/centrifugo/run.sh, which starts one and sets them.\n", missing)
		os.Exit(1)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	gln, err := net.Listen("tcp", env.proxyGRPC)
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy backend (gRPC):", err)
		return 1
	}
	hln, err := net.Listen("tcp", env.proxyHTTP)
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy backend (HTTP):", err)
		return 1
	}
	// One Server answers both wires: gRPC on its listener, HTTP through its
	// handler.
	srv, err := rotorproxy.New(rotorproxy.WithListener(gln), rotorproxy.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	back = newBackend(srv)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	mux := http.NewServeMux()
	mux.Handle("/centrifugo/", srv.HTTPHandler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(hln) }()

	code := m.Run()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "proxy backend shutdown:", err)
		code = 1
	}
	if err := <-served; err != nil {
		fmt.Fprintln(os.Stderr, "proxy backend:", err)
		code = 1
	}
	return code
}

// newClient connects a centrifuge-go JSON client without a token, so that
// Centrifugo asks the connect proxy; data is the connect data. setup, when
// given, registers more event handlers before the client connects.
func newClient(t *testing.T, data string, setup ...func(*centrifuge.Client)) (*centrifuge.Client, centrifuge.ConnectedEvent) {
	t.Helper()
	connected := make(chan centrifuge.ConnectedEvent, 1)
	c := centrifuge.NewJsonClient(env.wsURL, centrifuge.Config{
		Data:              []byte(data),
		Header:            http.Header{"X-Trace": {"trace-" + t.Name()}},
		MinReconnectDelay: 50 * time.Millisecond,
	})
	c.OnConnected(func(e centrifuge.ConnectedEvent) {
		select {
		case connected <- e:
		default:
		}
	})
	for _, f := range setup {
		f(c)
	}
	t.Cleanup(c.Close)
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	return c, receive(t, connected, "connected event")
}

// subscribe subscribes c to channel and waits until it is subscribed; the
// publications it receives go to the returned channel.
func subscribe(t *testing.T, c *centrifuge.Client, channel string) (*centrifuge.Subscription, chan []byte) {
	t.Helper()
	sub, err := c.NewSubscription(channel)
	if err != nil {
		t.Fatal(err)
	}
	pubs := make(chan []byte, 16)
	subscribed := make(chan struct{}, 1)
	failed := make(chan centrifuge.UnsubscribedEvent, 1)
	sub.OnPublication(func(e centrifuge.PublicationEvent) { pubs <- e.Data })
	sub.OnSubscribed(func(centrifuge.SubscribedEvent) {
		select {
		case subscribed <- struct{}{}:
		default:
		}
	})
	sub.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) {
		select {
		case failed <- e:
		default:
		}
	})
	if err := sub.Subscribe(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-subscribed:
	case e := <-failed:
		t.Fatalf("subscribe %s: unsubscribed %d %s", channel, e.Code, e.Reason)
	case <-time.After(5 * time.Second):
		t.Fatalf("subscribe %s: timed out", channel)
	}
	return sub, pubs
}

// receive waits up to 5 s for a value on ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
