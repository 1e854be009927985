package rotorproxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/rotorhq/rotor/proxyproto"
)

type screening struct {
	ID    int      `json:"id"`
	Seats []string `json:"seats"`
}

func TestRPCRouting(t *testing.T) {
	h := newHarness(t)
	must(t, h.srv.HandleRPC("cinema.schedule", func(context.Context, *RPCRequest) (*RPCResult, error) {
		return &RPCResult{Data: []byte(`["Alien","Heat"]`)}, nil
	}))
	must(t, h.srv.HandleRPC("cinema.screening", RPCJSON(func(_ context.Context, _ *RPCRequest, in struct{ ID int }) (screening, error) {
		if in.ID != 7 {
			return screening{}, &Error{Code: 404, Message: "no such screening"}
		}
		return screening{ID: 7, Seats: []string{"A1"}}, nil
	})))
	if err := h.srv.HandleRPC("cinema.schedule", func(context.Context, *RPCRequest) (*RPCResult, error) { return nil, nil }); err == nil {
		t.Error("a second route for a method was accepted")
	}
	if err := h.srv.HandleRPC("", func(context.Context, *RPCRequest) (*RPCResult, error) { return nil, nil }); err == nil {
		t.Error("an empty method was accepted")
	}
	if err := h.srv.HandleRPC("x", nil); err == nil {
		t.Error("a nil handler was accepted")
	}

	h.forEachWire(t, func(t *testing.T, w wire) {
		call := func(method, data string) *proxyproto.RPCResponse {
			t.Helper()
			out := &proxyproto.RPCResponse{}
			if err := w.call(testCtx(t), "RPC", &proxyproto.RPCRequest{Method: method, Data: []byte(data)}, out, nil); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := string(call("cinema.schedule", "").Result.GetData()); got != `["Alien","Heat"]` {
			t.Errorf("schedule = %s", got)
		}
		if got := string(call("cinema.screening", `{"id":7}`).Result.GetData()); got != `{"id":7,"seats":["A1"]}` {
			t.Errorf("screening = %s", got)
		}
		wantError(t, call("cinema.screening", `{"id":8}`).Error, 404, "no such screening", false)
		wantError(t, call("cinema.screening", `{"id":"seven"}`).Error, 107, "bad request", false)
		wantError(t, call("cinema.nope", `{}`).Error, 404, "method not found", false)
		wantError(t, call("Cinema.Schedule", ``).Error, 404, "method not found", false)
	})

	// OnRPC answers the methods without a route.
	h.srv.OnRPC(func(_ context.Context, r *RPCRequest) (*RPCResult, error) {
		return nil, &Error{Code: 1404, Message: "unknown method " + r.Method}
	})
	h.forEachWire(t, func(t *testing.T, w wire) {
		out := &proxyproto.RPCResponse{}
		if err := w.call(testCtx(t), "RPC", &proxyproto.RPCRequest{Method: "cinema.nope"}, out, nil); err != nil {
			t.Fatal(err)
		}
		wantError(t, out.Error, 1404, "unknown method cinema.nope", false)
		out = &proxyproto.RPCResponse{}
		if err := w.call(testCtx(t), "RPC", &proxyproto.RPCRequest{Method: "cinema.schedule"}, out, nil); err != nil {
			t.Fatal(err)
		}
		if out.Result == nil {
			t.Errorf("routed method lost its route: %v", out)
		}
	})
}

// connectSvc and rpcSvc implement service interfaces for Register.
type connectSvc struct{}

func (connectSvc) Connect(context.Context, *ConnectRequest) (*ConnectResult, error) {
	return &ConnectResult{User: "svc"}, nil
}

type multiSvc struct{}

func (multiSvc) Subscribe(context.Context, *SubscribeRequest) (*SubscribeResult, error) {
	return &SubscribeResult{Allow: []string{"pub"}}, nil
}

func (multiSvc) RPC(_ context.Context, r *RPCRequest) (*RPCResult, error) {
	return &RPCResult{Data: []byte(`"` + r.Method + `"`)}, nil
}

func TestRegisterServices(t *testing.T) {
	h := newHarness(t)
	if err := h.srv.Register(connectSvc{}, struct{}{}); err == nil {
		t.Fatal("Register accepted a value that implements no service")
	}
	if h.srv.table.Load().services[idxConnect] != nil {
		t.Fatal("a failed Register registered something")
	}
	must(t, h.srv.Register(connectSvc{}, multiSvc{}))
	w := h.wires()[0]
	cout := &proxyproto.ConnectResponse{}
	must(t, w.call(testCtx(t), "Connect", connectReq(""), cout, nil))
	sout := &proxyproto.SubscribeResponse{}
	must(t, w.call(testCtx(t), "Subscribe", &proxyproto.SubscribeRequest{}, sout, nil))
	rout := &proxyproto.RPCResponse{}
	must(t, w.call(testCtx(t), "RPC", &proxyproto.RPCRequest{Method: "any"}, rout, nil))
	if cout.Result.GetUser() != "svc" || len(sout.Result.GetAllow()) != 1 || string(rout.Result.GetData()) != `"any"` {
		t.Errorf("connect %v, subscribe %v, rpc %v", cout, sout, rout)
	}
	// nil removes a service.
	h.srv.OnConnect(nil)
	cout = &proxyproto.ConnectResponse{}
	must(t, w.call(testCtx(t), "Connect", connectReq(""), cout, nil))
	wantError(t, cout.Error, 501, "not implemented", false)
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, addr := range []string{"http://127.0.0.1:1", "127.0.0.1", "tcp://", "unix://"} {
		if _, err := New(WithAddress(addr)); err == nil {
			t.Errorf("address %q accepted", addr)
		}
	}
	if _, err := New(WithHandlerTimeout(-time.Second)); err == nil {
		t.Error("negative handler timeout accepted")
	}
	_, err := New(WithAddress("ftp://x"), WithHandlerTimeout(-1))
	if err == nil || !strings.Contains(err.Error(), "ftp") || !strings.Contains(err.Error(), "negative") {
		t.Errorf("want both problems reported, got %v", err)
	}
}

// Serve listens on an address in the RoadRunner form, serves health, and
// stops when its context ends.
func TestServeAddressHealthAndShutdown(t *testing.T) {
	srv, err := New(WithAddress("tcp://127.0.0.1:0"), WithLogger(newDiscardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnConnect(func(context.Context, *ConnectRequest) (*ConnectResult, error) { return &ConnectResult{User: "u"}, nil })
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	var addr net.Addr
	for deadline := time.Now().Add(5 * time.Second); addr == nil; time.Sleep(5 * time.Millisecond) {
		if addr = srv.Addr(); addr == nil && time.Now().After(deadline) {
			t.Fatal("server did not listen")
		}
	}
	conn, err := grpc.NewClient("passthrough:///"+addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	hc := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "centrifugal.centrifugo.proxy.CentrifugoProxy"} {
		resp, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v %v", svc, resp, err)
		}
	}
	out, err := proxyproto.NewCentrifugoProxyClient(conn).Connect(testCtx(t), &proxyproto.ConnectRequest{})
	if err != nil || out.Result.GetUser() != "u" {
		t.Fatalf("connect: %v %v", out, err)
	}

	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if err := srv.Serve(t.Context()); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after shutdown = %v, want ErrServerClosed", err)
	}
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Error("still listening after shutdown")
	}
}

// Shutdown waits for the handlers of calls in flight.
func TestShutdownWaitsForHandlers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(WithListener(ln), WithLogger(newDiscardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	srv.OnRPC(func(ctx context.Context, r *RPCRequest) (*RPCResult, error) {
		close(entered)
		time.Sleep(200 * time.Millisecond)
		return &RPCResult{Data: []byte(`1`)}, nil
	})
	go func() { _ = srv.Serve(t.Context()) }()
	conn, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res := make(chan *proxyproto.RPCResponse, 1)
	go func() {
		out, _ := proxyproto.NewCentrifugoProxyClient(conn).RPC(testCtx(t), &proxyproto.RPCRequest{Method: "m"})
		res <- out
	}()
	<-entered
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Error("Shutdown did not wait for the running call")
	}
	if out := <-res; string(out.Result.GetData()) != "1" {
		t.Errorf("call in flight got %v", out)
	}
}
