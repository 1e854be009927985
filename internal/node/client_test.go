package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/config"
)

func token(t testing.TB, n *Node, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.GenerateConnectToken(n.cfg, user, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func connectWithToken(t *testing.T, n *Node, user string) (*Client, *sinkTransport) {
	t.Helper()
	c, tr := connectClient(t, n, fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(t, n, user, time.Hour)))
	r := tr.reply(t)
	if r.Error != nil || r.Connect == nil {
		t.Fatalf("connect reply = %v", r)
	}
	return c, tr
}

func TestConnectWithToken(t *testing.T) {
	t.Parallel()
	n := testNode(t, nil)
	c, tr := connectClient(t, n, fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(t, n, "42", time.Hour)))
	r := tr.reply(t)
	if r.Id != 1 || r.Connect == nil {
		t.Fatalf("reply = %v", r)
	}
	if r.Connect.Client != c.ID() || !r.Connect.Expires || r.Connect.Ttl == 0 || r.Connect.Ttl > 3600 || r.Connect.Ping != 25 || !r.Connect.Pong {
		t.Fatalf("connect result = %v", r.Connect)
	}
	if c.User() != "42" {
		t.Fatalf("user = %q", c.User())
	}
	if clients, users := n.hub.counts(); clients != 1 || users != 1 {
		t.Fatalf("hub counts = %d, %d", clients, users)
	}
}

func TestConnectErrors(t *testing.T) {
	t.Parallel()
	n := testNode(t, nil)
	other := config.Defaults()
	other.TokenHMACSecretKey = "another-secret"
	badTok, err := auth.GenerateConnectToken(&other, "42", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := auth.GenerateConnectToken(n.cfg, "42", -time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wrong secret closes with 3500", func(t *testing.T) {
		_, tr := connectClient(t, n, fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, badTok))
		if d := tr.disconnect(t); d.Code != 3500 {
			t.Fatalf("disconnect = %v", d)
		}
	})
	t.Run("expired token answers 109", func(t *testing.T) {
		_, tr := connectClient(t, n, fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, expired))
		r := tr.reply(t)
		if r.Error == nil || r.Error.Code != 109 {
			t.Fatalf("reply = %v", r)
		}
	})
	t.Run("no credentials closes with 3501", func(t *testing.T) {
		_, tr := connectClient(t, n, `{"id":1,"connect":{}}`)
		if d := tr.disconnect(t); d.Code != 3501 {
			t.Fatalf("disconnect = %v", d)
		}
	})
	t.Run("malformed frame closes with 3501", func(t *testing.T) {
		_, tr := connectClient(t, n, `{"id":1,"connect":`)
		if d := tr.disconnect(t); d.Code != 3501 {
			t.Fatalf("disconnect = %v", d)
		}
	})
	t.Run("command before connect closes with 3501", func(t *testing.T) {
		_, tr := connectClient(t, n, `{"id":1,"subscribe":{"channel":"a"}}`)
		if d := tr.disconnect(t); d.Code != 3501 {
			t.Fatalf("disconnect = %v", d)
		}
	})
}

func TestStaleConnectionClosed(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) { c.ClientStaleCloseDelay = 50 * time.Millisecond })
	tr := newSink(protocol.TypeJSON)
	if _, err := n.NewClient(tr, ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := tr.disconnect(t); d.Code != 3502 {
		t.Fatalf("disconnect = %v", d)
	}
}

func TestNoPongDisconnects(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) {
		c.PingInterval = 300 * time.Millisecond
		c.PongTimeout = 200 * time.Millisecond
	})
	_, tr := connectWithToken(t, n, "1")
	// A ping arrives as an empty reply...
	r := tr.reply(t)
	if r.Id != 0 || r.Push != nil || r.Error != nil {
		t.Fatalf("expected a ping, got %v", r)
	}
	// ...and without a pong the client is closed with 3012.
	if d := tr.disconnect(t); d.Code != 3012 {
		t.Fatalf("disconnect = %v", d)
	}
}

func TestPongKeepsConnection(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) {
		c.PingInterval = 300 * time.Millisecond
		c.PongTimeout = 200 * time.Millisecond
	})
	c, tr := connectWithToken(t, n, "1")
	for i := 0; i < 3; i++ {
		tr.reply(t) // ping
		c.HandleFrame([]byte(`{}`))
	}
	if c.isClosed() {
		t.Fatal("client answering pings was closed")
	}
}

