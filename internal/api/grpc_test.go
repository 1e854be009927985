package api

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rotorhq/rotor/apiproto"
	"github.com/rotorhq/rotor/internal/broker/memory"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/internal/testutil/testtls"
)

// grpcTimeout bounds every call a test makes.
const grpcTimeout = 10 * time.Second

// serveGRPC serves srv on a loopback port until the test ends and returns
// the address.
func serveGRPC(t *testing.T, srv *grpc.Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// dialGRPC connects to addr with creds (plain text when nil) until the test
// ends.
func dialGRPC(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// startGRPC serves the API over exec with opts on a loopback port and
// returns a connected plain-text client.
func startGRPC(t *testing.T, exec *Executor, opts GRPCOptions) *grpc.ClientConn {
	t.Helper()
	srv, err := NewGRPCServer(exec, opts)
	if err != nil {
		t.Fatal(err)
	}
	return dialGRPC(t, serveGRPC(t, srv), nil)
}

// newFakeExecutor returns an executor over f logging into the returned
// buffer.
func newFakeExecutor(t *testing.T, f *fakeNode) (*Executor, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	exec, err := NewExecutor(f, ExecutorConfig{Logger: newTestLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	return exec, logs
}

// newRealExecutor returns an executor over a running node with the default
// configuration and the in-memory broker.
func newRealExecutor(t *testing.T) *Executor {
	t.Helper()
	cfg := config.Defaults()
	cfg.TokenHMACSecretKey = "x"
	log := slog.New(slog.DiscardHandler)
	n, err := node.New(&cfg, node.Options{Broker: memory.New(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Run(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), grpcTimeout)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("node shutdown: %v", err)
		}
	})
	exec, err := NewExecutor(n, ExecutorConfig{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), grpcTimeout)
	t.Cleanup(cancel)
	return ctx
}

// withAuth adds "authorization: <value>" to the outgoing metadata.
func withAuth(ctx context.Context, value string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", value)
}

// grpcCall calls one API method over c.
type grpcCall func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error)

func TestGRPCMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(f *fakeNode)
		call  grpcCall
		calls []call
		want  proto.Message
	}{
		{
			name:  "publish",
			setup: func(f *fakeNode) { f.publishResult = node.PublishResult{Offset: 5, Epoch: "ep"} },
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Publish(ctx, &apiproto.PublishRequest{Channel: "news", Data: []byte(`{"a":1}`),
					SkipHistory: true, Tags: map[string]string{"k": "v"}, IdempotencyKey: "ik", Delta: true})
			},
			calls: []call{{"Publish", []any{"news", `{"a":1}`, node.PublishOptions{
				Tags: map[string]string{"k": "v"}, SkipHistory: true, IdempotencyKey: "ik", Delta: true,
			}}}},
			want: &apiproto.PublishResponse{Result: &apiproto.PublishResult{Offset: 5, Epoch: "ep"}},
		},
		{
			name: "publish b64data",
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Publish(ctx, &apiproto.PublishRequest{Channel: "bin", B64Data: "AAEC/w=="})
			},
			calls: []call{{"Publish", []any{"bin", "\x00\x01\x02\xff", node.PublishOptions{}}}},
			want:  &apiproto.PublishResponse{Result: &apiproto.PublishResult{}},
		},
		{
			name: "publish without data",
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Publish(ctx, &apiproto.PublishRequest{Channel: "news"})
			},
			want: &apiproto.PublishResponse{Error: &apiproto.Error{Code: 107, Message: "bad request"}},
		},
		{
			name:  "publish unknown channel",
			setup: func(f *fakeNode) { f.errs = map[string]error{"Publish": node.ErrorUnknownChannel} },
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Publish(ctx, &apiproto.PublishRequest{Channel: "x:y", Data: []byte("1")})
			},
			calls: []call{{"Publish", []any{"x:y", "1", node.PublishOptions{}}}},
			want:  &apiproto.PublishResponse{Error: &apiproto.Error{Code: 102, Message: "unknown channel"}},
		},
		{
			name:  "publish internal error hides its text",
			setup: func(f *fakeNode) { f.errs = map[string]error{"Publish": errors.New("secret detail")} },
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Publish(ctx, &apiproto.PublishRequest{Channel: "news", Data: []byte("1")})
			},
			calls: []call{{"Publish", []any{"news", "1", node.PublishOptions{}}}},
			want:  &apiproto.PublishResponse{Error: &apiproto.Error{Code: 100, Message: "internal server error"}},
		},
		{
			name: "broadcast",
			setup: func(f *fakeNode) {
				f.publishResult = node.PublishResult{Offset: 1, Epoch: "e"}
			},
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Broadcast(ctx, &apiproto.BroadcastRequest{Channels: []string{"a", ""}, Data: []byte("[1]"),
					Tags: map[string]string{"t": "1"}})
			},
			calls: []call{{"Publish", []any{"a", "[1]", node.PublishOptions{Tags: map[string]string{"t": "1"}}}}},
			want: &apiproto.BroadcastResponse{Result: &apiproto.BroadcastResult{Responses: []*apiproto.PublishResponse{
				{Result: &apiproto.PublishResult{Offset: 1, Epoch: "e"}},
				{Error: &apiproto.Error{Code: 107, Message: "bad request"}},
			}}},
		},
		{
			name: "subscribe",
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Subscribe(ctx, &apiproto.SubscribeRequest{Channel: "room", User: "42", ExpireAt: 1700000000,
					Info: []byte(`{"r":1}`), B64Data: "AQ==", Client: "c1", Session: "s1"})
			},
			calls: []call{{"Subscribe", []any{"42", "room", node.ServerSubscribeOptions{
				ExpireAt: 1700000000, Info: []byte(`{"r":1}`), Data: []byte{1}, Client: "c1", Session: "s1",
			}}}},
			want: &apiproto.SubscribeResponse{Result: &apiproto.SubscribeResult{}},
		},
		{
			name: "unsubscribe",
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Unsubscribe(ctx, &apiproto.UnsubscribeRequest{Channel: "room", User: "42", Client: "c1", Session: "s1"})
			},
			calls: []call{{"Unsubscribe", []any{"42", "room", "c1", "s1"}}},
			want:  &apiproto.UnsubscribeResponse{Result: &apiproto.UnsubscribeResult{}},
		},
		{
			name: "disconnect",
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Disconnect(ctx, &apiproto.DisconnectRequest{User: "42", Client: "c1", Whitelist: []string{"keep"},
					Disconnect: &apiproto.Disconnect{Code: 4500, Reason: "bye"}})
			},
			calls: []call{{"Disconnect", []any{"42", node.Disconnect{Code: 4500, Reason: "bye"},
				node.DisconnectOptions{Client: "c1", Whitelist: []string{"keep"}}}}},
			want: &apiproto.DisconnectResponse{Result: &apiproto.DisconnectResult{}},
		},
		{
			name: "presence",
			setup: func(f *fakeNode) {
				f.presence = map[string]*node.ClientInfo{"c1": {User: "1", Client: "c1", ConnInfo: []byte(`{"n":1}`)}}
			},
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Presence(ctx, &apiproto.PresenceRequest{Channel: "room"})
			},
			calls: []call{{"Presence", []any{"room"}}},
			want: &apiproto.PresenceResponse{Result: &apiproto.PresenceResult{Presence: map[string]*apiproto.ClientInfo{
				"c1": {User: "1", Client: "c1", ConnInfo: []byte(`{"n":1}`)},
			}}},
		},
		{
			name:  "presence_stats",
			setup: func(f *fakeNode) { f.numClients, f.numUsers = 3, 2 },
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.PresenceStats(ctx, &apiproto.PresenceStatsRequest{Channel: "room"})
			},
			calls: []call{{"PresenceStats", []any{"room"}}},
			want:  &apiproto.PresenceStatsResponse{Result: &apiproto.PresenceStatsResult{NumClients: 3, NumUsers: 2}},
		},
		{
			name: "history",
			setup: func(f *fakeNode) {
				f.history = node.HistoryResult{
					StreamPosition: node.StreamPosition{Offset: 9, Epoch: "ep"},
					Publications:   []*node.Publication{{Offset: 9, Data: []byte("x"), Info: &node.ClientInfo{User: "u", Client: "c"}}},
				}
			},
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.History(ctx, &apiproto.HistoryRequest{Channel: "room", Limit: 2, Reverse: true,
					Since: &apiproto.StreamPosition{Offset: 7, Epoch: "ep"}})
			},
			calls: []call{{"History", []any{"room", node.HistoryOptions{Limit: 2, Reverse: true,
				Since: &node.StreamPosition{Offset: 7, Epoch: "ep"}}}}},
			want: &apiproto.HistoryResponse{Result: &apiproto.HistoryResult{Offset: 9, Epoch: "ep",
				Publications: []*apiproto.Publication{{Offset: 9, Data: []byte("x"), Info: &apiproto.ClientInfo{User: "u", Client: "c"}}}}},
		},
		{
			name: "history_remove",
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.HistoryRemove(ctx, &apiproto.HistoryRemoveRequest{Channel: "room"})
			},
			calls: []call{{"RemoveHistory", []any{"room"}}},
			want:  &apiproto.HistoryRemoveResponse{Result: &apiproto.HistoryRemoveResult{}},
		},
		{
			name: "info",
			setup: func(f *fakeNode) {
				f.info = []node.NodeInfo{{UID: "u1", Name: "n1", Version: "1.0", NumClients: 2, NumUsers: 1,
					NumChannels: 3, NumSubs: 4, Uptime: 60}}
			},
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Info(ctx, &apiproto.InfoRequest{})
			},
			calls: []call{{"Info", nil}},
			want: &apiproto.InfoResponse{Result: &apiproto.InfoResult{Nodes: []*apiproto.NodeResult{{Uid: "u1", Name: "n1",
				Version: "1.0", NumClients: 2, NumUsers: 1, NumChannels: 3, NumSubs: 4, Uptime: 60}}}},
		},
		{
			name:  "rpc",
			setup: func(f *fakeNode) { f.rpcResult = []byte(`{"ok":true}`) },
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.RPC(ctx, &apiproto.RPCRequest{Method: "status", Params: []byte(`{"u":1}`)})
			},
			calls: []call{{"RPC", []any{"status", `{"u":1}`}}},
			want:  &apiproto.RPCResponse{Result: &apiproto.RPCResult{Data: []byte(`{"ok":true}`)}},
		},
		{
			name: "refresh",
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Refresh(ctx, &apiproto.RefreshRequest{User: "42", Client: "c1", Session: "s1", ExpireAt: 1700000000,
					Info: []byte(`{"x":1}`)})
			},
			calls: []call{{"Refresh", []any{"42", node.RefreshOptions{Client: "c1", Session: "s1", ExpireAt: 1700000000,
				Info: []byte(`{"x":1}`)}}}},
			want: &apiproto.RefreshResponse{Result: &apiproto.RefreshResult{}},
		},
		{
			name:  "channels",
			setup: func(f *fakeNode) { f.channels = map[string]node.ChannelInfo{"news": {NumClients: 2}} },
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Channels(ctx, &apiproto.ChannelsRequest{Pattern: "n*"})
			},
			calls: []call{{"Channels", []any{"n*"}}},
			want: &apiproto.ChannelsResponse{Result: &apiproto.ChannelsResult{Channels: map[string]*apiproto.ChannelInfo{
				"news": {NumClients: 2},
			}}},
		},
		{
			name:  "batch",
			setup: func(f *fakeNode) { f.numClients = 1 },
			call: func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
				return c.Batch(ctx, &apiproto.BatchRequest{Commands: []*apiproto.Command{
					{Id: 1, Publish: &apiproto.PublishRequest{Channel: "a", Data: []byte("1")}},
					{Id: 2, PresenceStats: &apiproto.PresenceStatsRequest{Channel: "a"}},
					{Id: 3, Method: apiproto.Command_INFO, Params: []byte(`{}`)},
					{Id: 4},
				}})
			},
			calls: []call{
				{"Publish", []any{"a", "1", node.PublishOptions{}}},
				{"PresenceStats", []any{"a"}},
				{"Info", nil},
			},
			want: &apiproto.BatchResponse{Replies: []*apiproto.Reply{
				{Id: 1, Publish: &apiproto.PublishResult{}},
				{Id: 2, PresenceStats: &apiproto.PresenceStatsResult{NumClients: 1}},
				{Id: 3, Info: &apiproto.InfoResult{Nodes: []*apiproto.NodeResult{}}},
				{Id: 4, Error: &apiproto.Error{Code: 104, Message: "method not found"}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeNode{}
			if tt.setup != nil {
				tt.setup(f)
			}
			exec, _ := newFakeExecutor(t, f)
			c := apiproto.NewCentrifugoApiClient(startGRPC(t, exec, GRPCOptions{}))
			got, err := tt.call(testContext(t), c)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("response\n got %v\nwant %v", got, tt.want)
			}
			if calls := f.Calls(); !reflect.DeepEqual(calls, tt.calls) {
				t.Errorf("node calls\n got %v\nwant %v", calls, tt.calls)
			}
		})
	}
}

