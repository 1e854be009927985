package proxy

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// common are the fields every request starts with.
type common interface {
	GetClient() string
	GetTransport() string
	GetProtocol() string
	GetEncoding() string
}

func checkCommon(t *testing.T, r common, encoding string) {
	t.Helper()
	if r.GetClient() != "client-1" || r.GetTransport() != "websocket" || r.GetProtocol() != "json" || r.GetEncoding() != encoding {
		t.Errorf("client, transport, protocol, encoding = %q, %q, %q, %q; want client-1, websocket, json, %s",
			r.GetClient(), r.GetTransport(), r.GetProtocol(), r.GetEncoding(), encoding)
	}
}

// checkForwarded checks that only the configured client headers arrive,
// with the credentials (gRPC) or the static headers (HTTP).
func checkForwarded(t *testing.T, ctx context.Context, w wire) {
	t.Helper()
	in := incoming(ctx)
	want := map[string][]string{
		"authorization": {"Bearer t1"},
		"x-real-ip":     {"10.0.0.1"},
		"x-trace":       {"tr-1"},
	}
	if w == wireGRPC {
		want["api-key"] = []string{"secret"}
	} else {
		want["x-static"] = []string{"static-1"}
		want["content-type"] = []string{"application/json"}
	}
	for k, v := range want {
		if !slices.Equal(in[k], v) {
			t.Errorf("%s: header %q = %q, want %q", w, k, in[k], v)
		}
	}
	for _, k := range []string{"cookie", "x-other"} {
		if _, ok := in[k]; ok {
			t.Errorf("%s: header %q was forwarded; only proxy_http_headers and proxy_grpc_metadata should be", w, k)
		}
	}
	if w == wireGRPC {
		if _, ok := in["x-static"]; ok {
			t.Errorf("grpc: static HTTP header sent as metadata")
		}
	} else if _, ok := in["api-key"]; ok {
		t.Errorf("http: gRPC credentials sent as an HTTP header")
	}
}

func checkBytes(t *testing.T, field string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s = %q, want %q", field, got, want)
	}
}