func TestSubscribePermissions(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) {
		c.Namespaces = []config.Namespace{
			{Name: "open", ChannelOptions: config.ChannelOptions{AllowSubscribeForClient: true}},
			{Name: "anon", ChannelOptions: config.ChannelOptions{AllowSubscribeForClient: true, AllowSubscribeForAnonymous: true}},
			{Name: "users", ChannelOptions: config.ChannelOptions{AllowUserLimitedChannels: true}},
			{Name: "re", ChannelOptions: config.ChannelOptions{AllowSubscribeForClient: true, ChannelRegex: `^re:[a-z]+$`}},
		}
		c.ChannelMaxLength = 20
		c.ClientChannelLimit = 3
	})
	subTok := func(user, ch string) string {
		tok, err := auth.GenerateSubscriptionToken(n.cfg, user, ch, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name    string
		user    string
		channel string
		token   string
		code    uint32 // 0: allowed
	}{
		{"no namespace, no permission", "1", "news", "", 103},
		{"open namespace", "1", "open:x", "", 0},
		{"open namespace, anonymous", "", "open:x", "", 103},
		{"anonymous allowed", "", "anon:x", "", 0},
		{"unknown namespace", "1", "nope:x", "", 102},
		{"private without token", "1", "$open:x", "", 103},
		{"private with token", "1", "$open:x", subTok("1", "$open:x"), 0},
		{"token for another channel", "1", "$open:y", subTok("1", "$open:x"), 3500},
		{"token for another user", "1", "$open:x", subTok("2", "$open:x"), 3500},
		{"user-limited, listed", "7", "users:a#6,7", "", 0},
		{"user-limited, not listed", "8", "users:a#6,7", "", 103},
		{"regex matches", "1", "re:abc", "", 0},
		{"regex does not match", "1", "re:ABC", "", 103},
		{"too long", "1", "open:012345678901234567890", "", 106},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var connect string
			if tt.user == "" {
				connect = fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(t, n, "", time.Hour))
			} else {
				connect = fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(t, n, tt.user, time.Hour))
			}
			c, tr := connectClient(t, n, connect)
			tr.reply(t)
			c.HandleFrame([]byte(fmt.Sprintf(`{"id":2,"subscribe":{"channel":%q,"token":%q}}`, tt.channel, tt.token)))
			if tt.code >= 3000 {
				if d := tr.disconnect(t); d.Code != tt.code {
					t.Fatalf("disconnect = %v, want %d", d, tt.code)
				}
				return
			}
			r := tr.reply(t)
			if tt.code == 0 {
				if r.Error != nil || r.Subscribe == nil {
					t.Fatalf("reply = %v, want subscribed", r)
				}
				return
			}
			if r.Error == nil || r.Error.Code != tt.code {
				t.Fatalf("reply = %v, want error %d", r, tt.code)
			}
		})
	}
}

func TestSubscribeTwiceAndChannelLimit(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) {
		c.AllowSubscribeForClient = true
		c.ClientChannelLimit = 2
	})
	c, tr := connectWithToken(t, n, "1")
	c.HandleFrame(jsonFrame(`{"id":2,"subscribe":{"channel":"a"}}`, `{"id":3,"subscribe":{"channel":"a"}}`,
		`{"id":4,"subscribe":{"channel":"b"}}`, `{"id":5,"subscribe":{"channel":"c"}}`))
	var got []*protocol.Reply
	for len(got) < 4 {
		got = append(got, tr.replies(t)...)
	}
	if got[0].Subscribe == nil || got[1].Error.GetCode() != 105 || got[2].Subscribe == nil || got[3].Error.GetCode() != 106 {
		t.Fatalf("replies = %v", got)
	}
}