// TestGRPCRealNode calls each of the 14 methods on a running node.
func TestGRPCRealNode(t *testing.T) {
	t.Parallel()
	exec := newRealExecutor(t)
	c := apiproto.NewCentrifugoApiClient(startGRPC(t, exec, GRPCOptions{Key: testKey}))
	ctx := withAuth(testContext(t), "apikey "+testKey)

	notAvailable := &apiproto.Error{Code: 108, Message: "not available"}
	unknownChannel := &apiproto.Error{Code: 102, Message: "unknown channel"}
	check := func(name string, err error, gotErr *apiproto.Error, want *apiproto.Error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if !proto.Equal(gotErr, want) {
			t.Errorf("%s: error %v, want %v", name, gotErr, want)
		}
	}

	pub, err := c.Publish(ctx, &apiproto.PublishRequest{Channel: "news", Data: []byte(`{"a":1}`)})
	check("publish", err, pub.GetError(), nil)
	if pub.GetResult() == nil {
		t.Errorf("publish: no result: %v", pub)
	}
	pub, err = c.Publish(ctx, &apiproto.PublishRequest{Channel: "nope:x", Data: []byte(`{}`)})
	check("publish unknown namespace", err, pub.GetError(), unknownChannel)

	bc, err := c.Broadcast(ctx, &apiproto.BroadcastRequest{Channels: []string{"news", "nope:x"}, Data: []byte(`1`)})
	check("broadcast", err, bc.GetError(), nil)
	if rs := bc.GetResult().GetResponses(); len(rs) != 2 || rs[0].GetError() != nil || !proto.Equal(rs[1].GetError(), unknownChannel) {
		t.Errorf("broadcast responses: %v", rs)
	}

	sub, err := c.Subscribe(ctx, &apiproto.SubscribeRequest{Channel: "news", User: "42"})
	check("subscribe", err, sub.GetError(), nil)
	sub, err = c.Subscribe(ctx, &apiproto.SubscribeRequest{Channel: "nope:x", User: "42"})
	check("subscribe unknown namespace", err, sub.GetError(), unknownChannel)

	unsub, err := c.Unsubscribe(ctx, &apiproto.UnsubscribeRequest{Channel: "news", User: "42"})
	check("unsubscribe", err, unsub.GetError(), nil)

	disc, err := c.Disconnect(ctx, &apiproto.DisconnectRequest{User: "42"})
	check("disconnect", err, disc.GetError(), nil)

	pres, err := c.Presence(ctx, &apiproto.PresenceRequest{Channel: "news"})
	check("presence", err, pres.GetError(), notAvailable)

	ps, err := c.PresenceStats(ctx, &apiproto.PresenceStatsRequest{Channel: "news"})
	check("presence_stats", err, ps.GetError(), notAvailable)

	hist, err := c.History(ctx, &apiproto.HistoryRequest{Channel: "news", Limit: -1})
	check("history", err, hist.GetError(), notAvailable)
	hist, err = c.History(ctx, &apiproto.HistoryRequest{Channel: "nope:x"})
	check("history unknown namespace", err, hist.GetError(), unknownChannel)

	hr, err := c.HistoryRemove(ctx, &apiproto.HistoryRemoveRequest{Channel: "news"})
	check("history_remove", err, hr.GetError(), notAvailable)

	info, err := c.Info(ctx, &apiproto.InfoRequest{})
	check("info", err, info.GetError(), nil)
	if nodes := info.GetResult().GetNodes(); len(nodes) != 1 || nodes[0].GetUid() == "" || nodes[0].GetName() == "" {
		t.Errorf("info nodes: %v", nodes)
	}

	rpc, err := c.RPC(ctx, &apiproto.RPCRequest{Method: "anything"})
	check("rpc", err, rpc.GetError(), &apiproto.Error{Code: 104, Message: "method not found"})

	ref, err := c.Refresh(ctx, &apiproto.RefreshRequest{User: "42", ExpireAt: time.Now().Add(time.Hour).Unix()})
	check("refresh", err, ref.GetError(), nil)

	chans, err := c.Channels(ctx, &apiproto.ChannelsRequest{})
	check("channels", err, chans.GetError(), nil)
	if chans.GetResult() == nil || len(chans.GetResult().GetChannels()) != 0 {
		t.Errorf("channels: %v", chans)
	}

	batch, err := c.Batch(ctx, &apiproto.BatchRequest{Parallel: true, Commands: []*apiproto.Command{
		{Id: 1, Publish: &apiproto.PublishRequest{Channel: "news", Data: []byte(`2`)}},
		{Id: 2, Presence: &apiproto.PresenceRequest{Channel: "news"}},
		{Id: 3, Publish: &apiproto.PublishRequest{Channel: "nope:x", Data: []byte(`2`)}},
	}})
	if err != nil {
		t.Fatalf("batch: %v", err)
	}
	replies := batch.GetReplies()
	if len(replies) != 3 ||
		replies[0].GetId() != 1 || replies[0].GetError() != nil || replies[0].GetPublish() == nil ||
		replies[1].GetId() != 2 || !proto.Equal(replies[1].GetError(), notAvailable) ||
		replies[2].GetId() != 3 || !proto.Equal(replies[2].GetError(), unknownChannel) {
		t.Errorf("batch replies: %v", replies)
	}
}

func TestGRPCAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  string   // configured key
		auth []string // authorization values sent
		want codes.Code
	}{
		{"right key", testKey, []string{"apikey " + testKey}, codes.OK},
		{"scheme any case", testKey, []string{"APIKey " + testKey}, codes.OK},
		{"extra spaces", testKey, []string{"  apikey   " + testKey + " "}, codes.OK},
		{"one of several values", testKey, []string{"apikey wrong", "apikey " + testKey}, codes.OK},
		{"no metadata", testKey, nil, codes.Unauthenticated},
		{"wrong key", testKey, []string{"apikey wrong"}, codes.Unauthenticated},
		{"key prefix", testKey, []string{"apikey " + testKey[:4]}, codes.Unauthenticated},
		{"empty key", testKey, []string{"apikey "}, codes.Unauthenticated},
		{"other scheme", testKey, []string{"Bearer " + testKey}, codes.Unauthenticated},
		{"bare key", testKey, []string{testKey}, codes.Unauthenticated},
		{"open without key", "", nil, codes.OK},
		{"open ignores a key sent", "", []string{"apikey whatever"}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeNode{}
			exec, logs := newFakeExecutor(t, f)
			c := apiproto.NewCentrifugoApiClient(startGRPC(t, exec, GRPCOptions{Key: tt.key}))
			ctx := testContext(t)
			for _, v := range tt.auth {
				ctx = withAuth(ctx, v)
			}
			resp, err := c.Publish(ctx, &apiproto.PublishRequest{Channel: "news", Data: []byte("1")})
			if got := status.Code(err); got != tt.want {
				t.Fatalf("code %v, want %v (err %v)", got, tt.want, err)
			}
			wantCalls := 0
			if tt.want == codes.OK {
				wantCalls = 1
				if resp.GetResult() == nil {
					t.Errorf("no result: %v", resp)
				}
			} else {
				if msg := status.Convert(err).Message(); msg != "invalid API key" {
					t.Errorf("message %q", msg)
				}
				if !strings.Contains(logs.String(), "invalid API key") {
					t.Errorf("refusal not logged: %s", logs)
				}
			}
			if len(f.Calls()) != wantCalls {
				t.Errorf("node calls %v", f.Calls())
			}
		})
	}
}

