package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/testutil"
	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// Error and disconnect codes of the client protocol (reference: Centrifugo
// §4), spelled out here so that the tests do not depend on the server's own
// tables.
const (
	codeUnknownChannel   = 102
	codePermissionDenied = 103
	codeTokenExpired     = 109
	codeInvalidToken     = 3500
	// codeSDKUnauthorized is centrifuge-go's own disconnect code when it needs
	// a new token and has no GetToken to get one.
	codeSDKUnauthorized = 1
)

// pubSubConfig lets clients subscribe to channels without namespace (but not
// publish to them), and both subscribe and publish in namespace "chat".
func pubSubConfig(c *config.Config) {
	c.AllowSubscribeForClient = true
	c.Namespaces = append(c.Namespaces, config.Namespace{
		Name: "chat",
		ChannelOptions: config.ChannelOptions{
			AllowSubscribeForClient: true,
			AllowPublishForClient:   true,
		},
	})
}

// opContext bounds one client operation.
func opContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func TestGoConnect(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, nil)
		c, ev := connectAs(t, p, srv, "alice")
		if got := c.State(); got != centrifuge.StateConnected {
			t.Fatalf("state after connected event: got %q, want %q", got, centrifuge.StateConnected)
		}
		if ev.ClientID == "" {
			t.Fatal("empty client id")
		}
		wait.CheckFor(t, wait.Timeout, 20*time.Millisecond, func() error {
			if n := apiNumClients(t, srv); n != 1 {
				return fmt.Errorf("info reports %d clients, want 1", n)
			}
			return nil
		})
	})
}

func TestGoSubscribeReceivesAPIPublish(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, pubSubConfig)
		c, _ := connectAs(t, p, srv, "alice")
		sub := c.subscribe("news", centrifuge.SubscriptionConfig{})

		data := map[string]any{"text": "hello", "n": 42}
		srv.APIResult(t, "publish", map[string]any{"channel": "news", "data": data})

		pub := wait.Receive(t, sub.pubs, "publication in news")
		want, _ := json.Marshal(data)
		if err := jsonEqual(pub.Data, want); err != nil {
			t.Fatalf("publication data: %v", err)
		}
		if pub.Info != nil && pub.Info.Client != "" {
			t.Fatalf("server API publication carries a publisher client %q", pub.Info.Client)
		}
	})
}

func TestGoClientPublishAllowed(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, pubSubConfig)
		receiver, _ := connectAs(t, p, srv, "bob")
		sub := receiver.subscribe("chat:room", centrifuge.SubscriptionConfig{})
		publisher, pubEv := connectAs(t, p, srv, "alice")

		data := []byte(`{"text":"hi bob"}`)
		if _, err := publisher.Publish(opContext(t), "chat:room", data); err != nil {
			t.Fatalf("publish to chat:room: %v", err)
		}

		pub := wait.Receive(t, sub.pubs, "publication in chat:room")
		if err := jsonEqual(pub.Data, data); err != nil {
			t.Fatalf("publication data: %v", err)
		}
		if pub.Info == nil {
			t.Fatal("client publication carries no publisher info")
		}
		if pub.Info.User != "alice" {
			t.Errorf("publisher user: got %q, want %q", pub.Info.User, "alice")
		}
		if pub.Info.Client != pubEv.ClientID {
			t.Errorf("publisher client: got %q, want %q", pub.Info.Client, pubEv.ClientID)
		}
	})
}