func TestPublishFanOut(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) {
		c.AllowSubscribeForClient = true
		c.AllowPublishForClient = true
	})
	sub, subTr := connectWithToken(t, n, "sub")
	sub.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"room"}}`))
	if r := subTr.reply(t); r.Subscribe == nil {
		t.Fatalf("subscribe reply = %v", r)
	}
	pb := newSink(protocol.TypeProtobuf)
	pc, err := n.NewClient(pb, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := &protocol.Command{Id: 1, Connect: &protocol.ConnectRequest{Token: token(t, n, "pb", time.Hour)}}
	pc.HandleFrame(protoFrame(t, cmd))
	pb.reply(t)
	pc.HandleFrame(protoFrame(t, &protocol.Command{Id: 2, Subscribe: &protocol.SubscribeRequest{Channel: "room"}}))
	pb.reply(t)

	pub, pubTr := connectWithToken(t, n, "pub")
	pub.HandleFrame([]byte(`{"id":2,"publish":{"channel":"room","data":{"text":"hi"}}}`))
	if r := pubTr.reply(t); r.Publish == nil || r.Id != 2 {
		t.Fatalf("publish reply = %v", r)
	}
	for _, tr := range []*sinkTransport{subTr, pb} {
		r := tr.reply(t)
		if r.Push == nil || r.Push.Channel != "room" || r.Push.Pub == nil {
			t.Fatalf("push = %v", r)
		}
		if string(r.Push.Pub.Data) != `{"text":"hi"}` {
			t.Fatalf("data = %s", r.Push.Pub.Data)
		}
		if r.Push.Pub.Info == nil || r.Push.Pub.Info.User != "pub" || r.Push.Pub.Info.Client != pub.ID() {
			t.Fatalf("publisher info = %v", r.Push.Pub.Info)
		}
	}

	// Unsubscribed clients get nothing more.
	sub.HandleFrame([]byte(`{"id":3,"unsubscribe":{"channel":"room"}}`))
	if r := subTr.reply(t); r.Unsubscribe == nil {
		t.Fatalf("unsubscribe reply = %v", r)
	}
	if _, err := n.Publish(t.Context(), "room", []byte(`1`), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	pb.reply(t)
	subTr.noFrame(t, 50*time.Millisecond)
}

func TestPublishDenied(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) {
		c.AllowSubscribeForClient = true
		c.Namespaces = []config.Namespace{
			{Name: "subs", ChannelOptions: config.ChannelOptions{AllowSubscribeForClient: true, AllowPublishForSubscriber: true}},
			{Name: "anon", ChannelOptions: config.ChannelOptions{AllowPublishForClient: true}},
		}
	})
	c, tr := connectWithToken(t, n, "1")
	c.HandleFrame([]byte(`{"id":2,"publish":{"channel":"room","data":1}}`))
	if r := tr.reply(t); r.Error.GetCode() != 103 {
		t.Fatalf("reply = %v", r)
	}
	c.HandleFrame([]byte(`{"id":3,"publish":{"channel":"subs:a","data":1}}`))
	if r := tr.reply(t); r.Error.GetCode() != 103 {
		t.Fatalf("publish before subscribing = %v", r)
	}
	c.HandleFrame([]byte(`{"id":4,"subscribe":{"channel":"subs:a"}}`))
	tr.reply(t)
	c.HandleFrame([]byte(`{"id":5,"publish":{"channel":"subs:a","data":1}}`))
	var got []*protocol.Reply
	for len(got) < 2 {
		got = append(got, tr.replies(t)...)
	}
	var okReply bool
	for _, r := range got {
		if r.Id == 5 && r.Publish != nil {
			okReply = true
		}
	}
	if !okReply {
		t.Fatalf("publish as subscriber = %v", got)
	}

	a, atr := connectWithToken(t, n, "")
	a.HandleFrame([]byte(`{"id":2,"publish":{"channel":"anon:x","data":1}}`))
	if r := atr.reply(t); r.Error.GetCode() != 103 {
		t.Fatalf("anonymous publish = %v", r)
	}
}

func TestNotAvailableAndRPC(t *testing.T) {
	t.Parallel()
	n := testNode(t, nil)
	c, tr := connectWithToken(t, n, "1")
	c.HandleFrame(jsonFrame(`{"id":2,"presence":{"channel":"a"}}`, `{"id":3,"history":{"channel":"a"}}`, `{"id":4,"rpc":{"method":"x"}}`, `{"id":5,"ping":{}}`))
	var got []*protocol.Reply
	for len(got) < 4 {
		got = append(got, tr.replies(t)...)
	}
	if got[0].Error.GetCode() != 108 || got[1].Error.GetCode() != 108 || got[2].Error.GetCode() != 104 || got[3].Ping == nil {
		t.Fatalf("replies = %v", got)
	}
}

func TestServerAPIOnConnections(t *testing.T) {
	t.Parallel()
	n := testNode(t, nil)
	c1, tr1 := connectWithToken(t, n, "u")
	_, tr2 := connectWithToken(t, n, "u")
	if err := n.Subscribe(t.Context(), "u", "news", ServerSubscribeOptions{Client: c1.ID()}); err != nil {
		t.Fatal(err)
	}
	if r := tr1.reply(t); r.Push == nil || r.Push.Subscribe == nil || r.Push.Channel != "news" {
		t.Fatalf("subscribe push = %v", r)
	}
	tr2.noFrame(t, 20*time.Millisecond)
	chans, _ := n.Channels(t.Context(), "ne*")
	if chans["news"].NumClients != 1 {
		t.Fatalf("channels = %v", chans)
	}
	if err := n.Unsubscribe(t.Context(), "u", "news", "", ""); err != nil {
		t.Fatal(err)
	}
	if r := tr1.reply(t); r.Push == nil || r.Push.Unsubscribe == nil || r.Push.Unsubscribe.Code != 2000 {
		t.Fatalf("unsubscribe push = %v", r)
	}
	if err := n.Disconnect(t.Context(), "u", Disconnect{Code: 4501, Reason: "bye"}, DisconnectOptions{Whitelist: []string{c1.ID()}}); err != nil {
		t.Fatal(err)
	}
	if d := tr2.disconnect(t); d.Code != 4501 || d.Reason != "bye" {
		t.Fatalf("disconnect = %v", d)
	}
	if c1.isClosed() {
		t.Fatal("whitelisted client closed")
	}
	info, _ := n.Info(t.Context())
	if len(info) != 1 || info[0].NumClients != 1 {
		t.Fatalf("info = %+v", info)
	}
}

func TestSlowClientDisconnected(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) {
		c.AllowSubscribeForClient = true
		c.ClientQueueMaxSize = 1000
	})
	c, tr := connectWithToken(t, n, "1")
	c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"a"}}`))
	tr.reply(t)
	tr.block = make(chan struct{}) // the client stops reading
	defer close(tr.block)
	data := []byte(`"` + strings.Repeat("x", 100) + `"`)
	for i := 0; i < 40; i++ {
		if _, err := n.Publish(t.Context(), "a", data, PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if d := tr.disconnect(t); d.Code != 3008 {
		t.Fatalf("disconnect = %v", d)
	}
}

func TestShutdownSends3001(t *testing.T) {
	t.Parallel()
	n := testNode(t, nil)
	_, tr := connectWithToken(t, n, "1")
	if err := n.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := tr.disconnect(t); d.Code != 3001 {
		t.Fatalf("disconnect = %v", d)
	}
	if _, err := n.NewClient(newSink(protocol.TypeJSON), ClientOptions{}); err == nil {
		t.Fatal("new client accepted after shutdown")
	}
}

func protoFrame(t testing.TB, cmds ...*protocol.Command) []byte {
	t.Helper()
	var msgs [][]byte
	for _, c := range cmds {
		b, err := c.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, b)
	}
	return appendFrame(nil, protocol.TypeProtobuf, msgs)
}

