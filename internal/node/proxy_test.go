package node

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/config"
)

// funcProxy is a Proxy whose answers are set per test.
type funcProxy struct {
	connect    func(*ProxyConnectRequest) (*ProxyConnectResult, error)
	refresh    func(*ProxyRefreshRequest) (*ProxyRefreshResult, error)
	subscribe  func(*ProxySubscribeRequest) (*ProxySubscribeResult, error)
	publish    func(*ProxyPublishRequest) (*ProxyPublishResult, error)
	rpc        func(*ProxyRPCRequest) (*ProxyRPCResult, error)
	subRefresh func(*ProxySubRefreshRequest) (*ProxySubRefreshResult, error)
}

func (p *funcProxy) ConnectEnabled() bool             { return p.connect != nil }
func (p *funcProxy) RefreshEnabled() bool             { return p.refresh != nil }
func (p *funcProxy) RPCEnabled(string) bool           { return p.rpc != nil }
func (p *funcProxy) SubscribeEnabled(ch string) bool  { return p.subscribe != nil && ch != "open" }
func (p *funcProxy) PublishEnabled(ch string) bool    { return p.publish != nil && ch != "open" }
func (p *funcProxy) SubRefreshEnabled(ch string) bool { return p.subRefresh != nil }
func (p *funcProxy) Connect(_ context.Context, r *ProxyConnectRequest) (*ProxyConnectResult, error) {
	return p.connect(r)
}
func (p *funcProxy) Refresh(_ context.Context, r *ProxyRefreshRequest) (*ProxyRefreshResult, error) {
	return p.refresh(r)
}
func (p *funcProxy) Subscribe(_ context.Context, r *ProxySubscribeRequest) (*ProxySubscribeResult, error) {
	return p.subscribe(r)
}
func (p *funcProxy) Publish(_ context.Context, r *ProxyPublishRequest) (*ProxyPublishResult, error) {
	return p.publish(r)
}
func (p *funcProxy) RPC(_ context.Context, r *ProxyRPCRequest) (*ProxyRPCResult, error) {
	return p.rpc(r)
}
func (p *funcProxy) SubRefresh(_ context.Context, r *ProxySubRefreshRequest) (*ProxySubRefreshResult, error) {
	return p.subRefresh(r)
}

func proxyNode(t *testing.T, p *funcProxy, mutate func(*config.Config)) *Node {
	t.Helper()
	n := testNode(t, mutate)
	n.proxy = p
	return n
}

func TestConnectProxy(t *testing.T) {
	t.Parallel()
	p := &funcProxy{connect: func(r *ProxyConnectRequest) (*ProxyConnectResult, error) {
		switch string(r.Data) {
		case `{"auth":"ok"}`:
			return &ProxyConnectResult{User: "alice", Data: []byte(`{"welcome":true}`), Channels: []string{"personal"}}, nil
		case `{"auth":"app-error"}`:
			return nil, &Error{Code: 4001, Message: "bad credentials"}
		case `{"auth":"ban"}`:
			return nil, Disconnect{Code: 4501, Reason: "banned"}
		case `{"auth":"none"}`:
			return nil, nil
		}
		return nil, errors.New("dial tcp 127.0.0.1:10001: connection refused")
	}}
	n := proxyNode(t, p, nil)

	c, tr := connectClient(t, n, `{"id":1,"connect":{"data":{"auth":"ok"}}}`)
	r := tr.reply(t)
	if r.Connect == nil || string(r.Connect.Data) != `{"welcome":true}` || c.User() != "alice" {
		t.Fatalf("connect = %v", r)
	}
	if _, ok := r.Connect.Subs["personal"]; !ok || !c.isSubscribed("personal") {
		t.Fatalf("server-side subscription missing: %v", r.Connect.Subs)
	}

	_, tr = connectClient(t, n, `{"id":1,"connect":{"data":{"auth":"app-error"}}}`)
	if r := tr.reply(t); r.Error == nil || r.Error.Code != 4001 || r.Error.Message != "bad credentials" {
		t.Fatalf("backend error = %v", r)
	}
	_, tr = connectClient(t, n, `{"id":1,"connect":{"data":{"auth":"ban"}}}`)
	if d := tr.disconnect(t); d.Code != 4501 || d.Reason != "banned" {
		t.Fatalf("backend disconnect = %v", d)
	}
	_, tr = connectClient(t, n, `{"id":1,"connect":{"data":{"auth":"none"}}}`)
	if d := tr.disconnect(t); d.Code != 3501 {
		t.Fatalf("empty answer = %v", d)
	}
	_, tr = connectClient(t, n, `{"id":1,"connect":{"data":{"auth":"down"}}}`)
	if r := tr.reply(t); r.Error == nil || r.Error.Code != 100 || !r.Error.Temporary || r.Error.Message != "internal server error" {
		t.Fatalf("transport failure = %v", r)
	}
}

func TestConnectProxyNotUsedWithToken(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	n := proxyNode(t, &funcProxy{connect: func(*ProxyConnectRequest) (*ProxyConnectResult, error) {
		calls.Add(1)
		return &ProxyConnectResult{User: "x"}, nil
	}}, nil)
	c, _ := connectWithToken(t, n, "token-user")
	if calls.Load() != 0 || c.User() != "token-user" {
		t.Fatalf("proxy calls = %d, user %q", calls.Load(), c.User())
	}
}

