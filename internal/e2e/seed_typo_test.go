package e2e

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/internal/testutil/wait"
	"github.com/rotorhq/rotor/proxyproto"
)

// seedRefreshWait bounds the wait for the failed refresh: the connection
// expires within seedExpireIn seconds, then the call to the unresolvable
// host fails (at the latest after the seed's 10 s proxy_refresh_timeout).
const seedRefreshWait = seedExpireIn*time.Second + 12*time.Second

// TestSeedRefreshEndpointTypo runs the seed's config.json with its
// proxy_refresh_endpoint as written (host "127.0.0.1c", which does not
// resolve) and the other endpoints at a gRPC backend: the configuration is
// valid and only the endpoint check flags the key, Rotor starts, connect,
// subscribe, publish and rpc work, and when the connection expires the
// refresh call fails, is logged with the key and the endpoint, and the
// connection is extended, not closed.
func TestSeedRefreshEndpointTypo(t *testing.T) {
	t.Parallel()
	b := seedOKBackend()
	b.onConnect = func(context.Context, *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
		return &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{User: seedUser, ExpireAt: seedExpireAt()}}, nil
	}
	b.onPublish = func(_ context.Context, r *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
		return &proxyproto.PublishResponse{Result: &proxyproto.PublishResult{Data: []byte(`{"replaced":true}`)}}, nil
	}
	addr, _ := b.serveGRPC(t, "127.0.0.1:0")
	cfg := loadSeedConfig(t)
	pointSeedAt(&cfg, seedGRPCEndpoint(addr), true)
	if cfg.ProxyRefreshEndpoint != seedRefreshTypo {
		t.Fatalf("proxy_refresh_endpoint is %q, want the seed's %q", cfg.ProxyRefreshEndpoint, seedRefreshTypo)
	}

	// What serve warns about at startup (checkconfig reports it as an
	// error): exactly the refresh endpoint.
	ctx, cancel := context.WithTimeout(t.Context(), wait.Timeout)
	defer cancel()
	problems := cfg.CheckEndpoints(ctx)
	if len(problems) != 1 || problems[0].Key != "proxy_refresh_endpoint" {
		t.Fatalf("CheckEndpoints: %v, want one problem for proxy_refresh_endpoint", problems)
	}

	srv := runSeedServer(t, cfg) // validates the config, then starts

	c := newSeedClient(t, srv.WSURL)
	connected := c.connect()
	sub, err := c.NewSubscription("room", centrifuge.SubscriptionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	subscribed := make(chan centrifuge.SubscribedEvent, seedEvents)
	pubs := make(chan centrifuge.PublicationEvent, seedEvents)
	sub.OnSubscribed(func(e centrifuge.SubscribedEvent) { seedPush(subscribed, e) })
	sub.OnPublication(func(e centrifuge.PublicationEvent) { seedPush(pubs, e) })
	if err := sub.Subscribe(); err != nil {
		t.Fatal(err)
	}
	wait.Receive(t, subscribed, "subscribed event")
	opCtx, opCancel := context.WithTimeout(t.Context(), wait.Timeout)
	defer opCancel()
	if _, err := c.Publish(opCtx, "room", []byte(`{"text":"hi"}`)); err != nil {
		t.Fatalf("publish: %v", err)
	}
	pub := wait.Receive(t, pubs, "publication")
	if err := seedJSONEqual(pub.Data, []byte(`{"replaced":true}`)); err != nil {
		t.Errorf("publication data: %v", err)
	}
	if res, err := c.RPC(opCtx, "echo", []byte(`{"n":1}`)); err != nil {
		t.Fatalf("rpc: %v", err)
	} else if err := seedJSONEqual(res.Data, []byte(`{"n":1}`)); err != nil {
		t.Errorf("rpc result: %v", err)
	}
	for _, ev := range []string{seedEvConnect, seedEvSubscribe, seedEvPublish, seedEvRPC} {
		if n := b.countCalls(ev); n != 1 {
			t.Errorf("backend got %d %s calls, want 1", n, ev)
		}
	}

	// The connection expires; the refresh call to the typo host fails and is
	// logged with the key and the endpoint...
	rec := srv.Logs.waitFor(t, seedRefreshWait, "proxy call failed", func(r seedLogRecord) bool {
		return r.Attrs["key"] == "proxy_refresh_endpoint"
	})
	if rec.Attrs["endpoint"] != seedRefreshTypo || rec.Attrs["method"] != "Refresh" || rec.Level < slog.LevelWarn {
		t.Errorf("log record %s: want endpoint %q, method Refresh, level warn or above", rec, seedRefreshTypo)
	}
	// ...and the connection is extended rather than closed.
	ext := srv.Logs.waitFor(t, wait.Timeout, "refresh proxy failed, connection extended", func(r seedLogRecord) bool {
		return r.Attrs["client"] == connected.ClientID
	})
	if ext.Attrs["retry_in"] != "1m0s" {
		t.Errorf("log record %s: want retry_in 1m0s", ext)
	}
	if n := b.countCalls(seedEvRefresh); n != 0 {
		t.Errorf("the backend got %d refresh calls; they must go to the seed's refresh endpoint", n)
	}
	select {
	case d := <-c.disconnected:
		t.Fatalf("client disconnected (%d %q) after the failed refresh", d.Code, d.Reason)
	default:
	}
	if st := c.State(); st != centrifuge.StateConnected {
		t.Fatalf("client state %q after the failed refresh, want connected", st)
	}
	// The connection still works past its expiry.
	lateCtx, lateCancel := context.WithTimeout(t.Context(), wait.Timeout)
	defer lateCancel()
	if _, err := c.RPC(lateCtx, "echo", []byte(`{"n":2}`)); err != nil {
		t.Fatalf("rpc after the failed refresh: %v", err)
	}
	if n := b.countCalls(seedEvConnect); n != 1 {
		t.Errorf("backend got %d connect calls, want 1 (no reconnect)", n)
	}
}
