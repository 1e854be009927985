// Package rotorapi is a typed client of the server API of Rotor, which is
// also Centrifugo's (v5 and v6): publish to channels, manage connections and
// subscriptions, read presence and history.
//
// # Wires
//
// New chooses the wire from the address:
//
//	c, err := rotorapi.New("tcp://127.0.0.1:10000", rotorapi.WithAPIKey(key)) // gRPC (grpc_api_port)
//	c, err := rotorapi.New("http://127.0.0.1:8000", rotorapi.WithAPIKey(key)) // HTTP, POST /api/<method>
//
// gRPC is the default: "host:port" (the node's grpc_api_address and
// grpc_api_port), with "tcp://" (as RoadRunner writes it) or "grpc://"
// accepted. The API key travels as "authorization: apikey KEY" metadata over
// gRPC (grpc_api_key) and as the X-API-Key header over HTTP (api_key).
// WithTLS turns TLS on; WithDialOptions and WithHTTPClient give full
// control of each wire.
//
// # Calls
//
// There is one method per API method: Publish, Broadcast, Subscribe,
// Unsubscribe, Disconnect, Presence, PresenceStats, History,
// HistoryRemove, Info, RPC, Refresh, Channels, and Batch to send several in
// one call. Requests and results are Go structs; payloads are bytes holding
// JSON (PublishJSON and BroadcastJSON encode a value). A call without a
// context deadline gets the client's timeout (WithTimeout, 5 s by default).
//
// # Errors
//
// An error the server answers in-band (102 unknown channel, 108 not
// available, ...) is returned as an *Error wrapped with the method's name:
//
//	var apiErr *rotorapi.Error
//	if errors.As(err, &apiErr) && apiErr.Code == rotorapi.CodeUnknownChannel { ... }
//
// A refused API key gives an error wrapping ErrUnauthorized; other HTTP
// statuses an *HTTPError; transport failures the error of the wire (a gRPC
// status, a net error, the context's error).
//
// # Events
//
// A Broadcaster publishes application events as {"event": name, "data": …}
// envelopes to any number of channels in one call each, which is what
// Spiral's broadcasting driver sends over RoadRunner.
//
// A Client is safe for concurrent use; make one per server and share it.
package rotorapi
