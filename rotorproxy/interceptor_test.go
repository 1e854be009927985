package rotorproxy

import (
	"context"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rotorhq/rotor/proxyproto"
)

// recorder collects the steps of calls in order.
type recorder struct {
	mu    sync.Mutex
	steps []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.steps = append(r.steps, s)
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.steps
	r.steps = nil
	return s
}

// named is an interceptor that records when it enters and leaves.
func named(rec *recorder, name string) Interceptor {
	return func(ctx context.Context, req Request, info *Info, next Handler) (Result, error) {
		rec.add(name + ">")
		res, err := next(ctx, req)
		rec.add("<" + name)
		return res, err
	}
}

func TestInterceptorOrder(t *testing.T) {
	h := newHarness(t)
	rec := &recorder{}
	h.srv.OnConnect(func(context.Context, *ConnectRequest) (*ConnectResult, error) {
		rec.add("connect")
		return &ConnectResult{}, nil
	})
	h.srv.OnSubscribe(func(context.Context, *SubscribeRequest) (*SubscribeResult, error) {
		rec.add("subscribe")
		return &SubscribeResult{}, nil
	})
	h.srv.OnSubRefresh(func(context.Context, *SubRefreshRequest) (*SubRefreshResult, error) {
		rec.add("sub_refresh")
		return &SubRefreshResult{}, nil
	})
	// Registered interleaved on purpose: per-type ones before and between
	// "*" ones still run after every "*" one.
	must(t, h.srv.Use("connect", named(rec, "conn1")))
	must(t, h.srv.Use("*", named(rec, "star1"), named(rec, "star2")))
	must(t, h.srv.Use("connect", named(rec, "conn2")))
	must(t, h.srv.Use("*", named(rec, "star3")))
	must(t, h.srv.Use("subrefresh", named(rec, "subref")))

	h.forEachWire(t, func(t *testing.T, w wire) {
		if err := w.call(testCtx(t), "Connect", connectReq(""), &proxyproto.ConnectResponse{}, nil); err != nil {
			t.Fatal(err)
		}
		want := []string{"star1>", "star2>", "star3>", "conn1>", "conn2>", "connect", "<conn2", "<conn1", "<star3", "<star2", "<star1"}
		if got := rec.take(); !reflect.DeepEqual(got, want) {
			t.Errorf("connect steps:\n got %v\nwant %v", got, want)
		}

		if err := w.call(testCtx(t), "Subscribe", &proxyproto.SubscribeRequest{Channel: "c"}, &proxyproto.SubscribeResponse{}, nil); err != nil {
			t.Fatal(err)
		}
		want = []string{"star1>", "star2>", "star3>", "subscribe", "<star3", "<star2", "<star1"}
		if got := rec.take(); !reflect.DeepEqual(got, want) {
			t.Errorf("subscribe steps:\n got %v\nwant %v", got, want)
		}

		if err := w.call(testCtx(t), "SubRefresh", &proxyproto.SubRefreshRequest{Channel: "c"}, &proxyproto.SubRefreshResponse{}, nil); err != nil {
			t.Fatal(err)
		}
		want = []string{"star1>", "star2>", "star3>", "subref>", "sub_refresh", "<subref", "<star3", "<star2", "<star1"}
		if got := rec.take(); !reflect.DeepEqual(got, want) {
			t.Errorf("sub_refresh steps:\n got %v\nwant %v", got, want)
		}
	})
}

func TestInterceptorInfo(t *testing.T) {
	h := newHarness(t)
	h.srv.OnPublish(func(context.Context, *PublishRequest) (*PublishResult, error) { return &PublishResult{}, nil })
	infos := make(chan Info, 1)
	must(t, h.srv.Use("*", func(ctx context.Context, req Request, info *Info, next Handler) (Result, error) {
		infos <- *info
		return next(ctx, req)
	}))
	h.forEachWire(t, func(t *testing.T, w wire) {
		if err := w.call(testCtx(t), "Publish", &proxyproto.PublishRequest{Channel: "c"}, &proxyproto.PublishResponse{}, nil); err != nil {
			t.Fatal(err)
		}
		if got := <-infos; got != (Info{Type: TypePublish, Wire: w.name}) {
			t.Errorf("info = %+v", got)
		}
	})
}

const attrUserID = "user_id"

// authInterceptor is the seed's AuthInterceptor: the token comes in the
// request data as authToken; a known token puts the user id in an
// attribute, anything else is refused without calling next.
func authInterceptor(tokens map[string]string) Interceptor {
	return func(ctx context.Context, req Request, info *Info, next Handler) (Result, error) {
		var d struct {
			AuthToken string `json:"authToken"`
		}
		if err := req.Bind(&d); err != nil {
			return nil, err
		}
		uid, ok := tokens[d.AuthToken]
		if !ok {
			return nil, ErrUnauthorized
		}
		return next(ctx, req.WithAttribute(attrUserID, uid))
	}
}