// TestGRPCHealth checks that health answers SERVING without the API key,
// for the server as a whole and for the API service, and that Watch (a
// stream) is exempt too.
func TestGRPCHealth(t *testing.T) {
	t.Parallel()
	exec, _ := newFakeExecutor(t, &fakeNode{})
	hc := healthpb.NewHealthClient(startGRPC(t, exec, GRPCOptions{Key: testKey}))
	ctx := testContext(t)
	for _, svc := range []string{"", "centrifugal.centrifugo.api.CentrifugoApi"} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("check %q: %v", svc, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("check %q: %v", svc, resp.GetStatus())
		}
	}
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown service: %v", err)
	}
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.Recv()
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("watch: %v", resp.GetStatus())
	}
}

func TestGRPCReflection(t *testing.T) {
	t.Parallel()
	// listServices asks the reflection service for the service names.
	listServices := func(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
		stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			return nil, err
		}
		defer func() { _ = stream.CloseSend() }()
		err = stream.Send(&reflectionpb.ServerReflectionRequest{
			MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
		})
		// io.EOF means the server already ended the stream (an
		// Unimplemented or Unauthenticated answer): Recv returns its status.
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		return names, nil
	}
	exec, _ := newFakeExecutor(t, &fakeNode{})

	t.Run("off", func(t *testing.T) {
		t.Parallel()
		_, err := listServices(testContext(t), startGRPC(t, exec, GRPCOptions{}))
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("got %v, want Unimplemented", err)
		}
	})
	t.Run("on, needs the key", func(t *testing.T) {
		t.Parallel()
		conn := startGRPC(t, exec, GRPCOptions{Reflection: true, Key: testKey})
		if _, err := listServices(testContext(t), conn); status.Code(err) != codes.Unauthenticated {
			t.Errorf("without key: got %v, want Unauthenticated", err)
		}
		names, err := listServices(withAuth(testContext(t), "apikey "+testKey), conn)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(names, " "), "centrifugal.centrifugo.api.CentrifugoApi") {
			t.Errorf("services %v", names)
		}
	})
}

