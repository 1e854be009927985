package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/node"
)

func boolPtr(b bool) *bool { return &b }

func TestHTTPMethods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(f *fakeNode)
		path  string
		body  string
		calls []call
		want  string
		// anyOrder: the calls run concurrently, so their order is not fixed.
		anyOrder bool
	}{
		{
			name:  "publish raw json data",
			setup: func(f *fakeNode) { f.publishResult = node.PublishResult{Offset: 5, Epoch: "ep"} },
			path:  "/api/publish",
			body: `{"channel":"news","data":{"text": "hi",
				"n": [1, 2]},"skip_history":true,"tags":{"k":"v"},"idempotency_key":"ik","delta":true}`,
			calls: []call{{"Publish", []any{"news", `{"text":"hi","n":[1,2]}`, node.PublishOptions{
				Tags: map[string]string{"k": "v"}, SkipHistory: true, IdempotencyKey: "ik", Delta: true,
			}}}},
			want: `{"result":{"offset":5,"epoch":"ep"}}`,
		},
		{
			name:  "publish empty result",
			path:  "/api/publish",
			body:  `{"channel":"news","data":"x"}`,
			calls: []call{{"Publish", []any{"news", `"x"`, node.PublishOptions{}}}},
			want:  `{"result":{}}`,
		},
		{
			name:  "publish b64data",
			path:  "/api/publish",
			body:  `{"channel":"bin","b64data":"AAEC/w=="}`,
			calls: []call{{"Publish", []any{"bin", "\x00\x01\x02\xff", node.PublishOptions{}}}},
			want:  `{"result":{}}`,
		},
		{
			name:  "publish b64data wins over data",
			path:  "/api/publish",
			body:  `{"channel":"bin","data":{"a":1},"b64data":"aGk="}`,
			calls: []call{{"Publish", []any{"bin", "hi", node.PublishOptions{}}}},
			want:  `{"result":{}}`,
		},
		{
			name: "publish without data",
			path: "/api/publish",
			body: `{"channel":"news"}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "publish without channel",
			path: "/api/publish",
			body: `{"data":{}}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "publish bad b64data",
			path: "/api/publish",
			body: `{"channel":"news","b64data":"!!!"}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "publish empty body",
			path: "/api/publish",
			body: ``,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "broadcast",
			setup: func(f *fakeNode) {
				f.publishResult = node.PublishResult{Offset: 1, Epoch: "e"}
				f.errs = map[string]error{"Publish:x:bad": node.ErrorUnknownChannel}
			},
			path: "/api/broadcast",
			body: `{"channels":["a","x:bad",""],"data":[1,2],"tags":{"t":"1"}}`,
			calls: []call{
				{"Publish", []any{"a", `[1,2]`, node.PublishOptions{Tags: map[string]string{"t": "1"}}}},
				{"Publish", []any{"x:bad", `[1,2]`, node.PublishOptions{Tags: map[string]string{"t": "1"}}}},
			},
			want: `{"result":{"responses":[{"result":{"offset":1,"epoch":"e"}},` +
				`{"error":{"code":102,"message":"unknown channel"}},{"error":{"code":107,"message":"bad request"}}]}}`,
			anyOrder: true,
		},
		{
			name: "broadcast without channels",
			path: "/api/broadcast",
			body: `{"channels":[],"data":{}}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "subscribe",
			path: "/api/subscribe",
			body: `{"channel":"room","user":"42","expire_at":1700000000,"info":{"role":"admin"},"b64data":"AQ==",` +
				`"client":"c1","session":"s1","recover_since":{"offset":"7","epoch":"xy"},` +
				`"override":{"presence":{"value":true},"join_leave":false}}`,
			calls: []call{{"Subscribe", []any{"42", "room", node.ServerSubscribeOptions{
				ExpireAt: 1700000000, Info: []byte(`{"role":"admin"}`), Data: []byte{1}, Client: "c1", Session: "s1",
				RecoverSince: &node.StreamPosition{Offset: 7, Epoch: "xy"},
				Override:     &auth.SubscribeOverride{Presence: boolPtr(true), JoinLeave: boolPtr(false)},
			}}}},
			want: `{"result":{}}`,
		},
		{
			name: "subscribe without user",
			path: "/api/subscribe",
			body: `{"channel":"room"}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "subscribe without channel",
			path: "/api/subscribe",
			body: `{"user":"42"}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name:  "unsubscribe",
			path:  "/api/unsubscribe",
			body:  `{"channel":"room","user":"42","client":"c1","session":"s1"}`,
			calls: []call{{"Unsubscribe", []any{"42", "room", "c1", "s1"}}},
			want:  `{"result":{}}`,
		},
		{
			name: "unsubscribe without user",
			path: "/api/unsubscribe",
			body: `{"channel":"room"}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "disconnect default",
			path: "/api/disconnect",
			body: `{"user":"42","whitelist":["keep"]}`,
			calls: []call{{"Disconnect", []any{"42", node.Disconnect{Code: 3503, Reason: "force disconnect"},
				node.DisconnectOptions{Whitelist: []string{"keep"}}}}},
			want: `{"result":{}}`,
		},
		{
			name: "disconnect custom",
			path: "/api/disconnect",
			body: `{"user":"42","client":"c1","session":"s1","disconnect":{"code":4500,"reason":"bye"}}`,
			calls: []call{{"Disconnect", []any{"42", node.Disconnect{Code: 4500, Reason: "bye"},
				node.DisconnectOptions{Client: "c1", Session: "s1"}}}},
			want: `{"result":{}}`,
		},
		{
			name: "disconnect bad code",
			path: "/api/disconnect",
			body: `{"user":"42","disconnect":{"code":1000,"reason":"x"}}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "disconnect without user",
			path: "/api/disconnect",
			body: `{}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "presence",
			setup: func(f *fakeNode) {
				f.presence = map[string]*node.ClientInfo{
					"c2": {User: "2", Client: "c2"},
					"c1": {User: "1", Client: "c1", ConnInfo: []byte(`{"name":"Ann"}`), ChanInfo: []byte(`[1]`)},
				}
			},
			path:  "/api/presence",
			body:  `{"channel":"room"}`,
			calls: []call{{"Presence", []any{"room"}}},
			want: `{"result":{"presence":{"c1":{"user":"1","client":"c1","conn_info":{"name":"Ann"},"chan_info":[1]},` +
				`"c2":{"user":"2","client":"c2"}}}}`,
		},
		{
			name:  "presence empty",
			path:  "/api/presence",
			body:  `{"channel":"room"}`,
			calls: []call{{"Presence", []any{"room"}}},
			want:  `{"result":{"presence":{}}}`,
		},
		{
			name:  "presence_stats zeros are written",
			path:  "/api/presence_stats",
			body:  `{"channel":"room"}`,
			calls: []call{{"PresenceStats", []any{"room"}}},
			want:  `{"result":{"num_clients":0,"num_users":0}}`,
		},
		{
			name:  "presence_stats",
			setup: func(f *fakeNode) { f.numClients, f.numUsers = 3, 2 },
			path:  "/api/presence_stats",
			body:  `{"channel":"room"}`,
			calls: []call{{"PresenceStats", []any{"room"}}},
			want:  `{"result":{"num_clients":3,"num_users":2}}`,
		},
		{
			name: "history",
			setup: func(f *fakeNode) {
				f.history = node.HistoryResult{
					StreamPosition: node.StreamPosition{Offset: 9, Epoch: "ep"},
					Publications: []*node.Publication{
						{Offset: 8, Data: []byte(`{"a":1}`), Tags: map[string]string{"z": "1", "a": "2"}},
						{Offset: 9, Data: []byte("\x00binary"), Info: &node.ClientInfo{User: "u", Client: "c"}},
					},
				}
			},
			path:  "/api/history",
			body:  `{"channel":"room","limit":2,"since":{"offset":7,"epoch":"ep"},"reverse":true}`,
			calls: []call{{"History", []any{"room", node.HistoryOptions{Limit: 2, Since: &node.StreamPosition{Offset: 7, Epoch: "ep"}, Reverse: true}}}},
			want: `{"result":{"publications":[{"data":{"a":1},"offset":8,"tags":{"a":"2","z":"1"}},` +
				`{"data":"AGJpbmFyeQ==","info":{"user":"u","client":"c"},"offset":9}],"epoch":"ep","offset":9}}`,
		},
		{
			name:  "history position only",
			path:  "/api/history",
			body:  `{"channel":"room"}`,
			calls: []call{{"History", []any{"room", node.HistoryOptions{}}}},
			want:  `{"result":{"publications":[],"epoch":"","offset":0}}`,
		},
		{
			name:  "history_remove",
			path:  "/api/history_remove",
			body:  `{"channel":"room"}`,
			calls: []call{{"RemoveHistory", []any{"room"}}},
			want:  `{"result":{}}`,
		},
		{
			name: "info",
			setup: func(f *fakeNode) {
				f.info = []node.NodeInfo{{UID: "u1", Name: "n1", Version: "1.0", NumClients: 2, NumUsers: 1,
					NumChannels: 3, NumSubs: 4, Uptime: 60}, {UID: "u2", Name: "n2"}}
			},
			path:  "/api/info",
			body:  `{}`,
			calls: []call{{"Info", nil}},
			want: `{"result":{"nodes":[{"uid":"u1","name":"n1","version":"1.0","num_clients":2,"num_users":1,` +
				`"num_channels":3,"uptime":60,"num_subs":4},{"uid":"u2","name":"n2","version":"","num_clients":0,` +
				`"num_users":0,"num_channels":0,"num_subs":0}]}}`,
		},
		{
			name:  "rpc",
			setup: func(f *fakeNode) { f.rpcResult = []byte(`{"ok":true}`) },
			path:  "/api/rpc",
			body:  `{"method":"getUserStatus","params":{"users": ["1"]}}`,
			calls: []call{{"RPC", []any{"getUserStatus", `{"users":["1"]}`}}},
			want:  `{"result":{"data":{"ok":true}}}`,
		},
		{
			name: "rpc without method",
			path: "/api/rpc",
			body: `{"params":{}}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name:  "rpc unknown method",
			setup: func(f *fakeNode) { f.errs = map[string]error{"RPC": node.ErrorMethodNotFound} },
			path:  "/api/rpc",
			body:  `{"method":"nope"}`,
			calls: []call{{"RPC", []any{"nope", ""}}},
			want:  `{"error":{"code":104,"message":"method not found"}}`,
		},
		{
			name: "refresh",
			path: "/api/refresh",
			body: `{"user":"42","client":"c1","session":"s1","expired":true,"expire_at":"1700000000","info":{"x":1}}`,
			calls: []call{{"Refresh", []any{"42", node.RefreshOptions{Client: "c1", Session: "s1", Expired: true,
				ExpireAt: 1700000000, Info: []byte(`{"x":1}`)}}}},
			want: `{"result":{}}`,
		},
		{
			name: "refresh without user",
			path: "/api/refresh",
			body: `{"client":"c1"}`,
			want: `{"error":{"code":107,"message":"bad request"}}`,
		},
		{
			name: "channels",
			setup: func(f *fakeNode) {
				f.channels = map[string]node.ChannelInfo{"news": {NumClients: 2}, "chat:\"1\"": {NumClients: 1}}
			},
			path:  "/api/channels",
			body:  `{"pattern":"*"}`,
			calls: []call{{"Channels", []any{"*"}}},
			want:  `{"result":{"channels":{"chat:\"1\"":{"num_clients":1},"news":{"num_clients":2}}}}`,
		},
		{
			name:  "channels none",
			path:  "/api/channels",
			body:  `{}`,
			calls: []call{{"Channels", []any{""}}},
			want:  `{"result":{"channels":{}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeNode{}
			if tt.setup != nil {
				tt.setup(f)
			}
			h, _, _ := newTestAPI(t, f, HTTPOptions{})
			r := post(h, tt.path, tt.body)
			if r.status != http.StatusOK {
				t.Fatalf("status %d, body %q", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if r.body != tt.want {
				t.Errorf("reply\n got %s\nwant %s", r.body, tt.want)
			}
			if !json.Valid([]byte(r.body)) {
				t.Errorf("reply is not valid JSON: %s", r.body)
			}
			got := f.Calls()
			if tt.anyOrder {
				sortCalls(got)
				sortCalls(tt.calls)
			}
			if !reflect.DeepEqual(got, tt.calls) {
				t.Errorf("node calls\n got %v\nwant %v", got, tt.calls)
			}
		})
	}
}

func sortCalls(calls []call) {
	slices.SortFunc(calls, func(a, b call) int { return strings.Compare(a.String(), b.String()) })
}

func TestHTTPAuth(t *testing.T) {
	t.Parallel()
	const body = `{"channel":"c","data":{}}`
	tests := []struct {
		name   string
		opts   HTTPOptions
		path   string
		header []string
		want   int
	}{
		{"X-API-Key", HTTPOptions{Key: testKey}, "/api/publish", []string{"X-API-Key", testKey}, 200},
		{"Authorization apikey", HTTPOptions{Key: testKey}, "/api/publish", []string{"Authorization", "apikey " + testKey}, 200},
		{"Authorization scheme any case", HTTPOptions{Key: testKey}, "/api/publish", []string{"Authorization", "APIKey " + testKey}, 200},
		{"Authorization other scheme", HTTPOptions{Key: testKey}, "/api/publish", []string{"Authorization", "Bearer " + testKey}, 401},
		{"query param", HTTPOptions{Key: testKey}, "/api/publish?api_key=" + testKey, nil, 200},
		{"header wins over query", HTTPOptions{Key: testKey}, "/api/publish?api_key=" + testKey, []string{"X-API-Key", "wrong"}, 401},
		{"wrong key", HTTPOptions{Key: testKey}, "/api/publish", []string{"X-API-Key", "wrong"}, 401},
		{"key prefix", HTTPOptions{Key: testKey}, "/api/publish", []string{"X-API-Key", testKey[:4]}, 401},
		{"no key sent", HTTPOptions{Key: testKey}, "/api/publish", nil, 401},
		{"no key configured", HTTPOptions{}, "/api/publish", []string{"X-API-Key", ""}, 401},
		{"no key configured, key sent", HTTPOptions{}, "/api/publish", []string{"X-API-Key", "anything"}, 401},
		{"insecure", HTTPOptions{Insecure: true}, "/api/publish", nil, 200},
		{"insecure ignores wrong key", HTTPOptions{Insecure: true, Key: testKey}, "/api/publish", []string{"X-API-Key", "wrong"}, 200},
		{"legacy needs key", HTTPOptions{Key: testKey}, "/api", nil, 401},
		{"legacy with key", HTTPOptions{Key: testKey}, "/api", []string{"Authorization", "apikey " + testKey}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeNode{}
			logs := &logBuffer{}
			exec, err := NewExecutor(f, ExecutorConfig{Logger: newTestLogger(logs)})
			if err != nil {
				t.Fatal(err)
			}
			h := NewHTTPHandler(exec, tt.opts)
			b := body
			if tt.path == "/api" {
				b = `{"method":"publish","params":` + body + `}`
			}
			r := do(h, http.MethodPost, tt.path, b, tt.header...)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d (body %q)", r.status, tt.want, r.body)
			}
			if wantCalls := map[bool]int{true: 1, false: 0}[tt.want == 200]; len(f.Calls()) != wantCalls {
				t.Errorf("node calls %v", f.Calls())
			}
		})
	}
}

func TestHTTPLegacy(t *testing.T) {
	t.Parallel()
	f := &fakeNode{numClients: 1, numUsers: 1, publishResult: node.PublishResult{Offset: 3, Epoch: "e"}}
	h, _, _ := newTestAPI(t, f, HTTPOptions{})
	body := strings.Join([]string{
		`{"id":1,"method":"publish","params":{"channel":"a","data":{"x": 1}}}`,
		`{"id":2,"method":"PRESENCE_STATS","params":{"channel":"a"}}`,
		`  {"method":5,"params":{"channel":"b"}}  `,
		`{"id":4,"method":"info","params":[]}`,
		`{"id":5,"method":"nope","params":{}}`,
		`{"id":6,"method":14,"params":{}}`,
		`{"id":7,"method":"publish","params":{"channel":5}}`,
		`{"id":8,"method":"channels","params":[]}`,
		`{"id":9,"method":"disconnect","params":{"user":"u"}}`,
		`{"id":10,"method":"publish","params":{"channel":"a"}}`,
	}, "\n") + "\n"
	r := post(h, "/api", body)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	want := strings.Join([]string{
		`{"id":1,"result":{"offset":3,"epoch":"e"}}`,
		`{"id":2,"result":{"num_clients":1,"num_users":1}}`,
		`{"result":{"num_clients":1,"num_users":1}}`,
		`{"id":4,"result":{}}`,
		`{"id":5,"error":{"code":104,"message":"method not found"}}`,
		`{"id":6,"error":{"code":104,"message":"method not found"}}`,
		`{"id":7,"error":{"code":107,"message":"bad request"}}`,
		`{"id":8,"result":{"channels":{}}}`,
		`{"id":9,"result":{}}`,
		`{"id":10,"error":{"code":107,"message":"bad request"}}`,
	}, "\n")
	if r.body != want {
		t.Errorf("reply\n got %s\nwant %s", r.body, want)
	}
	wantCalls := []call{
		{"Publish", []any{"a", `{"x":1}`, node.PublishOptions{}}},
		{"PresenceStats", []any{"a"}},
		{"PresenceStats", []any{"b"}},
		{"Info", nil},
		{"Channels", []any{""}},
		{"Disconnect", []any{"u", node.DisconnectForceNoReconnect, node.DisconnectOptions{}}},
	}
	if got := f.Calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("node calls\n got %v\nwant %v", got, wantCalls)
	}
}

func TestHTTPLegacyMalformedRunsNothing(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		"",
		"   \n",
		`{"method":"publish","params":{"channel":"a","data":1}}` + "\n" + `{"method":`,
		`{"method":"publish","params":{"channel":"a","data":1}}` + "\nnot json",
		`[1,2]`,
		`{"method":{}}`,
	} {
		f := &fakeNode{}
		h, _, _ := newTestAPI(t, f, HTTPOptions{})
		r := post(h, "/api", body)
		if r.status != http.StatusBadRequest {
			t.Errorf("body %q: status %d, want 400", body, r.status)
		}
		if calls := f.Calls(); len(calls) != 0 {
			t.Errorf("body %q: node called: %v", body, calls)
		}
	}
}

func TestHTTPBatch(t *testing.T) {
	t.Parallel()
	body := `{"commands":[` +
		`{"publish":{"channel":"a","data":{"n":1}}},` +
		`{"id":7,"presence_stats":{"channel":"b"}},` +
		`{"publish":{"channel":"x:unknown","data":{}}},` +
		`{"method":"history_remove","params":{"channel":"c"}},` +
		`{"method":"rpc","params":{"method":"m","params":[1]}},` +
		`{},` +
		`{"info":{}},` +
		`{"subscribe":{"channel":"a"}}` +
		`]}`
	want := `{"replies":[{"publish":{}},{"id":7,"presence_stats":{"num_clients":0,"num_users":0}},` +
		`{"error":{"code":102,"message":"unknown channel"}},{"history_remove":{}},{"rpc":{"data":[1]}},` +
		`{"error":{"code":104,"message":"method not found"}},{"info":{}},{"error":{"code":107,"message":"bad request"}}]}`
	wantCalls := []call{
		{"Publish", []any{"a", `{"n":1}`, node.PublishOptions{}}},
		{"PresenceStats", []any{"b"}},
		{"Publish", []any{"x:unknown", `{}`, node.PublishOptions{}}},
		{"RemoveHistory", []any{"c"}},
		{"RPC", []any{"m", "[1]"}},
		{"Info", nil},
	}
	f := &fakeNode{errs: map[string]error{"Publish:x:unknown": node.ErrorUnknownChannel}}
	h, _, _ := newTestAPI(t, f, HTTPOptions{})
	r := post(h, "/api/batch", body)
	if r.status != 200 || r.body != want {
		t.Errorf("status %d reply\n got %s\nwant %s", r.status, r.body, want)
	}
	if got := f.Calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("sequential batch must call in order\n got %v\nwant %v", got, wantCalls)
	}

	// The same batch in parallel gives the same replies in the same order.
	f = &fakeNode{errs: map[string]error{"Publish:x:unknown": node.ErrorUnknownChannel}}
	h, _, _ = newTestAPI(t, f, HTTPOptions{})
	r = post(h, "/api/batch", strings.Replace(body, `{"commands"`, `{"parallel":true,"commands"`, 1))
	if r.status != 200 || r.body != want {
		t.Errorf("parallel: status %d reply\n got %s\nwant %s", r.status, r.body, want)
	}
	if got := f.Calls(); len(got) != len(wantCalls) {
		t.Errorf("parallel: node calls %v", got)
	}
}

func TestHTTPBatchParallelIsConcurrent(t *testing.T) {
	t.Parallel()
	const n = 4
	f := &fakeNode{barrier: newBarrier(n)}
	h, _, _ := newTestAPI(t, f, HTTPOptions{})
	var cmds []string
	for i := range n {
		cmds = append(cmds, fmt.Sprintf(`{"publish":{"channel":"c%d","data":%d}}`, i, i))
	}
	r := post(h, "/api/batch", `{"parallel":true,"commands":[`+strings.Join(cmds, ",")+`]}`)
	want := `{"replies":[` + strings.Repeat(`{"publish":{}},`, n-1) + `{"publish":{}}]}`
	if r.status != 200 || r.body != want {
		t.Errorf("status %d reply\n got %s\nwant %s", r.status, r.body, want)
	}
}

func TestHTTPBroadcastIsConcurrent(t *testing.T) {
	t.Parallel()
	f := &fakeNode{barrier: newBarrier(3)}
	h, _, _ := newTestAPI(t, f, HTTPOptions{})
	r := post(h, "/api/broadcast", `{"channels":["a","b","c"],"data":1}`)
	want := `{"result":{"responses":[{"result":{}},{"result":{}},{"result":{}}]}}`
	if r.status != 200 || r.body != want {
		t.Errorf("status %d reply\n got %s\nwant %s", r.status, r.body, want)
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantCode   uint32
		wantMsg    string
		wantStatus int
	}{
		{"internal", node.ErrorInternal, 100, "internal server error", 500},
		{"unknown channel", node.ErrorUnknownChannel, 102, "unknown channel", 404},
		{"method not found", node.ErrorMethodNotFound, 104, "method not found", 404},
		{"bad request", node.ErrorBadRequest, 107, "bad request", 400},
		{"not available", node.ErrorNotAvailable, 108, "not available", 400},
		{"unrecoverable position", node.ErrorUnrecoverablePosition, 112, "unrecoverable position", 416},
		{"conflict", node.ErrorConflict, 113, "conflict", 409},
		{"application code", &node.Error{Code: 1000, Message: "custom"}, 1000, "custom", 500},
		{"wrapped node error", fmt.Errorf("history: %w", node.ErrorNotAvailable), 108, "not available", 400},
		{"plain error", errors.New("redis: dial tcp 10.0.0.7:6379: secret-detail"), 100, "internal server error", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeNode{errs: map[string]error{"History": tt.err}}
			wantBody := fmt.Sprintf(`{"code":%d,"message":%q}`, tt.wantCode, tt.wantMsg)

			h, _, logs := newTestAPI(t, f, HTTPOptions{})
			r := post(h, "/api/history", `{"channel":"c"}`)
			if r.status != 200 || r.body != `{"error":`+wantBody+`}` {
				t.Errorf("in-band: status %d body %s", r.status, r.body)
			}
			if strings.Contains(r.body, "secret") {
				t.Errorf("internal error text leaked: %s", r.body)
			}
			if tt.wantCode == 100 && !strings.Contains(logs.String(), "api: call failed") {
				t.Errorf("internal error not logged: %q", logs.String())
			}
			if tt.name == "plain error" && !strings.Contains(logs.String(), "secret-detail") {
				t.Errorf("internal error text should be logged: %q", logs.String())
			}

			// Transport mode by header.
			r = post(h, "/api/history", `{"channel":"c"}`, "X-Centrifugo-Error-Mode", "transport")
			if r.status != tt.wantStatus || r.body != wantBody {
				t.Errorf("transport header: status %d body %s, want %d %s", r.status, r.body, tt.wantStatus, wantBody)
			}

			// Transport mode by option.
			h, _, _ = newTestAPI(t, f, HTTPOptions{ErrorMode: "transport"})
			r = post(h, "/api/history", `{"channel":"c"}`)
			if r.status != tt.wantStatus || r.body != wantBody {
				t.Errorf("transport option: status %d body %s, want %d %s", r.status, r.body, tt.wantStatus, wantBody)
			}
		})
	}
}

func TestHTTPTransportModeLeavesSuccessAndBatchAlone(t *testing.T) {
	t.Parallel()
	f := &fakeNode{errs: map[string]error{"Publish:bad": node.ErrorUnknownChannel}}
	h, _, _ := newTestAPI(t, f, HTTPOptions{ErrorMode: ErrorModeTransport})
	if r := post(h, "/api/publish", `{"channel":"ok","data":1}`); r.status != 200 || r.body != `{"result":{}}` {
		t.Errorf("success: %d %s", r.status, r.body)
	}
	if r := post(h, "/api/publish", `{"channel":"ok"}`); r.status != 400 || r.body != `{"code":107,"message":"bad request"}` {
		t.Errorf("bad request: %d %s", r.status, r.body)
	}
	r := post(h, "/api/batch", `{"commands":[{"publish":{"channel":"bad","data":1}}]}`)
	if r.status != 200 || r.body != `{"replies":[{"error":{"code":102,"message":"unknown channel"}}]}` {
		t.Errorf("batch: %d %s", r.status, r.body)
	}
	r = post(h, "/api/broadcast", `{"channels":["bad"],"data":1}`)
	if r.status != 200 || r.body != `{"result":{"responses":[{"error":{"code":102,"message":"unknown channel"}}]}}` {
		t.Errorf("broadcast: %d %s", r.status, r.body)
	}
	r = post(h, "/api", `{"method":"publish","params":{"channel":"bad","data":1}}`)
	if r.status != 200 || r.body != `{"error":{"code":102,"message":"unknown channel"}}` {
		t.Errorf("legacy: %d %s", r.status, r.body)
	}
}

func TestHTTPNodePanicIsInternalError(t *testing.T) {
	t.Parallel()
	f := &fakeNode{panics: "Publish"}
	h, _, logs := newTestAPI(t, f, HTTPOptions{})
	r := post(h, "/api/publish", `{"channel":"c","data":1}`)
	if r.status != 200 || r.body != `{"error":{"code":100,"message":"internal server error"}}` {
		t.Errorf("publish: %d %s", r.status, r.body)
	}
	r = post(h, "/api/broadcast", `{"channels":["a","b"],"data":1}`)
	want := `{"result":{"responses":[{"error":{"code":100,"message":"internal server error"}},` +
		`{"error":{"code":100,"message":"internal server error"}}]}}`
	if r.status != 200 || r.body != want {
		t.Errorf("broadcast: %d %s", r.status, r.body)
	}
	if !strings.Contains(logs.String(), "api: panic") {
		t.Errorf("panic not logged")
	}
}

func TestHTTPStatuses(t *testing.T) {
	t.Parallel()
	big := `{"channel":"c","data":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		want   int
	}{
		{"unknown method", "POST", "/api/nope", `{}`, 404},
		{"nested path", "POST", "/api/publish/x", `{}`, 404},
		{"trailing slash", "POST", "/api/", `{}`, 404},
		{"outside prefix", "POST", "/other/publish", `{}`, 404},
		{"prefix as part of a word", "POST", "/apix", `{}`, 404},
		{"GET method", "GET", "/api/publish", ``, 405},
		{"PUT legacy", "PUT", "/api", `{}`, 405},
		{"too big", "POST", "/api/publish", big, 413},
		{"too big legacy", "POST", "/api", big, 413},
		{"malformed", "POST", "/api/publish", `{"channel":`, 400},
		{"wrong type", "POST", "/api/publish", `{"channel":5,"data":1}`, 400},
		{"trailing garbage", "POST", "/api/publish", `{"channel":"c","data":1} x`, 400},
		{"not an object", "POST", "/api/presence", `"c"`, 400},
		{"bad since offset", "POST", "/api/history", `{"channel":"c","since":{"offset":-1}}`, 400},
		{"malformed batch", "POST", "/api/batch", `{"commands":{}}`, 400},
		{"ok", "POST", "/api/publish", `{"channel":"c","data":1}`, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeNode{}
			h, _, _ := newTestAPI(t, f, HTTPOptions{MaxBodySize: 1024})
			r := do(h, tt.method, tt.path, tt.body, "X-API-Key", testKey)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d (body %q)", r.status, tt.want, r.body)
			}
			if tt.want == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow %q", r.header.Get("Allow"))
			}
			if tt.want != 200 && len(f.Calls()) != 0 {
				t.Errorf("node called: %v", f.Calls())
			}
		})
	}
}

func TestHTTPBodyTooBigWithoutContentLength(t *testing.T) {
	t.Parallel()
	f := &fakeNode{}
	h, _, _ := newTestAPI(t, f, HTTPOptions{MaxBodySize: 64})
	req := newChunkedRequest("/api/publish", `{"channel":"c","data":"`+strings.Repeat("y", 100)+`"}`)
	r := serve(h, req)
	if r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d", r.status)
	}
}

func TestHTTPPrefix(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		prefix, path string
		want         int
	}{
		{"/custom/api/", "/custom/api/publish", 200},
		{"/custom/api/", "/custom/api", 200},
		{"/custom/api/", "/api/publish", 404},
		{"custom", "/custom/publish", 200},
		{"/", "/publish", 200},
		{"/", "/", 200},
	} {
		f := &fakeNode{}
		h, _, _ := newTestAPI(t, f, HTTPOptions{Prefix: tt.prefix})
		body := `{"channel":"c","data":1}`
		if !strings.HasSuffix(tt.path, "publish") {
			body = `{"method":"publish","params":` + body + `}`
		}
		if r := post(h, tt.path, body); r.status != tt.want {
			t.Errorf("prefix %q path %q: status %d, want %d (%s)", tt.prefix, tt.path, r.status, tt.want, r.body)
		}
	}
}