func TestGoClientPublishDenied(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, pubSubConfig)
		c, _ := connectAs(t, p, srv, "alice")
		sub := c.subscribe("news", centrifuge.SubscriptionConfig{})

		_, err := c.Publish(opContext(t), "news", []byte(`{"text":"not allowed"}`))
		if err == nil {
			t.Fatal("publish to news without allow_publish_for_client succeeded")
		}
		if e := serverError(t, err); e.Code != codePermissionDenied {
			t.Fatalf("publish error code: got %d (%s), want %d", e.Code, e.Message, codePermissionDenied)
		}

		// The refused publication must not reach subscribers: the next
		// publication in the channel is the API's.
		srv.APIResult(t, "publish", map[string]any{"channel": "news", "data": map[string]any{"from": "api"}})
		pub := wait.Receive(t, sub.pubs, "publication in news")
		if err := jsonEqual(pub.Data, []byte(`{"from":"api"}`)); err != nil {
			t.Fatalf("first publication in news: %v", err)
		}
		// The connection stays usable after the error.
		if got := c.State(); got != centrifuge.StateConnected {
			t.Fatalf("state after refused publish: got %q, want connected", got)
		}
	})
}

func TestGoUnsubscribe(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, pubSubConfig)
		c, _ := connectAs(t, p, srv, "alice")
		gone := c.subscribe("gone", centrifuge.SubscriptionConfig{})
		kept := c.subscribe("kept", centrifuge.SubscriptionConfig{})

		if err := gone.Unsubscribe(); err != nil {
			t.Fatalf("unsubscribe: %v", err)
		}
		ev := wait.Receive(t, gone.unsubscribed, "unsubscribed event")
		if ev.Code != 0 {
			t.Fatalf("unsubscribed code: got %d (%s), want 0 (unsubscribe called)", ev.Code, ev.Reason)
		}
		// The server must drop the subscription, not only the SDK.
		wait.CheckFor(t, wait.Timeout, 20*time.Millisecond, func() error {
			chans := apiChannels(t, srv)
			if _, ok := chans["gone"]; ok {
				return fmt.Errorf("channels still lists %q: %v", "gone", chans)
			}
			if _, ok := chans["kept"]; !ok {
				return fmt.Errorf("channels lost %q: %v", "kept", chans)
			}
			return nil
		})

		srv.APIResult(t, "publish", map[string]any{"channel": "gone", "data": map[string]any{"n": 1}})
		srv.APIResult(t, "publish", map[string]any{"channel": "kept", "data": map[string]any{"n": 2}})
		// Publications to one connection arrive in order: once the one in
		// "kept" is here, one in "gone" would have been too.
		pub := wait.Receive(t, kept.pubs, "publication in kept")
		if err := jsonEqual(pub.Data, []byte(`{"n":2}`)); err != nil {
			t.Fatalf("publication in kept: %v", err)
		}
		select {
		case pub := <-gone.pubs:
			t.Fatalf("publication %s received after unsubscribe", pub.Data)
		default:
		}
	})
}

func TestGoBroadcast(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, pubSubConfig)
		c, _ := connectAs(t, p, srv, "alice")
		one := c.subscribe("one", centrifuge.SubscriptionConfig{})
		two := c.subscribe("chat:two", centrifuge.SubscriptionConfig{})

		res := srv.APIResult(t, "broadcast", map[string]any{
			"channels": []string{"one", "chat:two"},
			"data":     map[string]any{"text": "to all"},
		})
		responses, _ := res["responses"].([]any)
		if len(responses) != 2 {
			t.Fatalf("broadcast result: got %d responses, want 2: %v", len(responses), res)
		}
		for i, r := range responses {
			if m, _ := r.(map[string]any); m["error"] != nil {
				t.Fatalf("broadcast response %d is an error: %v", i, m["error"])
			}
		}
		for name, s := range map[string]*goSub{"one": one, "chat:two": two} {
			pub := wait.Receive(t, s.pubs, "broadcast publication in "+name)
			if err := jsonEqual(pub.Data, []byte(`{"text":"to all"}`)); err != nil {
				t.Fatalf("broadcast publication in %s: %v", name, err)
			}
		}
	})
}

