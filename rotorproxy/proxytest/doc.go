// Package proxytest calls the services of a rotorproxy.Server the way a
// Rotor or Centrifugo node does, without a network, so that application
// tests can check their services and interceptors together.
//
// Each function converts the request to its wire message (the headers
// become gRPC metadata, payloads are base64 in binary encoding), calls the
// server's gRPC method directly, and converts the response back: a result,
// or the reply's error as a *rotorproxy.Error, or its disconnect as a
// *rotorproxy.Disconnect, both usable with errors.As. What the server does
// with a failing handler (panic, no answer, overrun deadline) is what these
// calls see.
//
//	srv, _ := rotorproxy.New()
//	srv.OnConnect(myConnect)
//	_ = srv.Use("connect", authInterceptor)
//	res, err := proxytest.Connect(ctx, srv, &rotorproxy.ConnectRequest{Data: []byte(`{"authToken":"t"}`)})
//
// Empty Client, Transport, Protocol and Encoding fields are filled in with
// DefaultClient, "websocket", "json" and "json". A call whose context has
// no deadline gets one of DefaultTimeout, as a node gives every proxy call a
// timeout.
package proxytest
