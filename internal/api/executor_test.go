package api

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/apiproto"
	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/node"
)

func newTestExecutor(t *testing.T, f *fakeNode) *Executor {
	t.Helper()
	e, err := NewExecutor(f, ExecutorConfig{Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNewExecutorValidates(t *testing.T) {
	t.Parallel()
	if _, err := NewExecutor(nil, ExecutorConfig{}); err == nil {
		t.Error("nil node accepted")
	}
	if _, err := NewExecutor(&fakeNode{}, ExecutorConfig{MaxConcurrency: -1}); err == nil {
		t.Error("negative MaxConcurrency accepted")
	}
	e, err := NewExecutor(&fakeNode{}, ExecutorConfig{})
	if err != nil || e.log == nil || e.maxConcurrency != defaultMaxConcurrency {
		t.Errorf("defaults not applied: %+v, %v", e, err)
	}
}

func TestExecutorNilRequests(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := &fakeNode{}
	e := newTestExecutor(t, f)
	bad := []*apiproto.Error{
		e.Publish(ctx, nil).Error,
		e.Broadcast(ctx, nil).Error,
		e.Subscribe(ctx, nil).Error,
		e.Unsubscribe(ctx, nil).Error,
		e.Disconnect(ctx, nil).Error,
		e.Presence(ctx, nil).Error,
		e.PresenceStats(ctx, nil).Error,
		e.History(ctx, nil).Error,
		e.HistoryRemove(ctx, nil).Error,
		e.RPC(ctx, nil).Error,
		e.Refresh(ctx, nil).Error,
	}
	for i, err := range bad {
		if err.GetCode() != CodeBadRequest {
			t.Errorf("request %d: error %v, want 107", i, err)
		}
	}
	if r := e.Info(ctx, nil); r.Error != nil || r.Result == nil {
		t.Errorf("info: %v", r)
	}
	if r := e.Channels(ctx, nil); r.Error != nil || r.Result == nil {
		t.Errorf("channels: %v", r)
	}
	if r := e.Batch(ctx, nil); len(r.Replies) != 0 {
		t.Errorf("batch: %v", r)
	}
	if got := len(f.Calls()); got != 2 {
		t.Errorf("node calls: %v", f.Calls())
	}
}

func TestExecutorDisconnectValidation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tests := []struct {
		d    *apiproto.Disconnect
		want *node.Disconnect // nil: 107
	}{
		{nil, &node.DisconnectForceNoReconnect},
		{&apiproto.Disconnect{}, &node.DisconnectForceNoReconnect},
		{&apiproto.Disconnect{Code: 3000, Reason: "r"}, &node.Disconnect{Code: 3000, Reason: "r"}},
		{&apiproto.Disconnect{Code: 4999}, &node.Disconnect{Code: 4999}},
		{&apiproto.Disconnect{Code: 5000}, nil},
		{&apiproto.Disconnect{Code: 2999}, nil},
		{&apiproto.Disconnect{Reason: "no code"}, nil},
		{&apiproto.Disconnect{Code: 4000, Reason: strings.Repeat("r", 124)}, nil},
	}
	for _, tt := range tests {
		f := &fakeNode{}
		e := newTestExecutor(t, f)
		r := e.Disconnect(ctx, &apiproto.DisconnectRequest{User: "u", Disconnect: tt.d})
		if tt.want == nil {
			if r.Error.GetCode() != CodeBadRequest || len(f.Calls()) != 0 {
				t.Errorf("%v: %v, calls %v", tt.d, r, f.Calls())
			}
			continue
		}
		want := []call{{"Disconnect", []any{"u", *tt.want, node.DisconnectOptions{}}}}
		if r.Error != nil || !reflect.DeepEqual(f.Calls(), want) {
			t.Errorf("%v: %v, calls %v", tt.d, r, f.Calls())
		}
	}
}

func TestExecutorPayloads(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := &fakeNode{}
	e := newTestExecutor(t, f)
	if r := e.Subscribe(ctx, &apiproto.SubscribeRequest{User: "u", Channel: "c", B64Info: "%"}); r.Error.GetCode() != CodeBadRequest {
		t.Errorf("bad b64info: %v", r)
	}
	if r := e.Subscribe(ctx, &apiproto.SubscribeRequest{User: "u", Channel: "c", B64Data: "%"}); r.Error.GetCode() != CodeBadRequest {
		t.Errorf("bad b64data: %v", r)
	}
	if r := e.Broadcast(ctx, &apiproto.BroadcastRequest{Channels: []string{"a"}, B64Data: "%"}); r.Error.GetCode() != CodeBadRequest {
		t.Errorf("bad broadcast b64data: %v", r)
	}
	if r := e.Broadcast(ctx, &apiproto.BroadcastRequest{Channels: []string{"a"}}); r.Error.GetCode() != CodeBadRequest {
		t.Errorf("broadcast without data: %v", r)
	}
	// Binary data over gRPC goes through untouched.
	r := e.Publish(ctx, &apiproto.PublishRequest{Channel: "c", Data: []byte{0, 1, 2}})
	if r.Error != nil || r.Result == nil {
		t.Errorf("binary publish: %v", r)
	}
	want := []call{{"Publish", []any{"c", "\x00\x01\x02", node.PublishOptions{}}}}
	if !reflect.DeepEqual(f.Calls(), want) {
		t.Errorf("calls %v", f.Calls())
	}
}

func TestExecutorBatchParamsStyle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := &fakeNode{numClients: 2, numUsers: 1}
	e := newTestExecutor(t, f)
	resp := e.Batch(ctx, &apiproto.BatchRequest{Commands: []*apiproto.Command{
		{Id: 1, Method: apiproto.Command_PRESENCE_STATS, Params: []byte(`{"channel":"c"}`)},
		{Id: 2, Method: apiproto.Command_PUBLISH, Params: []byte(`{"channel":"c","data":{"a":1}}`)},
		{Id: 3, Method: apiproto.Command_CONNECTIONS, Params: []byte(`{}`)},
		{Id: 4, Method: apiproto.Command_HISTORY, Params: []byte(`{"channel":`)},
		{Id: 5},
		nil,
		{Id: 7, Info: &apiproto.InfoRequest{}},
	}})
	if len(resp.Replies) != 7 {
		t.Fatalf("replies %v", resp.Replies)
	}
	for i, r := range resp.Replies {
		if want := uint32(i + 1); i != 5 && r.Id != want {
			t.Errorf("reply %d id %d", i, r.Id)
		}
	}
	if r := resp.Replies[0]; r.Error != nil || r.PresenceStats.GetNumClients() != 2 {
		t.Errorf("presence_stats reply %v", r)
	}
	if r := resp.Replies[1]; r.Error != nil || r.Publish == nil {
		t.Errorf("publish reply %v", r)
	}
	for i, code := range map[int]uint32{2: CodeMethodNotFound, 3: CodeBadRequest, 4: CodeMethodNotFound, 5: CodeMethodNotFound} {
		if got := resp.Replies[i].Error.GetCode(); got != code {
			t.Errorf("reply %d: code %d, want %d", i, got, code)
		}
	}
	if r := resp.Replies[6]; r.Error != nil || r.Info == nil {
		t.Errorf("info reply %v", r)
	}
}

func TestExecutorBatchMaxConcurrency(t *testing.T) {
	t.Parallel()
	f := &fakeNode{}
	e, err := NewExecutor(f, ExecutorConfig{Logger: newTestLogger(&logBuffer{}), MaxConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	cmds := make([]*apiproto.Command, 50)
	for i := range cmds {
		cmds[i] = &apiproto.Command{Publish: &apiproto.PublishRequest{Channel: "c", Data: []byte("1")}}
	}
	resp := e.Batch(t.Context(), &apiproto.BatchRequest{Commands: cmds, Parallel: true})
	for i, r := range resp.Replies {
		if r.Error != nil || r.Publish == nil {
			t.Errorf("reply %d: %v", i, r)
		}
	}
}

func TestExecutorContextReachesNode(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "v")
	n := &ctxNode{fakeNode: &fakeNode{}, key: key{}}
	e, err := NewExecutor(n, ExecutorConfig{Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	e.Publish(ctx, &apiproto.PublishRequest{Channel: "c", Data: []byte("1")})
	if n.seen != "v" {
		t.Errorf("context value not passed to the node: %v", n.seen)
	}
}

type ctxNode struct {
	*fakeNode
	key  any
	seen any
}

func (n *ctxNode) Publish(ctx context.Context, ch string, data []byte, opts node.PublishOptions) (node.PublishResult, error) {
	n.seen = ctx.Value(n.key)
	return node.PublishResult{}, nil
}

func TestErrorMappings(t *testing.T) {
	t.Parallel()
	for code, want := range map[uint32][2]string{
		100: {"500", "Internal"}, 101: {"500", "Internal"}, 102: {"404", "NotFound"}, 104: {"404", "NotFound"},
		107: {"400", "InvalidArgument"}, 108: {"400", "InvalidArgument"}, 112: {"416", "OutOfRange"},
		113: {"409", "AlreadyExists"}, 1500: {"500", "Internal"},
	} {
		e := &apiproto.Error{Code: code}
		if got := HTTPStatus(e); strconv.Itoa(got) != want[0] {
			t.Errorf("HTTPStatus(%d) = %d, want %s", code, got, want[0])
		}
		if got := GRPCCode(e).String(); got != want[1] {
			t.Errorf("GRPCCode(%d) = %s, want %s", code, got, want[1])
		}
	}
}

func TestExecutorSubscribeRecoverSinceAndOverride(t *testing.T) {
	t.Parallel()
	f := &fakeNode{}
	e := newTestExecutor(t, f)
	r := e.Subscribe(t.Context(), &apiproto.SubscribeRequest{
		User: "u", Channel: "c",
		RecoverSince: &apiproto.StreamPosition{Offset: 7, Epoch: "ep"},
		Override: &apiproto.SubscribeOptionOverride{
			Presence:      &apiproto.BoolValue{Value: true},
			ForceRecovery: &apiproto.BoolValue{Value: false},
		},
	})
	if r.Error != nil {
		t.Fatal(r.Error)
	}
	yes, no := true, false
	want := []call{{"Subscribe", []any{"u", "c", node.ServerSubscribeOptions{
		RecoverSince: &node.StreamPosition{Offset: 7, Epoch: "ep"},
		Override:     &auth.SubscribeOverride{Presence: &yes, ForceRecovery: &no},
	}}}}
	if !reflect.DeepEqual(f.Calls(), want) {
		t.Errorf("calls %v", f.Calls())
	}
}