func TestGoAPIDisconnectTerminal(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, nil)
		alice, _ := connectAs(t, p, srv, "alice")
		bob, _ := connectAs(t, p, srv, "bob")

		const reason = "banned by test"
		srv.APIResult(t, "disconnect", map[string]any{
			"user":       "alice",
			"disconnect": map[string]any{"code": 4501, "reason": reason},
		})

		ev := wait.Receive(t, alice.disconnected, "disconnected event")
		if ev.Code != 4501 || ev.Reason != reason {
			t.Fatalf("disconnected: got %d %q, want 4501 %q", ev.Code, ev.Reason, reason)
		}
		// centrifuge-go reports a disconnect only when it will not reconnect
		// (a reconnecting code moves it to connecting instead).
		if got := alice.State(); got != centrifuge.StateDisconnected {
			t.Fatalf("alice state: got %q, want disconnected", got)
		}
		// Only alice's connection is closed.
		wait.CheckFor(t, wait.Timeout, 20*time.Millisecond, func() error {
			if n := apiNumClients(t, srv); n != 1 {
				return fmt.Errorf("info reports %d clients, want 1 (bob)", n)
			}
			return nil
		})
		if got := bob.State(); got != centrifuge.StateConnected {
			t.Fatalf("bob state: got %q, want connected", got)
		}
		select {
		case e := <-bob.disconnected:
			t.Fatalf("bob was disconnected too: %d %q", e.Code, e.Reason)
		default:
		}
	})
}

func TestGoTokenFromAnotherSecret(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, nil)
		c := newGoClient(t, p, srv, centrifuge.Config{Token: srv.ForeignToken(t, "mallory", tokenTTL)})
		if err := c.Connect(); err != nil {
			t.Fatalf("connect: %v", err)
		}
		ev := wait.Receive(t, c.disconnected, "disconnected event")
		if ev.Code != codeInvalidToken {
			t.Fatalf("disconnected: got %d %q, want %d (invalid token)", ev.Code, ev.Reason, codeInvalidToken)
		}
		select {
		case e := <-c.connected:
			t.Fatalf("connected with a foreign token: client %s", e.ClientID)
		default:
		}
		if got := c.State(); got != centrifuge.StateDisconnected {
			t.Fatalf("state: got %q, want disconnected", got)
		}
	})
}

// waitConnectErrorCode reads client errors until a connect error with a
// server code arrives, and returns that code.
func waitConnectErrorCode(t *testing.T, c *goClient) uint32 {
	t.Helper()
	deadline := time.NewTimer(wait.Timeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-c.errs:
			var ce centrifuge.ConnectError
			var se *centrifuge.Error
			if errors.As(ev.Error, &ce) && errors.As(ev.Error, &se) {
				return se.Code
			}
			t.Logf("client error (not a connect error with a code): %v", ev.Error)
		case <-deadline.C:
			t.Fatalf("no connect error within %v", wait.Timeout)
		}
	}
}

func TestGoExpiredToken(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, nil)

		t.Run("refreshed", func(t *testing.T) {
			t.Parallel()
			refreshed := make(chan struct{}, eventBuffer)
			c := newGoClient(t, p, srv, centrifuge.Config{
				Token: srv.ExpiredToken(t, "alice"),
				GetToken: func(centrifuge.ConnectionTokenEvent) (string, error) {
					push(refreshed, struct{}{})
					return srv.Token("alice", tokenTTL), nil
				},
			})
			if err := c.Connect(); err != nil {
				t.Fatalf("connect: %v", err)
			}
			if code := waitConnectErrorCode(t, c); code != codeTokenExpired {
				t.Fatalf("connect error code: got %d, want %d (token expired)", code, codeTokenExpired)
			}
			wait.Receive(t, refreshed, "GetToken call after the expired token")
			ev := wait.Receive(t, c.connected, "connected event with the refreshed token")
			if ev.ClientID == "" {
				t.Fatal("empty client id")
			}
		})

		t.Run("no GetToken", func(t *testing.T) {
			t.Parallel()
			c := newGoClient(t, p, srv, centrifuge.Config{Token: srv.ExpiredToken(t, "alice")})
			if err := c.Connect(); err != nil {
				t.Fatalf("connect: %v", err)
			}
			if code := waitConnectErrorCode(t, c); code != codeTokenExpired {
				t.Fatalf("connect error code: got %d, want %d (token expired)", code, codeTokenExpired)
			}
			// Without a way to get a new token the SDK gives up.
			ev := wait.Receive(t, c.disconnected, "disconnected event")
			if ev.Code != codeSDKUnauthorized {
				t.Fatalf("disconnected: got %d %q, want %d (unauthorized)", ev.Code, ev.Reason, codeSDKUnauthorized)
			}
			select {
			case e := <-c.connected:
				t.Fatalf("connected with an expired token: client %s", e.ClientID)
			default:
			}
		})
	})
}

