// Package apiproto holds the wire types and the gRPC service of Rotor's
// server API, generated from api.proto.
//
// The schema keeps Centrifugo v5's package (centrifugal.centrifugo.api),
// service (CentrifugoApi), method, message and field names and numbers, so a
// client generated from Centrifugo's api.proto calls Rotor unchanged, and a
// client built on this package calls Centrifugo. Numbers of Centrifugo PRO
// methods and fields are reserved.
//
// Every XxxResponse carries either Error or Result. Errors travel in-band
// (gRPC status OK, HTTP 200) unless the caller asks for the transport error
// mode. Error codes are those of the shared table: 100 internal, 102 unknown
// channel, 104 not found, 107 bad request, 108 not available, 112
// unrecoverable position, 113 conflict; 400-1999 come from applications.
//
// Over HTTP the same messages are JSON objects with the proto field names
// (skip_history, idempotency_key, num_clients, ...). Bytes fields (data, info,
// params, conn_info, chan_info) are embedded JSON values there, while b64data
// and b64info carry binary payloads as base64.
//
// Regenerate the Go code with scripts/proto.sh (make proto).
package apiproto
