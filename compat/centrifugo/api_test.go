//go:build centrifugo

package centrifugo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"

	"github.com/rotorhq/rotor/rotorapi"
)

// Every server API method over both wires, with a centrifuge-go client as
// the counterpart. Channels without namespace have presence and history.
func TestAPI(t *testing.T) {
	for _, wire := range []struct{ name, addr, key string }{
		{"grpc", env.grpcAPI, env.grpcAPIKey},
		{"http", env.httpAPI, env.httpAPIKey},
	} {
		t.Run(wire.name, func(t *testing.T) {
			api, err := rotorapi.New(wire.addr, rotorapi.WithAPIKey(wire.key))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = api.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			testAPI(ctx, t, api, wire.name)
		})
	}
}

func testAPI(ctx context.Context, t *testing.T, api *rotorapi.Client, wire string) {
	user := "api-" + wire
	ch := "api_" + wire
	ch2 := "api2_" + wire
	serverSubs := make(chan string, 4)
	serverUnsubs := make(chan string, 4)
	serverPubs := make(chan []byte, 4)
	disc := make(chan centrifuge.DisconnectedEvent, 1)
	c, ev := newClient(t, `{"user":"`+user+`"}`, func(c *centrifuge.Client) {
		c.OnSubscribed(func(e centrifuge.ServerSubscribedEvent) { serverSubs <- e.Channel })
		c.OnUnsubscribed(func(e centrifuge.ServerUnsubscribedEvent) { serverUnsubs <- e.Channel })
		c.OnPublication(func(e centrifuge.ServerPublicationEvent) { serverPubs <- e.Data })
		c.OnDisconnected(func(e centrifuge.DisconnectedEvent) {
			select {
			case disc <- e:
			default:
			}
		})
	})
	_, pubs := subscribe(t, c, ch)
	_, pubs2 := subscribe(t, c, ch2)

	// Publish, and the subscriber receives it.
	pr, err := api.Publish(ctx, rotorapi.PublishRequest{Channel: ch, Data: []byte(`{"n":1}`), Tags: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if pr.Offset != 1 || pr.Epoch == "" {
		t.Errorf("publish result %+v, want offset 1 and an epoch", pr)
	}
	if got := receive(t, pubs, "publication"); string(got) != `{"n":1}` {
		t.Errorf("publication = %s", got)
	}
	if _, err := api.PublishJSON(ctx, ch, map[string]int{"n": 2}); err != nil {
		t.Fatalf("publish json: %v", err)
	}
	if got := receive(t, pubs, "publication"); string(got) != `{"n":2}` {
		t.Errorf("publication = %s", got)
	}

	// Broadcast to both channels, with one unknown namespace in-band.
	br, err := api.Broadcast(ctx, rotorapi.BroadcastRequest{Channels: []string{ch, ch2, "nope:x"}, Data: []byte(`{"b":1}`)})
	if err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	if len(br.Publications) != 3 || br.Publications[0].Err != nil || br.Publications[1].Err != nil || br.Publications[1].Offset != 1 {
		t.Errorf("broadcast result %+v", br)
	}
	if code, ok := rotorapi.ErrorCode(br.Err()); !ok || code != rotorapi.CodeUnknownChannel {
		t.Errorf("broadcast err = %v, want 102 for nope:x", br.Err())
	}
	receive(t, pubs, "broadcast publication")
	if got := receive(t, pubs2, "broadcast publication"); string(got) != `{"b":1}` {
		t.Errorf("broadcast publication = %s", got)
	}

	// Presence.
	pres, err := api.Presence(ctx, ch)
	if err != nil {
		t.Fatalf("presence: %v", err)
	}
	if ci, ok := pres.Clients[ev.ClientID]; len(pres.Clients) != 1 || !ok || ci.User != user {
		t.Errorf("presence = %+v, want %s as %s", pres.Clients, ev.ClientID, user)
	}
	ps, err := api.PresenceStats(ctx, ch)
	if err != nil || ps.NumClients != 1 || ps.NumUsers != 1 {
		t.Errorf("presence stats = %+v %v", ps, err)
	}

	// History, then history_remove.
	h, err := api.History(ctx, rotorapi.HistoryRequest{Channel: ch, Limit: -1})
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	if len(h.Publications) != 3 || h.Offset != 3 || h.Epoch != pr.Epoch || string(h.Publications[0].Data) != `{"n":1}` ||
		h.Publications[0].Tags["k"] != "v" || h.Publications[2].Offset != 3 {
		t.Errorf("history = %+v", h)
	}
	h, err = api.History(ctx, rotorapi.HistoryRequest{Channel: ch, Limit: 1, Reverse: true})
	if err != nil || len(h.Publications) != 1 || string(h.Publications[0].Data) != `{"b":1}` {
		t.Errorf("reverse history = %+v %v", h, err)
	}
	if err := api.HistoryRemove(ctx, ch); err != nil {
		t.Fatalf("history_remove: %v", err)
	}
	h, err = api.History(ctx, rotorapi.HistoryRequest{Channel: ch, Limit: -1})
	if err != nil || len(h.Publications) != 0 || h.Offset != 3 {
		t.Errorf("history after remove = %+v %v", h, err)
	}

	// Channels and info.
	chs, err := api.Channels(ctx, "api*_"+wire)
	if err != nil {
		t.Fatalf("channels: %v", err)
	}
	if len(chs.Channels) != 2 || chs.Channels[ch].NumClients != 1 {
		t.Errorf("channels = %+v", chs.Channels)
	}
	// Centrifugo refreshes its node counters every few seconds: only the
	// node itself is checked.
	info, err := api.Info(ctx)
	if err != nil || len(info.Nodes) != 1 || info.Nodes[0].UID == "" || info.Nodes[0].Name == "" || info.Nodes[0].Version == "" {
		t.Errorf("info = %+v %v", info, err)
	}

	// Server-side subscribe and unsubscribe of the user.
	srvCh := "srv_" + wire
	if err := api.Subscribe(ctx, rotorapi.SubscribeRequest{Channel: srvCh, User: user}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if got := receive(t, serverSubs, "server-side subscribed event"); got != srvCh {
		t.Errorf("server-side subscribed to %q", got)
	}
	if _, err := api.Publish(ctx, rotorapi.PublishRequest{Channel: srvCh, Data: []byte(`"s"`)}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if got := receive(t, serverPubs, "server-side publication"); string(got) != `"s"` {
		t.Errorf("server-side publication = %s", got)
	}
	if err := api.Unsubscribe(ctx, rotorapi.UnsubscribeRequest{Channel: srvCh, User: user}); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	if got := receive(t, serverUnsubs, "server-side unsubscribed event"); got != srvCh {
		t.Errorf("server-side unsubscribed from %q", got)
	}
	if err := api.Unsubscribe(ctx, rotorapi.UnsubscribeRequest{Channel: ch2, User: user}); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}

	// Refresh: a new expiry for the user's connections.
	if err := api.Refresh(ctx, rotorapi.RefreshRequest{User: user, ExpireAt: time.Now().Add(time.Hour)}); err != nil {
		t.Errorf("refresh: %v", err)
	}

	// Batch: replies in order, an in-band error in its place.
	bres, err := api.Batch(ctx, rotorapi.BatchRequest{Commands: []rotorapi.Command{
		rotorapi.PublishRequest{Channel: ch, Data: []byte(`{"n":4}`)},
		rotorapi.PresenceStatsRequest{Channel: ch},
		rotorapi.PublishRequest{Channel: "nope:x", Data: []byte(`{}`)},
		rotorapi.HistoryRequest{Channel: ch, Limit: -1},
		rotorapi.InfoRequest{},
	}})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	if len(bres.Replies) != 5 {
		t.Fatalf("batch replies = %+v", bres.Replies)
	}
	if r, ok := bres.Replies[0].Result.(*rotorapi.PublishResult); !ok || r.Offset != 4 {
		t.Errorf("batch publish = %+v %v", bres.Replies[0].Result, bres.Replies[0].Err)
	}
	if r, ok := bres.Replies[1].Result.(*rotorapi.PresenceStatsResult); !ok || r.NumClients != 1 {
		t.Errorf("batch presence_stats = %+v %v", bres.Replies[1].Result, bres.Replies[1].Err)
	}
	if code, ok := rotorapi.ErrorCode(bres.Replies[2].Err); !ok || code != rotorapi.CodeUnknownChannel {
		t.Errorf("batch unknown namespace = %v, want 102", bres.Replies[2].Err)
	}
	if r, ok := bres.Replies[3].Result.(*rotorapi.HistoryResult); !ok || len(r.Publications) != 1 {
		t.Errorf("batch history = %+v %v", bres.Replies[3].Result, bres.Replies[3].Err)
	}
	if _, ok := bres.Replies[4].Result.(*rotorapi.InfoResult); !ok {
		t.Errorf("batch info = %+v %v", bres.Replies[4].Result, bres.Replies[4].Err)
	}
	if code, ok := rotorapi.ErrorCode(bres.Err()); !ok || code != rotorapi.CodeUnknownChannel {
		t.Errorf("batch err = %v", bres.Err())
	}
	receive(t, pubs, "batch publication")

	// In-band errors: unknown namespace, no RPC methods in open source.
	_, err = api.Publish(ctx, rotorapi.PublishRequest{Channel: "nope:x", Data: []byte(`{}`)})
	var apiErr *rotorapi.Error
	if !errors.As(err, &apiErr) || apiErr.Code != rotorapi.CodeUnknownChannel {
		t.Errorf("publish to unknown namespace: %v, want *rotorapi.Error 102", err)
	}
	_, err = api.RPC(ctx, rotorapi.RPCRequest{Method: "nope"})
	if code, ok := rotorapi.ErrorCode(err); !ok || code != rotorapi.CodeMethodNotFound {
		t.Errorf("rpc: %v, want 104", err)
	}

	// A wrong key is refused.
	bad, err := rotorapi.New(map[string]string{"grpc": env.grpcAPI, "http": env.httpAPI}[wire], rotorapi.WithAPIKey("wrong"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Info(ctx); !errors.Is(err, rotorapi.ErrUnauthorized) {
		t.Errorf("wrong key: %v, want ErrUnauthorized", err)
	}

	// Disconnect with a code that does not reconnect.
	if err := api.Disconnect(ctx, rotorapi.DisconnectRequest{User: user, Code: 4502, Reason: "bye"}); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	if e := receive(t, disc, "disconnected event"); e.Code != 4502 || e.Reason != "bye" {
		t.Errorf("disconnected %+v, want 4502 bye", e)
	}
}