func TestGRPCTransportErrors(t *testing.T) {
	t.Parallel()
	f := &fakeNode{errs: map[string]error{"Publish:nope:x": node.ErrorUnknownChannel, "Presence": node.ErrorNotAvailable}}
	exec, _ := newFakeExecutor(t, f)
	inBand := apiproto.NewCentrifugoApiClient(startGRPC(t, exec, GRPCOptions{}))
	transport := apiproto.NewCentrifugoApiClient(startGRPC(t, exec, GRPCOptions{ErrorMode: "transport"}))
	byMetadata := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, GRPCErrorModeHeader, "Transport")
	}

	tests := []struct {
		name   string
		client apiproto.CentrifugoApiClient
		ctx    func(context.Context) context.Context
		call   grpcCall
		want   codes.Code
		msg    string
	}{
		{"in-band by default", inBand, nil, publishTo("nope:x"), codes.OK, ""},
		{"option: unknown channel", transport, nil, publishTo("nope:x"), codes.NotFound, "unknown channel"},
		{"option: success stays OK", transport, nil, publishTo("news"), codes.OK, ""},
		{"option: bad request", transport, nil, publishTo(""), codes.InvalidArgument, "bad request"},
		{"metadata: unknown channel", inBand, byMetadata, publishTo("nope:x"), codes.NotFound, "unknown channel"},
		{"metadata: not available", inBand, byMetadata, func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
			return c.Presence(ctx, &apiproto.PresenceRequest{Channel: "news"})
		}, codes.InvalidArgument, "not available"},
		{"metadata: batch stays in-band", inBand, byMetadata, func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
			return c.Batch(ctx, &apiproto.BatchRequest{Commands: []*apiproto.Command{{}}})
		}, codes.OK, ""},
		{"option: batch stays in-band", transport, nil, func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
			return c.Batch(ctx, &apiproto.BatchRequest{Commands: []*apiproto.Command{
				{Publish: &apiproto.PublishRequest{Channel: "nope:x", Data: []byte("1")}},
			}})
		}, codes.OK, ""},
		{"metadata other value is ignored", inBand, func(ctx context.Context) context.Context {
			return metadata.AppendToOutgoingContext(ctx, GRPCErrorModeHeader, "none")
		}, publishTo("nope:x"), codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			resp, err := tt.call(ctx, tt.client)
			st := status.Convert(err)
			if st.Code() != tt.want {
				t.Fatalf("code %v, want %v (err %v)", st.Code(), tt.want, err)
			}
			if tt.want != codes.OK {
				if st.Message() != tt.msg {
					t.Errorf("message %q, want %q", st.Message(), tt.msg)
				}
				return
			}
			// In-band: the response carries the error (or result).
			if resp == nil {
				t.Fatal("nil response")
			}
		})
	}

	// The in-band answers carry the API error.
	resp, err := inBand.Publish(testContext(t), &apiproto.PublishRequest{Channel: "nope:x", Data: []byte("1")})
	if err != nil || resp.GetError().GetCode() != 102 {
		t.Errorf("in-band publish: %v, %v", resp, err)
	}
	batch, err := transport.Batch(testContext(t), &apiproto.BatchRequest{Commands: []*apiproto.Command{
		{Publish: &apiproto.PublishRequest{Channel: "nope:x", Data: []byte("1")}},
	}})
	if err != nil || len(batch.GetReplies()) != 1 || batch.GetReplies()[0].GetError().GetCode() != 102 {
		t.Errorf("transport batch: %v, %v", batch, err)
	}
}

