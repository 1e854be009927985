package rotorproxy_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/rotorhq/rotor/rotorproxy"
	"github.com/rotorhq/rotor/rotorproxy/proxytest"
)

// A backend for the node's proxies: connect and RPC services, an auth
// interceptor that turns the authToken sent in the data into a user id, and
// a telemetry interceptor for every request type.
func Example() {
	srv, err := rotorproxy.New(rotorproxy.WithAddress("tcp://0.0.0.0:10001"))
	if err != nil {
		log.Fatal(err)
	}
	users := map[string]string{"secret-token": "42"} // token → user id

	// Services: one per request type.
	srv.OnConnect(func(ctx context.Context, req *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
		uid, _ := req.Attribute("user_id").(string) // "" connects anonymously
		return &rotorproxy.ConnectResult{User: uid}, nil
	})
	_ = srv.HandleRPC("cinema.schedule", func(ctx context.Context, req *rotorproxy.RPCRequest) (*rotorproxy.RPCResult, error) {
		return &rotorproxy.RPCResult{Data: []byte(`["Alien","Heat"]`)}, nil
	})

	// Interceptors: "*" ones run first, then those of the request's type.
	auth := func(ctx context.Context, req rotorproxy.Request, info *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
		var d struct {
			AuthToken string `json:"authToken"`
		}
		if err := req.Bind(&d); err != nil {
			return nil, err // 107 bad request
		}
		if uid, ok := users[d.AuthToken]; ok {
			req = req.WithAttribute("user_id", uid)
		} else if d.AuthToken != "" {
			return nil, rotorproxy.ErrUnauthorized // refused: next is not called
		}
		return next(ctx, req)
	}
	telemetry := func(ctx context.Context, req rotorproxy.Request, info *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
		start := time.Now()
		res, err := next(ctx, req)
		slog.Debug("proxy call", "type", info.Type, "client", req.Base().Client, "took", time.Since(start), "error", err)
		return res, err
	}
	for _, typ := range []string{"connect", "subscribe", "rpc"} {
		if err := srv.Use(typ, auth); err != nil {
			log.Fatal(err)
		}
	}
	if err := srv.Use("*", telemetry); err != nil {
		log.Fatal(err)
	}

	// What the node would see (in production: srv.Serve(ctx)).
	ctx := context.Background()
	res, err := proxytest.Connect(ctx, srv, &rotorproxy.ConnectRequest{Data: []byte(`{"authToken":"secret-token"}`)})
	fmt.Printf("user %q, err %v\n", res.User, err)
	res, err = proxytest.Connect(ctx, srv, &rotorproxy.ConnectRequest{})
	fmt.Printf("user %q, err %v\n", res.User, err)
	_, err = proxytest.Connect(ctx, srv, &rotorproxy.ConnectRequest{Data: []byte(`{"authToken":"stolen"}`)})
	fmt.Println(err)
	rpc, err := proxytest.RPC(ctx, srv, &rotorproxy.RPCRequest{Method: "cinema.schedule"})
	fmt.Println(string(rpc.Data), err)
	_, err = proxytest.RPC(ctx, srv, &rotorproxy.RPCRequest{Method: "cinema.nope"})
	fmt.Println(err)
	// Output:
	// user "42", err <nil>
	// user "", err <nil>
	// rotorproxy: error 101: unauthorized
	// ["Alien","Heat"] <nil>
	// rotorproxy: error 404: method not found
}

func ExampleServer_Use() {
	srv, _ := rotorproxy.New()
	srv.OnSubscribe(func(ctx context.Context, req *rotorproxy.SubscribeRequest) (*rotorproxy.SubscribeResult, error) {
		fmt.Println("  subscribe service")
		return &rotorproxy.SubscribeResult{}, nil
	})
	step := func(name string) rotorproxy.Interceptor {
		return func(ctx context.Context, req rotorproxy.Request, info *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
			fmt.Println("enter", name)
			defer fmt.Println("leave", name)
			return next(ctx, req)
		}
	}
	_ = srv.Use("subscribe", step("auth"))
	_ = srv.Use("*", step("telemetry"), step("recover"))
	if err := srv.Use("subscibe", step("typo")); err != nil {
		fmt.Println(err)
	}

	_, _ = proxytest.Subscribe(context.Background(), srv, &rotorproxy.SubscribeRequest{Channel: "news"})
	// Output:
	// rotorproxy: Use: unknown request type "subscibe" (want connect, refresh, subscribe, publish, rpc, sub_refresh or *)
	// enter telemetry
	// enter recover
	// enter auth
	//   subscribe service
	// leave auth
	// leave recover
	// leave telemetry
}

func ExampleRPCJSON() {
	srv, _ := rotorproxy.New()
	type seat struct {
		Row, Number int
	}
	_ = srv.HandleRPC("cinema.screening", rotorproxy.RPCJSON(
		func(ctx context.Context, req *rotorproxy.RPCRequest, in struct{ ID int }) ([]seat, error) {
			if in.ID != 7 {
				return nil, &rotorproxy.Error{Code: 1404, Message: "no such screening"}
			}
			return []seat{{Row: 1, Number: 2}}, nil
		}))

	res, err := proxytest.RPC(context.Background(), srv, &rotorproxy.RPCRequest{Method: "cinema.screening", Data: []byte(`{"id":7}`)})
	fmt.Println(string(res.Data), err)
	_, err = proxytest.RPC(context.Background(), srv, &rotorproxy.RPCRequest{Method: "cinema.screening", Data: []byte(`{"id":8}`)})
	var e *rotorproxy.Error
	fmt.Println(errors.As(err, &e), e.Code, e.Message)
	// Output:
	// [{"Row":1,"Number":2}] <nil>
	// true 1404 no such screening
}

// Serve until interrupted; the node's config points its proxies at this
// address ("proxy_connect_endpoint": "grpc://127.0.0.1:10001", ...).
func ExampleServer_Serve() {
	srv, err := rotorproxy.New(rotorproxy.WithAddress("tcp://127.0.0.1:10001"))
	if err != nil {
		log.Fatal(err)
	}
	srv.OnConnect(func(ctx context.Context, req *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
		return &rotorproxy.ConnectResult{User: "42"}, nil
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := srv.Serve(ctx); err != nil {
		log.Fatal(err)
	}
}

// The same services over the HTTP proxy: with
// "proxy_connect_endpoint": "http://127.0.0.1:9000/centrifugo/connect".
func ExampleServer_HTTPHandler() {
	srv, err := rotorproxy.New()
	if err != nil {
		log.Fatal(err)
	}
	srv.OnConnect(func(ctx context.Context, req *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
		return &rotorproxy.ConnectResult{User: req.Headers.Get("X-User-Id")}, nil
	})
	mux := http.NewServeMux()
	mux.Handle("/centrifugo/", srv.HTTPHandler())
	hs := &http.Server{Addr: "127.0.0.1:9000", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(hs.ListenAndServe())
}