func TestAuthInterceptor(t *testing.T) {
	h := newHarness(t)
	var calls atomic.Int32
	h.srv.OnConnect(func(_ context.Context, r *ConnectRequest) (*ConnectResult, error) {
		calls.Add(1)
		uid, _ := r.Attribute(attrUserID).(string)
		return &ConnectResult{User: uid}, nil
	})
	h.srv.OnRPC(func(_ context.Context, r *RPCRequest) (*RPCResult, error) {
		calls.Add(1)
		return &RPCResult{Data: []byte(`"` + r.Attribute(attrUserID).(string) + `"`)}, nil
	})
	auth := authInterceptor(map[string]string{"good": "42"})
	must(t, h.srv.Use("connect", auth))
	must(t, h.srv.Use("rpc", auth))

	h.forEachWire(t, func(t *testing.T, w wire) {
		calls.Store(0)
		out := &proxyproto.ConnectResponse{}
		if err := w.call(testCtx(t), "Connect", connectReq(`{"authToken":"good"}`), out, nil); err != nil {
			t.Fatal(err)
		}
		if out.Result.GetUser() != "42" || out.Error != nil {
			t.Errorf("good token: %v, want user 42", out)
		}

		for _, data := range []string{`{"authToken":"bad"}`, ``} {
			out = &proxyproto.ConnectResponse{}
			if err := w.call(testCtx(t), "Connect", connectReq(data), out, nil); err != nil {
				t.Fatal(err)
			}
			wantError(t, out.Error, 101, "unauthorized", false)
			if out.Result != nil {
				t.Errorf("refused call has a result: %v", out.Result)
			}
		}
		out = &proxyproto.ConnectResponse{}
		if err := w.call(testCtx(t), "Connect", connectReq(`[1]`), out, nil); err != nil {
			t.Fatal(err)
		}
		wantError(t, out.Error, 107, "bad request", false)

		rout := &proxyproto.RPCResponse{}
		if err := w.call(testCtx(t), "RPC", &proxyproto.RPCRequest{Method: "me", Data: []byte(`{"authToken":"good"}`)}, rout, nil); err != nil {
			t.Fatal(err)
		}
		if string(rout.Result.GetData()) != `"42"` {
			t.Errorf("rpc result = %v, want the attribute", rout)
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("services called %d times, want 2 (refused calls must not reach them)", n)
		}
	})
}

func TestWithAttributeCopies(t *testing.T) {
	orig := &SubscribeRequest{Common: Common{Client: "c"}, Channel: "ch"}
	a := orig.WithAttribute("k", 1)
	b := a.WithAttribute("k", 2).WithAttribute("other", "x")
	if orig.Attribute("k") != nil || len(orig.Attributes()) != 0 {
		t.Errorf("original changed: %v", orig.Attributes())
	}
	if a.Attribute("k") != 1 || a.Attribute("other") != nil {
		t.Errorf("a = %v", a.Base().Attributes())
	}
	if b.Attribute("k") != 2 || b.Attribute("other") != "x" {
		t.Errorf("b = %v", b.Base().Attributes())
	}
	if got := b.Base().Attributes(); !reflect.DeepEqual(got, map[string]any{"k": 2, "other": "x"}) {
		t.Errorf("Attributes() = %v", got)
	}
	sb, ok := b.(*SubscribeRequest)
	if !ok || sb.Channel != "ch" || sb.Client != "c" || sb == orig {
		t.Errorf("copy = %#v", b)
	}
}

func TestUseRejectsUnknownTypes(t *testing.T) {
	srv, err := New()
	if err != nil {
		t.Fatal(err)
	}
	noop := func(ctx context.Context, req Request, _ *Info, next Handler) (Result, error) { return next(ctx, req) }
	for _, name := range []string{"conect", "", "Connect", "sub-refresh", "**", "notifycacheempty"} {
		if err := srv.Use(name, noop); err == nil {
			t.Errorf("Use(%q) succeeded", name)
		}
	}
	for _, name := range []string{"connect", "refresh", "subscribe", "publish", "rpc", "sub_refresh", "subrefresh", "*"} {
		if err := srv.Use(name, noop); err != nil {
			t.Errorf("Use(%q): %v", name, err)
		}
	}
	if err := srv.Use("rpc", noop, nil); err == nil {
		t.Error("Use with a nil interceptor succeeded")
	}
	// A failed Use registers nothing.
	if got := len(srv.table.Load().typed[idxRPC]); got != 1 {
		t.Errorf("rpc has %d interceptors, want 1", got)
	}
}

// An interceptor that answers with a result of another type is answered as
// an internal error.
func TestInterceptorWrongResultType(t *testing.T) {
	h := newHarness(t)
	must(t, h.srv.Use("connect", func(context.Context, Request, *Info, Handler) (Result, error) {
		return &RPCResult{}, nil
	}))
	out := &proxyproto.ConnectResponse{}
	if err := h.wires()[0].call(testCtx(t), "Connect", connectReq(""), out, nil); err != nil {
		t.Fatal(err)
	}
	wantError(t, out.Error, 100, "internal server error", true)
	h.log.waitLog(t, "result of another type")
}

func TestChainZeroAndOne(t *testing.T) {
	if chainInterceptors(nil) != nil {
		t.Error("no interceptors must give nil")
	}
	called := false
	one := func(ctx context.Context, req Request, info *Info, next Handler) (Result, error) {
		called = true
		return next(ctx, req)
	}
	ic := chainInterceptors([]Interceptor{one})
	if reflect.ValueOf(ic).Pointer() != reflect.ValueOf(Interceptor(one)).Pointer() {
		t.Error("a single interceptor must be used as it is")
	}
	if _, err := ic(t.Context(), &RPCRequest{}, &Info{}, func(context.Context, Request) (Result, error) { return &RPCResult{}, nil }); err != nil || !called {
		t.Errorf("err %v called %v", err, called)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
