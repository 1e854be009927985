package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rotorhq/rotor/proxyproto"
)

// seedFlowJS is the centrifuge-js side of the seed flow, relative to tests/js.
var seedFlowJS = filepath.Join("seed", "flow.test.mjs")

// seedJSFiles are the JS files of the seed tests, each run by a test here.
var seedJSFiles = []string{seedFlowJS}

// TestSeedJSFilesListed makes sure every tests/js/seed/*.test.mjs file is
// in seedJSFiles, so none is left unrun.
func TestSeedJSFilesListed(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(seedJSDir, "seed", "*.test.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *.test.mjs files in %s", filepath.Join(seedJSDir, "seed"))
	}
	listed := map[string]bool{}
	for _, f := range seedJSFiles {
		listed[f] = true
	}
	for _, f := range files {
		rel, err := filepath.Rel(seedJSDir, f)
		if err != nil {
			t.Fatal(err)
		}
		if !listed[rel] {
			t.Errorf("%s is not in seedJSFiles, so it never runs", rel)
		}
	}
}

// seedFlowBackend is the application of the seed flow:
//   - connect: user u1, expire_at seedExpireIn seconds ahead, data
//     {"welcome":"u1","protocol":<request protocol>,"expire_at":<expire_at>};
//   - refresh: extends by seedExpireIn seconds again;
//   - subscribe: allows, with data {"user":<user>,"channel":<channel>};
//   - publish: replaces data with {"original":<data>,"moderated":true,"user":<user>};
//   - rpc "sum": {"a":x,"b":y} → {"sum":x+y,"user":<user>,"protocol":<protocol>};
//     rpc "refreshes": {"count":<refresh calls seen for this client>}.
func seedFlowBackend() *seedBackend {
	b := &seedBackend{}
	b.onConnect = func(_ context.Context, r *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
		exp := seedExpireAt()
		return &proxyproto.ConnectResponse{Result: &proxyproto.ConnectResult{
			User:     seedUser,
			ExpireAt: exp,
			Data:     seedJSON(map[string]any{"welcome": seedUser, "protocol": r.GetProtocol(), "expire_at": exp}),
		}}, nil
	}
	b.onRefresh = func(context.Context, *proxyproto.RefreshRequest) (*proxyproto.RefreshResponse, error) {
		return &proxyproto.RefreshResponse{Result: &proxyproto.RefreshResult{ExpireAt: seedExpireAt()}}, nil
	}
	b.onSubscribe = func(_ context.Context, r *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error) {
		return &proxyproto.SubscribeResponse{Result: &proxyproto.SubscribeResult{
			Data: seedJSON(map[string]any{"user": r.GetUser(), "channel": r.GetChannel()}),
		}}, nil
	}
	b.onPublish = func(_ context.Context, r *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
		return &proxyproto.PublishResponse{Result: &proxyproto.PublishResult{
			Data: seedJSON(map[string]any{"original": json.RawMessage(r.GetData()), "moderated": true, "user": r.GetUser()}),
		}}, nil
	}
	b.onRPC = func(_ context.Context, r *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
		switch r.GetMethod() {
		case "sum":
			var args struct{ A, B int }
			if err := json.Unmarshal(r.GetData(), &args); err != nil {
				return &proxyproto.RPCResponse{Error: &proxyproto.Error{Code: 1400, Message: "bad arguments"}}, nil
			}
			return &proxyproto.RPCResponse{Result: &proxyproto.RPCResult{
				Data: seedJSON(map[string]any{"sum": args.A + args.B, "user": r.GetUser(), "protocol": r.GetProtocol()}),
			}}, nil
		case "refreshes":
			n := len(seedCalls(b, seedEvRefresh, func(q *proxyproto.RefreshRequest) bool { return q.GetClient() == r.GetClient() }))
			return &proxyproto.RPCResponse{Result: &proxyproto.RPCResult{Data: seedJSON(map[string]any{"count": n})}}, nil
		}
		return &proxyproto.RPCResponse{Error: &proxyproto.Error{Code: 1404, Message: "unknown method"}}, nil
	}
	return b
}

