package rotorproxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/proxyproto"
)

// slack is how late past its deadline an answer may arrive in these tests
// (scheduling under the race detector included).
const slack = 300 * time.Millisecond

// Handlers that misbehave are answered with 100 internal server error
// (temporary) and a log line, within the deadline.
func TestEveryCallIsAnswered(t *testing.T) {
	const (
		// The deadline a gRPC caller sends (Centrifugo's default proxy
		// timeout); the server has no handler timeout of its own here.
		callerDeadline = time.Second
		// The handler timeout of the HTTP server: the HTTP proxy sends no
		// deadline.
		handlerTimeout = 400 * time.Millisecond
	)
	for _, c := range []struct {
		wire  string
		opt   Option
		limit time.Duration // when the answer must be in
	}{
		{"grpc", WithHandlerTimeout(0), callerDeadline}, // the answer must beat the caller's own deadline
		{"http", WithHandlerTimeout(handlerTimeout), handlerTimeout + slack},
	} {
		t.Run(c.wire, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, c.opt)
			w := h.wires()[0]
			if c.wire == "http" {
				w = h.wires()[1]
			}
			release := make(chan struct{})
			t.Cleanup(func() { close(release) }) // lets the stuck handlers return before shutdown
			h.srv.OnRPC(func(ctx context.Context, r *RPCRequest) (*RPCResult, error) {
				switch r.Method {
				case "nothing":
					return nil, nil
				case "panic":
					panic("boom in " + r.Method)
				case "sleep":
					<-release // ignores ctx on purpose
					return &RPCResult{}, nil
				case "sleep-ctx":
					<-ctx.Done()
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("unexpected method %q", r.Method)
			})
			for _, m := range []struct {
				method string
				log    string
			}{
				{"nothing", "neither a result nor an error"},
				{"panic", "boom in panic"},
				{"sleep", "did not answer before the deadline"},
				{"sleep-ctx", "answered 100 internal server error"}, // either log line, whichever wins the race
			} {
				t.Run(m.method, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
					defer cancel()
					if c.wire == "grpc" {
						ctx, cancel = context.WithTimeout(t.Context(), callerDeadline)
						defer cancel()
					}
					start := time.Now()
					out := &proxyproto.RPCResponse{}
					if err := w.call(ctx, "RPC", &proxyproto.RPCRequest{Client: "cl-" + m.method, Method: m.method}, out, nil); err != nil {
						t.Fatalf("call failed instead of an error reply: %v", err)
					}
					elapsed := time.Since(start)
					wantError(t, out.Error, 100, "internal server error", true)
					if elapsed > c.limit {
						t.Errorf("answered after %v, want within %v", elapsed, c.limit)
					}
					h.log.waitLog(t, m.log, "client=cl-"+m.method, "method="+m.method, "wire="+c.wire)
				})
			}
		})
	}
}

// A caller deadline shorter than the margin still gets an answer rather
// than a hang, and a handler that answers in time is not cut short.
func TestDeadlineMargin(t *testing.T) {
	h := newHarness(t, WithHandlerTimeout(0))
	h.srv.OnRPC(func(ctx context.Context, r *RPCRequest) (*RPCResult, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("no deadline")
		}
		return &RPCResult{Data: []byte(fmt.Sprintf("%d", time.Until(d).Milliseconds()))}, nil
	})
	w := h.wires()[0]
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	out := &proxyproto.RPCResponse{}
	if err := w.call(ctx, "RPC", &proxyproto.RPCRequest{Method: "m"}, out, nil); err != nil {
		t.Fatal(err)
	}
	var left int
	if _, err := fmt.Sscan(string(out.Result.GetData()), &left); err != nil {
		t.Fatalf("result %v: %v", out, err)
	}
	// 2 s less the 100 ms margin (and the time to get here).
	if left > 1900 || left < 1500 {
		t.Errorf("handler deadline %d ms ahead, want about 1900", left)
	}
}

func TestErrorMapping(t *testing.T) {
	h := newHarness(t)
	h.srv.OnRPC(func(ctx context.Context, r *RPCRequest) (*RPCResult, error) {
		switch r.Method {
		case "error":
			return nil, &Error{Code: 1001, Message: "seat taken", Temporary: true}
		case "wrapped-error":
			return nil, fmt.Errorf("reserve: %w", &Error{Code: 1002, Message: "sold out"})
		case "disconnect":
			return nil, &Disconnect{Code: 4501, Reason: "banned"}
		case "wrapped-disconnect":
			return nil, fmt.Errorf("x: %w", &Disconnect{Code: 4001, Reason: "go away"})
		case "foreign":
			return nil, errors.New("pq: password authentication failed for user \"cinema\"")
		case "result-and-error":
			return &RPCResult{Data: []byte(`1`)}, &Error{Code: 1003, Message: "error wins"}
		}
		return nil, ErrMethodNotFound
	})
	h.forEachWire(t, func(t *testing.T, w wire) {
		call := func(method string) *proxyproto.RPCResponse {
			t.Helper()
			out := &proxyproto.RPCResponse{}
			if err := w.call(testCtx(t), "RPC", &proxyproto.RPCRequest{Method: method}, out, nil); err != nil {
				t.Fatal(err)
			}
			return out
		}
		wantError(t, call("error").Error, 1001, "seat taken", true)
		wantError(t, call("wrapped-error").Error, 1002, "sold out", false)
		wantError(t, call("result-and-error").Error, 1003, "error wins", false)
		for method, want := range map[string]*proxyproto.Disconnect{
			"disconnect":         {Code: 4501, Reason: "banned"},
			"wrapped-disconnect": {Code: 4001, Reason: "go away"},
		} {
			out := call(method)
			if out.Disconnect.GetCode() != want.Code || out.Disconnect.GetReason() != want.Reason || out.Error != nil || out.Result != nil {
				t.Errorf("%s: %v, want disconnect %v", method, out, want)
			}
		}
		out := call("foreign")
		wantError(t, out.Error, 100, "internal server error", true)
		if strings.Contains(out.String(), "password") {
			t.Errorf("the handler's error text leaked: %v", out)
		}
		h.log.waitLog(t, "handler failed", "password authentication failed", "wire="+w.name)
	})
}

// A request type without a service is answered in-band (the gRPC call
// succeeds) with 501, and a warning is logged once.
func TestNoService(t *testing.T) {
	h := newHarness(t)
	h.forEachWire(t, func(t *testing.T, w wire) {
		for range 2 {
			out := &proxyproto.SubscribeResponse{}
			if err := w.call(testCtx(t), "Subscribe", &proxyproto.SubscribeRequest{Channel: "c"}, out, nil); err != nil {
				t.Fatalf("call failed: %v", err)
			}
			wantError(t, out.Error, 501, "not implemented", false)
		}
	})
	h.log.waitLog(t, "WARN", "no service registered", "type=subscribe")
	if n := strings.Count(h.log.all(), "no service registered"); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
}
