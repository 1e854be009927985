// Package api is Rotor's server API: one Executor that runs every method
// (publish, broadcast, subscribe, unsubscribe, disconnect, presence,
// presence_stats, history, history_remove, info, rpc, refresh, channels and
// batch) on apiproto messages, and thin adapters that carry those messages
// over a wire. The HTTP adapter (NewHTTPHandler) speaks Centrifugo's HTTP API
// – POST <prefix>/<method> with JSON bodies, plus the older newline-delimited
// POST <prefix> format. The gRPC adapter (NewGRPCServer) serves
// apiproto.CentrifugoApi over the same Executor; GRPCCode gives its
// transport error mapping.
//
// Errors are values in the response (apiproto.Error with a code from the
// shared table), never Go errors: node failures that are *node.Error keep
// their code and message, anything else becomes 100 internal server error and
// is logged, so internal text never reaches a caller.
package api