// expectSubscribeRefused subscribes to channel and expects the server to
// refuse with code: the SDK reports the error and moves the subscription to
// unsubscribed with that code.
func expectSubscribeRefused(t *testing.T, c *goClient, channel string, cfg centrifuge.SubscriptionConfig, code uint32) {
	t.Helper()
	s := c.newSub(channel, cfg)
	if err := s.Subscribe(); err != nil {
		t.Fatalf("subscribe to %q: %v", channel, err)
	}
	select {
	case ev := <-s.unsubscribed:
		if ev.Code != code {
			t.Fatalf("subscribe to %q: unsubscribed with %d %q, want %d", channel, ev.Code, ev.Reason, code)
		}
	case ev := <-s.subscribed:
		t.Fatalf("subscribe to %q succeeded (%+v), want error %d", channel, ev, code)
	case <-time.After(wait.Timeout):
		t.Fatalf("subscribe to %q: no outcome within %v", channel, wait.Timeout)
	}
	ev := wait.Receive(t, s.errs, "subscription error")
	var se *centrifuge.Error
	if !errors.As(ev.Error, &se) || se.Code != code {
		t.Fatalf("subscription error: got %v, want server error %d", ev.Error, code)
	}
	if got := c.State(); got != centrifuge.StateConnected {
		t.Fatalf("state after refused subscription: got %q, want connected", got)
	}
}

func TestGoSubscribeUnknownNamespace(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, pubSubConfig)
		c, _ := connectAs(t, p, srv, "alice")
		expectSubscribeRefused(t, c, "nope:x", centrifuge.SubscriptionConfig{}, codeUnknownChannel)
	})
}

func TestGoPrivateChannel(t *testing.T) {
	t.Parallel()
	forEachProtocol(t, func(t *testing.T, p protocol) {
		srv := testutil.RunServer(t, pubSubConfig)
		c, _ := connectAs(t, p, srv, "alice")

		// allow_subscribe_for_client does not open private channels.
		expectSubscribeRefused(t, c, "$secret", centrifuge.SubscriptionConfig{}, codePermissionDenied)
		if err := c.RemoveSubscription(mustSub(t, c, "$secret")); err != nil {
			t.Fatalf("remove refused subscription: %v", err)
		}

		// With a subscription token for the channel it works.
		sub := c.subscribe("$secret", centrifuge.SubscriptionConfig{Token: srv.SubToken("alice", "$secret", tokenTTL)})
		srv.APIResult(t, "publish", map[string]any{"channel": "$secret", "data": map[string]any{"text": "psst"}})
		pub := wait.Receive(t, sub.pubs, "publication in $secret")
		if err := jsonEqual(pub.Data, []byte(`{"text":"psst"}`)); err != nil {
			t.Fatalf("publication in $secret: %v", err)
		}
	})
}

func mustSub(t *testing.T, c *goClient, channel string) *centrifuge.Subscription {
	t.Helper()
	s, ok := c.GetSubscription(channel)
	if !ok {
		t.Fatalf("no subscription to %q registered", channel)
	}
	return s
}