// TestSeedFlowGRPC runs the seed's flow with centrifuge-js (JSON and
// Protobuf) against Rotor started from the seed's config.json, its proxy
// endpoints pointed at a gRPC backend built on proxyproto.
func TestSeedFlowGRPC(t *testing.T) {
	t.Parallel()
	node := seedRequireNode(t)
	b := seedFlowBackend()
	addr, _ := b.serveGRPC(t, "127.0.0.1:0")
	cfg := loadSeedConfig(t)
	pointSeedAt(&cfg, seedGRPCEndpoint(addr), false)
	srv := runSeedServer(t, cfg)

	seedRunNode(t, node, seedFlowJS, "ROTOR_WS_URL="+srv.WSURL)
	checkSeedFlowCalls(t, b)
}

// TestSeedFlowHTTP is TestSeedFlowGRPC with the backend over HTTP: the
// same endpoints as http://host:port/<event>, JSON bodies.
func TestSeedFlowHTTP(t *testing.T) {
	t.Parallel()
	node := seedRequireNode(t)
	b := seedFlowBackend()
	base := b.serveHTTP(t)
	cfg := loadSeedConfig(t)
	pointSeedAt(&cfg, seedHTTPEndpoint(base), false)
	srv := runSeedServer(t, cfg)

	seedRunNode(t, node, seedFlowJS, "ROTOR_WS_URL="+srv.WSURL)
	checkSeedFlowCalls(t, b)

	// The bodies use Centrifugo's field names, with data embedded as JSON
	// (not base64) and the encoding "json".
	for _, ev := range []string{seedEvConnect, seedEvSubscribe, seedEvPublish, seedEvRPC, seedEvRefresh} {
		bodies := b.httpBodies(ev)
		if len(bodies) == 0 {
			t.Errorf("HTTP backend got no %s request", ev)
			continue
		}
		for _, body := range bodies {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil {
				t.Errorf("%s body is not a JSON object: %v: %s", ev, err, body)
				continue
			}
			for _, k := range []string{"client", "transport", "protocol", "encoding"} {
				if _, ok := m[k]; !ok {
					t.Errorf("%s body has no %q: %s", ev, k, body)
				}
			}
			if string(m["encoding"]) != `"json"` {
				t.Errorf("%s body: encoding %s, want \"json\": %s", ev, m["encoding"], body)
			}
			if ev != seedEvConnect {
				if string(m["user"]) != `"`+seedUser+`"` {
					t.Errorf("%s body: user %s, want %q: %s", ev, m["user"], seedUser, body)
				}
			}
			if ev == seedEvConnect || ev == seedEvPublish || ev == seedEvRPC {
				if d := m["data"]; len(d) == 0 || d[0] != '{' {
					t.Errorf("%s body: data %s is not embedded as a JSON object: %s", ev, d, body)
				}
			}
		}
	}
}

