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
