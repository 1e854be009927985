package node

import "github.com/centrifugal/protocol"

// Transport is a client connection's way to the wire. The writer calls Write
// from one goroutine at a time; Close may be called concurrently with Write.
type Transport interface {
	// Name is the transport name reported to proxies ("websocket").
	Name() string
	// Protocol is the encoding the client chose (JSON or Protobuf).
	Protocol() protocol.Type
	// Write sends one frame holding one or more encoded replies, already
	// framed for the protocol (JSON lines, or varint-prefixed Protobuf).
	Write(frame []byte) error
	// Close sends d to the client (as the WebSocket close code and reason)
	// and closes the connection.
	Close(d Disconnect) error
}

// NoWaitWriter is implemented by transports that can write a frame without
// waiting on the client. A fan-out writes to many clients from a few
// goroutines; with it, a client whose socket is full holds none of them up.
type NoWaitWriter interface {
	// WriteNoWait writes what of frame the connection takes at once. When
	// that is not all of it (or another write is in progress), rest writes
	// the remainder, waiting as Write does; the caller calls rest, on a
	// goroutine that may wait, before it writes anything else. frame may be
	// reused once WriteNoWait returns.
	WriteNoWait(frame []byte) (rest func() error, err error)
	// CanWriteNoWait reports whether this connection can write at all
	// without waiting (a TLS connection cannot); when it cannot, the
	// writer does not use WriteNoWait and flushes on goroutines of its
	// own.
	CanWriteNoWait() bool
}