// checkSeedFlowCalls checks what the backend was asked during the JS flow:
// per protocol, one connect without user, then subscribe, publish and rpc
// of user u1 from that connection, and at least two refreshes of it.
func checkSeedFlowCalls(t *testing.T, b *seedBackend) {
	t.Helper()
	for _, p := range []string{"json", "protobuf"} {
		t.Run(p, func(t *testing.T) {
			connects := seedCalls(b, seedEvConnect, func(r *proxyproto.ConnectRequest) bool { return r.GetProtocol() == p })
			if len(connects) != 1 {
				t.Fatalf("backend got %d connect requests over %s, want 1", len(connects), p)
			}
			c := connects[0]
			client := c.GetClient()
			if client == "" {
				t.Fatal("connect request without client id")
			}
			seedCheckCommon(t, "connect", client, c.GetTransport(), p, c.GetEncoding(), client, p)
			if err := seedJSONEqual(c.GetData(), seedJSON(map[string]any{"hello": "rotor", "protocol": p})); err != nil {
				t.Errorf("connect data: %v", err)
			}
			if c.GetName() != "js" {
				t.Errorf("connect name %q, want %q (centrifuge-js default)", c.GetName(), "js")
			}

			channel := "room-" + p
			subs := seedCalls(b, seedEvSubscribe, func(r *proxyproto.SubscribeRequest) bool { return r.GetClient() == client })
			if len(subs) != 1 {
				t.Fatalf("backend got %d subscribe requests from %s, want 1", len(subs), client)
			}
			s := subs[0]
			seedCheckCommon(t, "subscribe", s.GetClient(), s.GetTransport(), s.GetProtocol(), s.GetEncoding(), client, p)
			if s.GetUser() != seedUser || s.GetChannel() != channel {
				t.Errorf("subscribe request: user %q channel %q, want %q %q", s.GetUser(), s.GetChannel(), seedUser, channel)
			}

			pubs := seedCalls(b, seedEvPublish, func(r *proxyproto.PublishRequest) bool { return r.GetClient() == client })
			if len(pubs) != 1 {
				t.Fatalf("backend got %d publish requests from %s, want 1", len(pubs), client)
			}
			pub := pubs[0]
			seedCheckCommon(t, "publish", pub.GetClient(), pub.GetTransport(), pub.GetProtocol(), pub.GetEncoding(), client, p)
			if pub.GetUser() != seedUser || pub.GetChannel() != channel {
				t.Errorf("publish request: user %q channel %q, want %q %q", pub.GetUser(), pub.GetChannel(), seedUser, channel)
			}
			if err := seedJSONEqual(pub.GetData(), []byte(`{"text":"hello"}`)); err != nil {
				t.Errorf("publish data: %v", err)
			}

			rpcs := seedCalls(b, seedEvRPC, func(r *proxyproto.RPCRequest) bool {
				return r.GetClient() == client && r.GetMethod() == "sum"
			})
			if len(rpcs) != 1 {
				t.Fatalf("backend got %d rpc \"sum\" requests from %s, want 1", len(rpcs), client)
			}
			rpc := rpcs[0]
			seedCheckCommon(t, "rpc", rpc.GetClient(), rpc.GetTransport(), rpc.GetProtocol(), rpc.GetEncoding(), client, p)
			if rpc.GetUser() != seedUser {
				t.Errorf("rpc request: user %q, want %q", rpc.GetUser(), seedUser)
			}
			if err := seedJSONEqual(rpc.GetData(), []byte(`{"a":2,"b":3}`)); err != nil {
				t.Errorf("rpc data: %v", err)
			}

			refreshes := seedCalls(b, seedEvRefresh, func(r *proxyproto.RefreshRequest) bool { return r.GetClient() == client })
			if len(refreshes) < 2 {
				t.Fatalf("backend got %d refresh requests for %s, want at least 2", len(refreshes), client)
			}
			for _, r := range refreshes {
				seedCheckCommon(t, "refresh", r.GetClient(), r.GetTransport(), r.GetProtocol(), r.GetEncoding(), client, p)
				if r.GetUser() != seedUser {
					t.Errorf("refresh request: user %q, want %q", r.GetUser(), seedUser)
				}
			}
		})
	}
}

// seedCheckCommon checks the fields every proxy request starts with.
func seedCheckCommon(t *testing.T, what, client, transport, protocol, encoding, wantClient, wantProtocol string) {
	t.Helper()
	if got, want := fmt.Sprintf("%s/%s/%s/%s", client, transport, protocol, encoding),
		fmt.Sprintf("%s/websocket/%s/json", wantClient, wantProtocol); got != want {
		t.Errorf("%s request: client/transport/protocol/encoding %s, want %s", what, got, want)
	}
}
