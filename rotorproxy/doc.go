// Package rotorproxy is the backend side of the proxy protocol: a server
// that a Rotor (or Centrifugo v5/v6) node calls when a client connects,
// refreshes its connection, subscribes, publishes, calls an RPC or refreshes
// a subscription, so that the application decides and enriches.
//
// # Services
//
// One service answers each request type. Register typed handlers
//
//	srv.OnConnect(func(ctx context.Context, req *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
//		return &rotorproxy.ConnectResult{User: "42"}, nil
//	})
//
// or values with the methods of the service interfaces (ConnectService,
// SubscribeService, ...) with Register. RPCs can be routed by method name
// with HandleRPC; RPCJSON adapts functions of JSON values.
//
// Requests are Go structs: the fields every request has are in the embedded
// Common (client id, transport, protocol, encoding, forwarded headers,
// attributes), the JSON data is decoded with Bind. Results are Go structs
// too; the server converts both from and to the wire.
//
// # Errors
//
// A handler refuses by returning an *Error (the client gets its code and
// message as the reply error; applications use 400-1999) or a *Disconnect
// (the client's connection is closed with its code: 4000-4499 to reconnect,
// 4500-4999 for good). Every other error is answered with ErrInternal (100,
// temporary) and logged, so that its text does not reach clients.
//
// # Every call is answered
//
// The chain of a call runs in its own goroutine under a deadline: the one
// the node sends with a gRPC call (its proxy timeout), ended a little early
// (by a tenth of it, at most 100 ms) so that the answer arrives in time, and
// the handler timeout (WithHandlerTimeout, 30 s by default). A handler that
// returns neither result nor error, panics, returns a result of the wrong
// type or runs past the deadline is answered with ErrInternal and a log
// line; nothing blocks the caller. A request type without a service is
// answered with ErrNotImplemented (501). The server never answers with a
// gRPC error of its own.
//
// # Interceptors
//
// An Interceptor runs around the service of a request:
//
//	type Interceptor func(ctx context.Context, req Request, info *Info, next Handler) (Result, error)
//
// It can enrich the request with an attribute (req.WithAttribute returns a
// copy; services read it with Attribute), refuse it by returning an error
// without calling next, or wrap next (timing, tracing). Use registers
// interceptors for one request type ("connect", "refresh", "subscribe",
// "publish", "rpc", "sub_refresh", or "subrefresh" as RoadRunner names it)
// or for every type ("*"); an unknown name is an error. For a request, the
// "*" interceptors run first, then those of its type, each list in the order
// registered: the first registered is the outermost. With no interceptors a
// call goes straight to its service, and a single one is called without a
// wrapper, as grpc-go chains unary interceptors.
//
// # Serving
//
// New builds a server; Serve listens on the address of WithAddress
// ("tcp://0.0.0.0:10001" as in the RoadRunner configuration, or
// "host:port") or serves a listener given with WithListener, and stops
// gracefully when its context ends or Shutdown is called. The gRPC server
// also serves the standard health service. HTTPHandler serves the same
// services to HTTP proxy endpoints. Server implements
// proxyproto.CentrifugoProxyServer, so it may also be registered on a gRPC
// server of the application's own.
//
// The proxytest package calls services the way a node does, for tests.
package rotorproxy