func TestSubscribePublishRPCProxies(t *testing.T) {
	t.Parallel()
	p := &funcProxy{
		connect: func(*ProxyConnectRequest) (*ProxyConnectResult, error) { return &ProxyConnectResult{User: "u"}, nil },
		subscribe: func(r *ProxySubscribeRequest) (*ProxySubscribeResult, error) {
			if r.Channel == "denied" {
				return nil, &Error{Code: 403, Message: "not yours"}
			}
			if r.User != "u" {
				return nil, errors.New("wrong user")
			}
			return &ProxySubscribeResult{Data: []byte(`{"seats":3}`)}, nil
		},
		publish: func(r *ProxyPublishRequest) (*ProxyPublishResult, error) {
			return &ProxyPublishResult{Data: []byte(`{"checked":` + string(r.Data) + `}`)}, nil
		},
		rpc: func(r *ProxyRPCRequest) (*ProxyRPCResult, error) {
			if r.Method != "echo" {
				return nil, &Error{Code: 404, Message: "no such method"}
			}
			return &ProxyRPCResult{Data: r.Data}, nil
		},
	}
	n := proxyNode(t, p, nil)
	c, tr := connectClient(t, n, `{"id":1,"connect":{}}`)
	tr.reply(t)

	c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"room"}}`))
	if r := tr.reply(t); r.Subscribe == nil || string(r.Subscribe.Data) != `{"seats":3}` {
		t.Fatalf("subscribe = %v", r)
	}
	c.HandleFrame([]byte(`{"id":3,"subscribe":{"channel":"denied"}}`))
	if r := tr.reply(t); r.Error.GetCode() != 403 {
		t.Fatalf("denied subscribe = %v", r)
	}
	// Without the proxy for this channel and no permission: 103.
	c.HandleFrame([]byte(`{"id":4,"subscribe":{"channel":"open"}}`))
	if r := tr.reply(t); r.Error.GetCode() != 103 {
		t.Fatalf("unproxied subscribe = %v", r)
	}

	c.HandleFrame([]byte(`{"id":5,"publish":{"channel":"room","data":1}}`))
	var sawPub, sawReply bool
	for !(sawPub && sawReply) {
		for _, r := range tr.replies(t) {
			if r.Push != nil && r.Push.Pub != nil {
				if string(r.Push.Pub.Data) != `{"checked":1}` {
					t.Fatalf("published data = %s", r.Push.Pub.Data)
				}
				sawPub = true
			}
			if r.Id == 5 {
				if r.Publish == nil {
					t.Fatalf("publish reply = %v", r)
				}
				sawReply = true
			}
		}
	}

	c.HandleFrame([]byte(`{"id":6,"rpc":{"method":"echo","data":{"a":1}}}`))
	if r := tr.reply(t); r.Rpc == nil || string(r.Rpc.Data) != `{"a":1}` {
		t.Fatalf("rpc = %v", r)
	}
	c.HandleFrame([]byte(`{"id":7,"rpc":{"method":"nope"}}`))
	if r := tr.reply(t); r.Error.GetCode() != 404 {
		t.Fatalf("rpc error = %v", r)
	}
}

func TestRefreshProxy(t *testing.T) {
	t.Parallel()
	var refreshes atomic.Int32
	p := &funcProxy{
		connect: func(r *ProxyConnectRequest) (*ProxyConnectResult, error) {
			return &ProxyConnectResult{User: string(r.Data[1 : len(r.Data)-1]), ExpireAt: time.Now().Unix() + 1}, nil
		},
		refresh: func(r *ProxyRefreshRequest) (*ProxyRefreshResult, error) {
			refreshes.Add(1)
			switch r.User {
			case "expired":
				return &ProxyRefreshResult{Expired: true}, nil
			case "banned":
				return nil, Disconnect{Code: 4501, Reason: "banned"}
			case "refused":
				return nil, &Error{Code: 4001, Message: "no"}
			}
			return &ProxyRefreshResult{ExpireAt: time.Now().Unix() + 1}, nil
		},
	}
	n := proxyNode(t, p, nil)
	c, tr := connectClient(t, n, `{"id":1,"connect":{"data":"kept"}}`)
	if r := tr.reply(t); r.Connect == nil || r.Connect.Expires {
		t.Fatalf("connect = %v (the server refreshes, the client must not be asked to)", r)
	}
	// Expired, or a backend error or disconnect instead of a result: the
	// connection ends as expired.
	for _, user := range []string{"expired", "banned", "refused"} {
		_, tr2 := connectClient(t, n, `{"id":1,"connect":{"data":"`+user+`"}}`)
		tr2.reply(t)
		if d := tr2.disconnect(t); d.Code != 3005 {
			t.Fatalf("%s: connection closed with %v, want 3005", user, d)
		}
	}
	waitFor(t, func() bool { return refreshes.Load() >= 3 })
	if c.isClosed() {
		t.Fatal("refreshed connection was closed")
	}
}
