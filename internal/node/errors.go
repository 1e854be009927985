package node

import (
	"errors"
	"fmt"

	"github.com/centrifugal/protocol"
)

// Error is an error that reaches a client or an API caller: a code from the
// Centrifugo code table plus a message. Codes 400–1999 are left to
// applications (they arrive from proxies).
type Error struct {
	Code      uint32
	Message   string
	Temporary bool
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("%d: %s", e.Code, e.Message) }

// Predefined errors, with the codes and messages clients know.
var (
	ErrorInternal              = &Error{Code: 100, Message: "internal server error", Temporary: true}
	ErrorUnauthorized          = &Error{Code: 101, Message: "unauthorized"}
	ErrorUnknownChannel        = &Error{Code: 102, Message: "unknown channel"}
	ErrorPermissionDenied      = &Error{Code: 103, Message: "permission denied"}
	ErrorMethodNotFound        = &Error{Code: 104, Message: "method not found"}
	ErrorAlreadySubscribed     = &Error{Code: 105, Message: "already subscribed"}
	ErrorLimitExceeded         = &Error{Code: 106, Message: "limit exceeded"}
	ErrorBadRequest            = &Error{Code: 107, Message: "bad request"}
	ErrorNotAvailable          = &Error{Code: 108, Message: "not available"}
	ErrorTokenExpired          = &Error{Code: 109, Message: "token expired"}
	ErrorExpired               = &Error{Code: 110, Message: "expired"}
	ErrorTooManyRequests       = &Error{Code: 111, Message: "too many requests", Temporary: true}
	ErrorUnrecoverablePosition = &Error{Code: 112, Message: "unrecoverable position"}
	ErrorConflict              = &Error{Code: 113, Message: "conflict"}
)

// ToError maps any error to an *Error. Errors that are not *Error (nor wrap
// one) become ErrorInternal, so internal text never reaches a client.
func ToError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrorInternal
}

func (e *Error) toProto() *protocol.Error {
	return &protocol.Error{Code: e.Code, Message: e.Message, Temporary: e.Temporary}
}