// TestEventsRoundTrip sends each of the six events over each wire and checks
// that the request fields and headers arrive as sent and that the result
// fields come back.
func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, w := range wires {
		t.Run(string(w), func(t *testing.T) {
			t.Parallel()
			b := &backend{}
			cfg := testConfig(serve(t, w, b))
			cfg.ProxyHTTPHeaders = []string{"Authorization", "X-Real-Ip"}
			cfg.ProxyGRPCMetadata = []string{"X-Trace"}
			cfg.ProxyStaticHTTPHeaders = map[string]string{"X-Static": "static-1"}
			cfg.ProxyGRPCCredentialsKey = "Api-Key"
			cfg.ProxyGRPCCredentialsValue = "secret"
			cfg.ProxyIncludeConnectionMeta = true
			p, _ := newProxy(t, cfg)
			ctx := testContext(t)
			info := clientInfo()
			info.Headers.Set("X-Trace", "tr-1")
			info.Headers.Set("X-Other", "other")

			b.connect = func(ctx context.Context, r *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
				checkCommon(t, r, "json")
				checkForwarded(t, ctx, w)
				checkBytes(t, "connect data", r.Data, `{"token":"x"}`)
				if r.Name != "js" || r.Version != "1.0" || !slices.Equal(r.Channels, []string{"a", "b"}) || r.B64Data != "" {
					t.Errorf("connect request = %v", r)
				}
				return &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{
					User: "42", ExpireAt: 1700000000, Info: []byte(`{"name":"Ann"}`), Data: []byte(`{"hello":true}`),
					Channels: []string{"news"}, Meta: []byte(`{"m":1}`),
					Subs: map[string]*proxyproto.SubscribeOptions{"news": {ExpireAt: 5, Info: []byte(`{"i":1}`), Data: []byte(`[2]`)}},
				}}, nil
			}
			cinfo := info
			cinfo.User = ""
			conn, err := p.Connect(ctx, &node.ProxyConnectRequest{ProxyClientInfo: cinfo, Data: []byte(`{"token":"x"}`), Name: "js", Version: "1.0", Channels: []string{"a", "b"}})
			wantConn := &node.ProxyConnectResult{
				User: "42", ExpireAt: 1700000000, Info: []byte(`{"name":"Ann"}`), Data: []byte(`{"hello":true}`),
				Channels: []string{"news"}, Meta: []byte(`{"m":1}`),
				Subs: map[string]node.ProxySubscribeOptions{"news": {ExpireAt: 5, Info: []byte(`{"i":1}`), Data: []byte(`[2]`)}},
			}
			if err != nil || !reflect.DeepEqual(conn, wantConn) {
				t.Errorf("Connect = %+v, %v; want %+v", conn, err, wantConn)
			}

			b.refresh = func(ctx context.Context, r *proxyproto.RefreshRequest) (*proxyproto.RefreshResponse, error) {
				checkCommon(t, r, "json")
				checkForwarded(t, ctx, w)
				checkBytes(t, "refresh meta", r.Meta, `{"role":"admin"}`)
				if r.User != "user-1" {
					t.Errorf("refresh user = %q", r.User)
				}
				return &proxyproto.RefreshResponse{Result: &proxyproto.RefreshResult{ExpireAt: 100, Info: []byte(`{"v":2}`)}}, nil
			}
			ref, err := p.Refresh(ctx, &node.ProxyRefreshRequest{ProxyClientInfo: info})
			if want := (&node.ProxyRefreshResult{ExpireAt: 100, Info: []byte(`{"v":2}`)}); err != nil || !reflect.DeepEqual(ref, want) {
				t.Errorf("Refresh = %+v, %v; want %+v", ref, err, want)
			}

			b.subscribe = func(ctx context.Context, r *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error) {
				checkCommon(t, r, "json")
				checkForwarded(t, ctx, w)
				checkBytes(t, "subscribe meta", r.Meta, `{"role":"admin"}`)
				checkBytes(t, "subscribe data", r.Data, `{"s":1}`)
				if r.User != "user-1" || r.Channel != "chat" || r.Token != "tok" {
					t.Errorf("subscribe request = %v", r)
				}
				return &proxyproto.SubscribeResponse{Result: &proxyproto.SubscribeResult{ExpireAt: 7, Info: []byte(`"i"`), Data: []byte(`{"d":1}`)}}, nil
			}
			sub, err := p.Subscribe(ctx, &node.ProxySubscribeRequest{ProxyClientInfo: info, Channel: "chat", Token: "tok", Data: []byte(`{"s":1}`)})
			if want := (&node.ProxySubscribeResult{ExpireAt: 7, Info: []byte(`"i"`), Data: []byte(`{"d":1}`)}); err != nil || !reflect.DeepEqual(sub, want) {
				t.Errorf("Subscribe = %+v, %v; want %+v", sub, err, want)
			}

			b.publish = func(ctx context.Context, r *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
				checkCommon(t, r, "json")
				checkForwarded(t, ctx, w)
				checkBytes(t, "publish data", r.Data, `{"text":"hi"}`)
				checkBytes(t, "publish meta", r.Meta, `{"role":"admin"}`)
				if r.User != "user-1" || r.Channel != "chat" {
					t.Errorf("publish request = %v", r)
				}
				return &proxyproto.PublishResponse{Result: &proxyproto.PublishResult{Data: []byte(`{"text":"HI"}`), SkipHistory: true}}, nil
			}
			pub, err := p.Publish(ctx, &node.ProxyPublishRequest{ProxyClientInfo: info, Channel: "chat", Data: []byte(`{"text":"hi"}`)})
			if want := (&node.ProxyPublishResult{Data: []byte(`{"text":"HI"}`), SkipHistory: true}); err != nil || !reflect.DeepEqual(pub, want) {
				t.Errorf("Publish = %+v, %v; want %+v", pub, err, want)
			}

			b.rpc = func(ctx context.Context, r *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
				checkCommon(t, r, "json")
				checkForwarded(t, ctx, w)
				checkBytes(t, "rpc data", r.Data, `{"id":1}`)
				checkBytes(t, "rpc meta", r.Meta, `{"role":"admin"}`)
				if r.User != "user-1" || r.Method != "getUser" {
					t.Errorf("rpc request = %v", r)
				}
				return &proxyproto.RPCResponse{Result: &proxyproto.RPCResult{Data: []byte(`{"name":"Ann"}`)}}, nil
			}
			rpc, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: info, Method: "getUser", Data: []byte(`{"id":1}`)})
			if want := (&node.ProxyRPCResult{Data: []byte(`{"name":"Ann"}`)}); err != nil || !reflect.DeepEqual(rpc, want) {
				t.Errorf("RPC = %+v, %v; want %+v", rpc, err, want)
			}

			b.subRefresh = func(ctx context.Context, r *proxyproto.SubRefreshRequest) (*proxyproto.SubRefreshResponse, error) {
				checkCommon(t, r, "json")
				checkForwarded(t, ctx, w)
				checkBytes(t, "sub_refresh meta", r.Meta, `{"role":"admin"}`)
				if r.User != "user-1" || r.Channel != "chat" {
					t.Errorf("sub_refresh request = %v", r)
				}
				return &proxyproto.SubRefreshResponse{Result: &proxyproto.SubRefreshResult{ExpireAt: 9, Info: []byte(`{"c":3}`)}}, nil
			}
			sref, err := p.SubRefresh(ctx, &node.ProxySubRefreshRequest{ProxyClientInfo: info, Channel: "chat"})
			if want := (&node.ProxySubRefreshResult{ExpireAt: 9, Info: []byte(`{"c":3}`)}); err != nil || !reflect.DeepEqual(sref, want) {
				t.Errorf("SubRefresh = %+v, %v; want %+v", sref, err, want)
			}
		})
	}
}

