package node

import (
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/protocol"
)

func TestSubStateMerge(t *testing.T) {
	t.Parallel()
	pub := func(o uint64) *Publication { return &Publication{Offset: o} }
	buf := func(epoch string, offs ...uint64) []bufferedPub {
		var out []bufferedPub
		for _, o := range offs {
			out = append(out, bufferedPub{pub: pub(o), epoch: epoch})
		}
		return out
	}
	cases := []struct {
		name string
		st   subState
		buf  []bufferedPub
		want []uint64
		last uint64
		ok   bool
	}{
		{"nothing buffered", subState{sp: StreamPosition{5, "e"}, pubs: []*Publication{pub(4), pub(5)}}, nil, []uint64{4, 5}, 5, true},
		{"buffered after history", subState{sp: StreamPosition{5, "e"}, pubs: []*Publication{pub(5)}}, buf("e", 6, 7), []uint64{5, 6, 7}, 7, true},
		{"duplicates skipped", subState{sp: StreamPosition{5, "e"}, pubs: []*Publication{pub(4), pub(5)}}, buf("e", 4, 5, 6), []uint64{4, 5, 6}, 6, true},
		{"position only", subState{sp: StreamPosition{5, "e"}}, buf("e", 5, 6), []uint64{6}, 6, true},
		{"gap", subState{sp: StreamPosition{5, "e"}}, buf("e", 7), nil, 0, false},
		{"other epoch", subState{sp: StreamPosition{5, "e"}}, buf("f", 6), nil, 0, false},
		{"overflow", subState{sp: StreamPosition{5, "e"}}, []bufferedPub{{}}, nil, 0, false},
		{"without offset kept in order", subState{sp: StreamPosition{5, "e"}}, append(buf("e", 6), bufferedPub{pub: pub(0)}), []uint64{6, 0}, 6, true},
	}
	for _, tc := range cases {
		pubs, last, ok := tc.st.merge(tc.buf)
		var got []uint64
		for _, p := range pubs {
			got = append(got, p.Offset)
		}
		if ok != tc.ok || (ok && (last != tc.last || !slices.Equal(got, tc.want))) {
			t.Errorf("%s: got %v last %d ok %v, want %v last %d ok %v", tc.name, got, last, ok, tc.want, tc.last, tc.ok)
		}
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	tags := map[string]string{"ticker": "AAPL", "price": "120.5", "src": "NASDAQ"}
	leaf := func(key, cmp, val string, vals ...string) *protocol.FilterNode {
		return &protocol.FilterNode{Key: key, Cmp: cmp, Val: val, Vals: vals}
	}
	cases := []struct {
		f    *protocol.FilterNode
		want bool
	}{
		{leaf("ticker", "eq", "AAPL"), true},
		{leaf("ticker", "eq", "MSFT"), false},
		{leaf("missing", "eq", ""), false},
		{leaf("ticker", "neq", "MSFT"), true},
		{leaf("missing", "neq", "x"), true},
		{leaf("ticker", "in", "", "MSFT", "AAPL"), true},
		{leaf("ticker", "nin", "", "MSFT", "AAPL"), false},
		{leaf("price", "ex", ""), true},
		{leaf("missing", "nex", ""), true},
		{leaf("src", "sw", "NAS"), true},
		{leaf("src", "ew", "DAQ"), true},
		{leaf("src", "ct", "SDA"), true},
		{leaf("price", "gt", "100"), true},
		{leaf("price", "gte", "120.5"), true},
		{leaf("price", "lt", "120.5"), false},
		{leaf("price", "lte", "99"), false},
		{leaf("ticker", "gt", "1"), false},
		{&protocol.FilterNode{Op: "and", Nodes: []*protocol.FilterNode{leaf("ticker", "eq", "AAPL"), leaf("price", "gt", "100")}}, true},
		{&protocol.FilterNode{Op: "and", Nodes: []*protocol.FilterNode{leaf("ticker", "eq", "AAPL"), leaf("price", "gt", "200")}}, false},
		{&protocol.FilterNode{Op: "or", Nodes: []*protocol.FilterNode{leaf("ticker", "eq", "X"), leaf("src", "eq", "NASDAQ")}}, true},
		{&protocol.FilterNode{Op: "not", Nodes: []*protocol.FilterNode{leaf("ticker", "eq", "AAPL")}}, false},
	}
	for i, tc := range cases {
		if err := validateFilter(tc.f); err != nil {
			t.Errorf("case %d: valid filter refused: %v", i, err)
		}
		if got := filterMatch(tc.f, tags); got != tc.want {
			t.Errorf("case %d (%v): match %v, want %v", i, tc.f, got, tc.want)
		}
	}
	deep := leaf("a", "eq", "b")
	for i := 0; i < maxFilterDepth+1; i++ {
		deep = &protocol.FilterNode{Op: "not", Nodes: []*protocol.FilterNode{deep}}
	}
	for i, bad := range []*protocol.FilterNode{
		leaf("", "eq", "x"),
		leaf("a", "like", "x"),
		leaf("a", "gt", "not a number"),
		{Op: "xor"},
		{Op: "not"},
		{Op: "and", Nodes: []*protocol.FilterNode{nil}},
		deep,
	} {
		if validateFilter(bad) == nil {
			t.Errorf("bad filter %d accepted", i)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{``, `{"a":"b\"c"}`, "line\nbreak\ttab\r\x01\x1f", "unicode é ✓ \u2028 \u2029 😀", `back\slash`} {
		b := appendJSONString(nil, []byte(s))
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encoded as %s: %v", s, b, err)
		}
		if got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	}
}

// TestSubRefreshProxy: a subscription whose expiry came from the subscribe
// proxy is extended through the sub_refresh proxy, never by the client, and
// ends with 2501 when the backend says it expired.
func TestSubRefreshProxy(t *testing.T) {
	t.Parallel()
	var refreshes atomic.Int32
	p := &funcProxy{
		subscribe: func(r *ProxySubscribeRequest) (*ProxySubscribeResult, error) {
			return &ProxySubscribeResult{ExpireAt: time.Now().Unix() + 1}, nil
		},
		subRefresh: func(r *ProxySubRefreshRequest) (*ProxySubRefreshResult, error) {
			if refreshes.Add(1) >= 2 {
				return &ProxySubRefreshResult{Expired: true}, nil
			}
			return &ProxySubRefreshResult{ExpireAt: time.Now().Unix() + 1}, nil
		},
	}
	n := proxyNode(t, p, nil)
	c, tr := connectWithToken(t, n, "1")
	c.HandleFrame([]byte(`{"id":2,"subscribe":{"channel":"a"}}`))
	r := tr.reply(t)
	if r.Subscribe == nil || r.Subscribe.Expires {
		t.Fatalf("subscribe = %v (the server refreshes, the client must not be asked to)", r)
	}
	r = tr.reply(t)
	if r.Push == nil || r.Push.Unsubscribe == nil || r.Push.Unsubscribe.Code != 2501 || refreshes.Load() != 2 {
		t.Fatalf("push = %v after %d refreshes", r, refreshes.Load())
	}
	if c.isSubscribed("a") {
		t.Fatal("still subscribed")
	}
}
