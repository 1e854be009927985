package rotorproxy

import (
	"errors"
	"strconv"

	"github.com/rotorhq/rotor/proxyproto"
)

// Error is an error reply: a handler or interceptor that returns one (also
// wrapped, it is found with errors.As) makes the node answer the client's
// command with this code and message instead of going on. Temporary tells the
// client that retrying may succeed.
//
// Codes 100-199 are the server's own (see the Err* values); applications use
// 400-1999. Any other error a handler returns is answered with ErrInternal, so
// its text never reaches clients.
type Error struct {
	Code      uint32
	Message   string
	Temporary bool
}

// Error implements error.
func (e *Error) Error() string {
	s := "rotorproxy: error " + strconv.FormatUint(uint64(e.Code), 10) + ": " + e.Message
	if e.Temporary {
		s += " (temporary)"
	}
	return s
}

// Error replies with the codes of the client protocol, and the SDK's own.
var (
	// ErrInternal is the answer to every failure that is not an *Error or a
	// *Disconnect: a handler's own error, a panic, a handler that returned
	// nothing or ran out of time. It is what the node itself answers when
	// the backend cannot be reached.
	ErrInternal = &Error{Code: 100, Message: "internal server error", Temporary: true}
	// ErrUnauthorized refuses a client that did not prove who it is.
	ErrUnauthorized = &Error{Code: 101, Message: "unauthorized"}
	// ErrPermissionDenied refuses an action the client may not take.
	ErrPermissionDenied = &Error{Code: 103, Message: "permission denied"}
	// ErrBadRequest refuses a request whose data cannot be used; Bind
	// returns it (wrapped) when the data is not the JSON expected.
	ErrBadRequest = &Error{Code: 107, Message: "bad request"}
	// ErrMethodNotFound answers an RPC whose method no route handles (see
	// Server.HandleRPC). 404 is in the application range on purpose: the
	// node's own 104 means "no RPC proxy at all", which a client may want
	// to tell apart from "the backend does not know this method".
	ErrMethodNotFound = &Error{Code: 404, Message: "method not found"}
	// ErrNotImplemented answers a request of a type no service is registered
	// for (the node has a proxy configured that the backend does not serve).
	ErrNotImplemented = &Error{Code: 501, Message: "not implemented"}
)

// Disconnect closes the client's connection: a handler or interceptor that
// returns one (also wrapped, it is found with errors.As) makes the node close
// the connection with this code and reason. Codes 4000-4499 let the client
// reconnect, 4500-4999 do not; the reason travels in a WebSocket close frame,
// so keep it within 32 bytes. The node ignores disconnects (and errors)
// answered to refresh requests.
type Disconnect struct {
	Code   uint32
	Reason string
}

// Error implements error.
func (d *Disconnect) Error() string {
	return "rotorproxy: disconnect " + strconv.FormatUint(uint64(d.Code), 10) + ": " + d.Reason
}

// errEmptyReply is logged when a handler returned neither result nor error.
var errEmptyReply = errors.New("handler returned neither a result nor an error")

// replyOf turns the error of a call into the error or disconnect of its
// reply. *Disconnect is looked for first, then *Error; anything else becomes
// ErrInternal. internal tells whether the error was replaced, so that the
// caller logs it.
func replyOf(err error) (e *proxyproto.Error, d *proxyproto.Disconnect, internal bool) {
	var dis *Disconnect
	if errors.As(err, &dis) && dis != nil {
		return nil, &proxyproto.Disconnect{Code: dis.Code, Reason: dis.Reason}, false
	}
	var pe *Error
	if errors.As(err, &pe) && pe != nil {
		return &proxyproto.Error{Code: pe.Code, Message: pe.Message, Temporary: pe.Temporary}, nil, false
	}
	return internalError(), nil, true
}

func internalError() *proxyproto.Error {
	return &proxyproto.Error{Code: ErrInternal.Code, Message: ErrInternal.Message, Temporary: ErrInternal.Temporary}
}