// TestMetaOnlyWhenIncluded checks that connection meta stays home without
// proxy_include_connection_meta.
func TestMetaOnlyWhenIncluded(t *testing.T) {
	t.Parallel()
	for _, w := range wires {
		t.Run(string(w), func(t *testing.T) {
			t.Parallel()
			b := &backend{}
			p, _ := newProxy(t, testConfig(serve(t, w, b)))
			b.rpc = func(ctx context.Context, r *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
				if len(r.Meta) != 0 {
					t.Errorf("meta sent: %q", r.Meta)
				}
				if in := incoming(ctx); len(in["authorization"]) != 0 {
					t.Errorf("authorization forwarded without proxy_http_headers")
				}
				return &proxyproto.RPCResponse{}, nil
			}
			res, err := p.RPC(testContext(t), &node.ProxyRPCRequest{ProxyClientInfo: clientInfo(), Method: "m"})
			if err != nil || res == nil || res.Data != nil {
				t.Errorf("RPC with an empty answer = %+v, %v; want empty result", res, err)
			}
		})
	}
}

// TestBinaryEncoding checks b64 fields both ways with proxy_binary_encoding.
func TestBinaryEncoding(t *testing.T) {
	t.Parallel()
	binary := []byte{0, 1, 0xfe, 0xff}
	const b64 = "AAH+/w=="
	for _, w := range wires {
		t.Run(string(w), func(t *testing.T) {
			t.Parallel()
			b := &backend{}
			cfg := testConfig(serve(t, w, b))
			cfg.ProxyBinaryEncoding = true
			cfg.ProxyIncludeConnectionMeta = true
			p, _ := newProxy(t, cfg)
			ctx := testContext(t)

			b.publish = func(_ context.Context, r *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
				checkCommon(t, r, "binary")
				if r.B64Data != b64 || len(r.Data) != 0 {
					t.Errorf("publish data, b64data = %q, %q; want empty, %q", r.Data, r.B64Data, b64)
				}
				checkBytes(t, "meta", r.Meta, `{"role":"admin"}`)
				return &proxyproto.PublishResponse{Result: &proxyproto.PublishResult{B64Data: "/w=="}}, nil
			}
			pub, err := p.Publish(ctx, &node.ProxyPublishRequest{ProxyClientInfo: clientInfo(), Channel: "chat", Data: binary})
			if err != nil || string(pub.Data) != "\xff" {
				t.Errorf("Publish = %+v, %v; want data ff", pub, err)
			}

			b.connect = func(_ context.Context, r *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
				checkCommon(t, r, "binary")
				if r.B64Data != b64 {
					t.Errorf("connect b64data = %q", r.B64Data)
				}
				return &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{
					B64Info: "AQ==", B64Data: "Ag==",
					Subs: map[string]*proxyproto.SubscribeOptions{"s": {B64Info: "Aw==", B64Data: "BA=="}},
				}}, nil
			}
			conn, err := p.Connect(ctx, &node.ProxyConnectRequest{ProxyClientInfo: clientInfo(), Data: binary})
			if err != nil || string(conn.Info) != "\x01" || string(conn.Data) != "\x02" ||
				string(conn.Subs["s"].Info) != "\x03" || string(conn.Subs["s"].Data) != "\x04" {
				t.Errorf("Connect = %+v, %v; want decoded b64 fields", conn, err)
			}

			b.rpc = func(context.Context, *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
				return &proxyproto.RPCResponse{Result: &proxyproto.RPCResult{B64Data: "not base64!"}}, nil
			}
			if _, err := p.RPC(ctx, &node.ProxyRPCRequest{ProxyClientInfo: clientInfo(), Method: "m", Data: binary}); !isCallFailure(err) {
				t.Errorf("RPC answered with bad base64: err = %v, want a call failure", err)
			}

			if w == wireHTTP {
				body := string(b.body("/publish"))
				const want = `{"client":"client-1","transport":"websocket","protocol":"json","encoding":"binary","user":"user-1","channel":"chat","b64data":"AAH+/w==","meta":{"role":"admin"}}`
				if body != want {
					t.Errorf("publish body\n got %s\nwant %s", body, want)
				}
			}
		})
	}
}