func publishTo(ch string) grpcCall {
	return func(ctx context.Context, c apiproto.CentrifugoApiClient) (proto.Message, error) {
		return c.Publish(ctx, &apiproto.PublishRequest{Channel: ch, Data: []byte("1")})
	}
}

// TestGRPCUnimplemented calls a Centrifugo PRO method, which Rotor does not
// have.
func TestGRPCUnimplemented(t *testing.T) {
	t.Parallel()
	exec, _ := newFakeExecutor(t, &fakeNode{})
	for _, key := range []string{"", testKey} {
		conn := startGRPC(t, exec, GRPCOptions{Key: key})
		ctx := withAuth(testContext(t), "apikey "+testKey)
		err := conn.Invoke(ctx, "/centrifugal.centrifugo.api.CentrifugoApi/Connections", &emptypb.Empty{}, &emptypb.Empty{})
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("key %q: got %v, want Unimplemented", key, err)
		}
	}
}

func TestGRPCMaxRecvMsgSize(t *testing.T) {
	t.Parallel()
	f := &fakeNode{}
	exec, _ := newFakeExecutor(t, f)
	c := apiproto.NewCentrifugoApiClient(startGRPC(t, exec, GRPCOptions{MaxRecvMsgSize: 1024}))
	_, err := c.Publish(testContext(t), &apiproto.PublishRequest{Channel: "news", Data: make([]byte, 2048)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("big message: got %v, want ResourceExhausted", err)
	}
	if _, err := c.Publish(testContext(t), &apiproto.PublishRequest{Channel: "news", Data: make([]byte, 512)}); err != nil {
		t.Errorf("small message: %v", err)
	}
	if len(f.Calls()) != 1 {
		t.Errorf("node calls %v", f.Calls())
	}
}

// TestGRPCRecoversPanic drives the recovering interceptor directly: the
// executor recovers its own panics, so none reaches it over the wire.
func TestGRPCRecoversPanic(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	g := &grpcGuard{log: newTestLogger(logs)}
	info := &grpc.UnaryServerInfo{FullMethod: "/centrifugal.centrifugo.api.CentrifugoApi/Publish"}
	resp, err := g.recoverUnary(testContext(t), nil, info, func(context.Context, any) (any, error) {
		panic("boom")
	})
	if resp != nil || status.Code(err) != codes.Internal || status.Convert(err).Message() != "internal server error" {
		t.Errorf("got %v, %v", resp, err)
	}
	if l := logs.String(); !strings.Contains(l, "api: grpc panic") || !strings.Contains(l, "boom") || !strings.Contains(l, "Publish") {
		t.Errorf("log: %s", l)
	}
	// Without a panic the handler's answer passes through.
	resp, err = g.recoverUnary(testContext(t), nil, info, func(context.Context, any) (any, error) { return "ok", nil })
	if resp != "ok" || err != nil {
		t.Errorf("got %v, %v", resp, err)
	}
}

// TestGRPCPanicInNode checks the whole path: a panicking node method is
// answered with 100 in-band and the server keeps serving.
func TestGRPCPanicInNode(t *testing.T) {
	t.Parallel()
	f := &fakeNode{panics: "Info"}
	exec, _ := newFakeExecutor(t, f)
	c := apiproto.NewCentrifugoApiClient(startGRPC(t, exec, GRPCOptions{}))
	resp, err := c.Info(testContext(t), &apiproto.InfoRequest{})
	if err != nil || resp.GetError().GetCode() != 100 {
		t.Errorf("info: %v, %v", resp, err)
	}
	if _, err := c.Channels(testContext(t), &apiproto.ChannelsRequest{}); err != nil {
		t.Errorf("after panic: %v", err)
	}
}

func TestGRPCTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testtls.SelfSigned(t)
	exec, _ := newFakeExecutor(t, &fakeNode{})
	srv, err := NewGRPCServer(exec, GRPCOptions{TLSCert: certFile, TLSKey: keyFile, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveGRPC(t, srv)

	conn := dialGRPC(t, addr, credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	c := apiproto.NewCentrifugoApiClient(conn)
	resp, err := c.Publish(withAuth(testContext(t), "apikey "+testKey), &apiproto.PublishRequest{Channel: "news", Data: []byte("1")})
	if err != nil || resp.GetResult() == nil {
		t.Fatalf("publish over TLS: %v, %v", resp, err)
	}

	// A plain-text client cannot talk to the TLS server.
	plain := apiproto.NewCentrifugoApiClient(dialGRPC(t, addr, nil))
	if _, err := plain.Publish(withAuth(testContext(t), "apikey "+testKey), &apiproto.PublishRequest{Channel: "news", Data: []byte("1")}); status.Code(err) != codes.Unavailable {
		t.Errorf("plain text to TLS: got %v, want Unavailable", err)
	}
}

func TestNewGRPCServerValidates(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := testtls.SelfSigned(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	exec, _ := newFakeExecutor(t, &fakeNode{})

	tests := []struct {
		name string
		exec *Executor
		opts GRPCOptions
		want []string // substrings of the error; nil: no error
	}{
		{"zero options", exec, GRPCOptions{}, nil},
		{"everything", exec, GRPCOptions{Key: "k", TLSCert: certFile, TLSKey: keyFile, Reflection: true,
			ErrorMode: "transport", MaxRecvMsgSize: 1 << 20}, nil},
		{"error mode any case", exec, GRPCOptions{ErrorMode: "TRANSPORT"}, nil},
		{"nil executor", nil, GRPCOptions{}, []string{"nil executor"}},
		{"cert without key", exec, GRPCOptions{TLSCert: certFile}, []string{"grpc_api_tls_key"}},
		{"key without cert", exec, GRPCOptions{TLSKey: keyFile}, []string{"grpc_api_tls_cert"}},
		{"unreadable cert", exec, GRPCOptions{TLSCert: missing, TLSKey: keyFile}, []string{"grpc_api_tls_cert", "missing.pem"}},
		{"unreadable key", exec, GRPCOptions{TLSCert: certFile, TLSKey: missing}, []string{"grpc_api_tls_key", "missing.pem"}},
		{"garbage cert", exec, GRPCOptions{TLSCert: garbage, TLSKey: keyFile}, []string{"grpc_api_tls_cert", "garbage.pem"}},
		{"cert and key swapped", exec, GRPCOptions{TLSCert: keyFile, TLSKey: certFile}, []string{"grpc_api_tls_cert", "grpc_api_tls_key"}},
		{"bad error mode", exec, GRPCOptions{ErrorMode: "loud"}, []string{"grpc_api_error_mode", "loud"}},
		{"negative message size", exec, GRPCOptions{MaxRecvMsgSize: -1}, []string{"MaxRecvMsgSize"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := NewGRPCServer(tt.exec, tt.opts)
			if tt.want == nil {
				if err != nil || srv == nil {
					t.Fatalf("got %v, %v", srv, err)
				}
				srv.Stop()
				return
			}
			if err == nil || srv != nil {
				t.Fatalf("got %v, %v; want an error", srv, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