// With a write delay far longer than the test, only what skips the delay
// can reach the transport.
func TestWriteDelayHoldsPushesAndReplyWithoutQueueSkipsIt(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) {
		c.ClientWriteDelay = time.Hour
		c.ClientReplyWithoutQueue = true
		c.AllowSubscribeForClient = true
	})
	c, tr := connectWithToken(t, n, "42")
	c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"news"}}`))
	if r := tr.reply(t); r.Id != 2 || r.Error != nil {
		t.Fatalf("subscribe reply = %v", r)
	}
	for _, d := range []string{`{"n":1}`, `{"n":2}`} {
		if _, err := n.Publish(t.Context(), "news", []byte(d), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { c.w.mu.Lock(); defer c.w.mu.Unlock(); return len(c.w.queue) == 2 })
	tr.noFrame(t, 100*time.Millisecond)
	// A reply ends the wait, and the publications queued before it go out
	// first, in the same frame.
	c.HandleFrame([]byte(`{"id":3,"subscribe":{"channel":"other"}}`))
	rs := tr.replies(t)
	if len(rs) != 3 || rs[0].Push == nil || string(rs[0].Push.Pub.Data) != `{"n":1}` ||
		rs[1].Push == nil || string(rs[1].Push.Pub.Data) != `{"n":2}` || rs[2].Id != 3 {
		t.Fatalf("frame = %v", rs)
	}
}

func TestWriteDelayHoldsReplies(t *testing.T) {
	t.Parallel()
	n := testNode(t, func(c *config.Config) { c.ClientWriteDelay = time.Hour })
	_, tr := connectClient(t, n, fmt.Sprintf(`{"id":1,"connect":{"token":%q}}`, token(t, n, "42", time.Hour)))
	// Without client_reply_without_queue the connect reply waits too.
	tr.noFrame(t, 200*time.Millisecond)
}
