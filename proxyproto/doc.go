// Package proxyproto holds the wire types and the gRPC service of the proxy
// protocol, generated from proxy.proto: the calls a Rotor node makes to an
// application backend on connect, refresh, subscribe, publish, RPC and
// subscription refresh.
//
// The schema keeps Centrifugo v5's package (centrifugal.centrifugo.proxy),
// service (CentrifugoProxy), method, message and field names and numbers, so
// a backend written for Centrifugo serves Rotor unchanged, and a backend built
// on this package serves Centrifugo.
//
// Every response carries one of result, error (returned to the client as the
// reply error; applications use codes 400-1999) or disconnect (closes the
// client connection; 4000-4499 reconnect, 4500-4999 terminal). Every request
// starts with the client id, transport, protocol and encoding in fields 1-4.
//
// The HTTP proxy sends the same messages as JSON with the proto field names;
// bytes fields are embedded JSON values there, and the b64* twins carry
// binary payloads as base64 when binary encoding is on.
//
// Regenerate the Go code with scripts/proto.sh (make proto).
package proxyproto
