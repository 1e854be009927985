// Package bench is a load generator for Rotor and other servers that speak
// the Centrifugo v5 client protocol (v2) and HTTP server API.
//
// It opens WebSocket connections and speaks the client protocol itself, in
// JSON or Protobuf, with small per-connection state: after setup the
// connections are read by one epoll loop per processor (Linux; a reader
// goroutine per connection elsewhere), which also answers server pings,
// and no connection has a writer goroutine.
// Publications go through the HTTP server API (POST <api>/publish) or the
// gRPC server API (CentrifugoApi/Publish). Each
// publication carries a JSON object {"t":<unix nanos>,"s":<seq>,"p":"xx…"}
// padded to the payload size, so every subscriber measures the delay from
// the start of the publish call to its own read. With
// Options.PublisherProcess the publish calls are made from a child process
// of the same executable, as an application backend would make them, so
// that their latency does not include waits behind the subscribers' reader
// goroutines in this process's scheduler.
//
// Scenarios:
//
//   - connect: open N connections, each connected and subscribed to its own
//     channel; report the connect time (total, per connection p50/p99),
//     the server CPU used meanwhile and the server RSS after. With
//     Options.ConnectProxy the connections send no token and the tool
//     serves the connect proxy the server asks instead (gRPC or HTTP),
//     counting its calls.
//   - idle: the same N connections, then wait Duration (long enough for a
//     full ping cycle); report server RSS per connection and server CPU %.
//   - fanout: N subscribers of one channel, Rate publications/s for
//     Duration; report deliveries/s, expected vs received, delivery and
//     publish-call latency, server CPU per million deliveries.
//   - channels: N subscribers spread over Channels channels, Rate
//     publications/s spread over the channels; the same report plus server
//     CPU per publish.
//   - burst: N subscribers of one channel, publishing as fast as Publishers
//     concurrent callers can for Duration; report the delivery rate reached
//     and the loss.
//
// Every scenario ends by writing one JSON line (a Summary) to its output.
// Server CPU and RSS come from /proc/<pid> (Linux) when the server's PID is
// given; without it those fields are left out.
//
// Run is the entry point; RegisterFlags binds Options to command-line flags.
package bench
