package rotorapi

import (
	"errors"
	"strconv"
)

// Error is an error the server answered in-band (gRPC status OK, HTTP 200),
// such as 102 unknown channel. Methods return it wrapped with their name;
// find it with errors.As, or read its code with ErrorCode.
type Error struct {
	Code    uint32
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	return "error " + strconv.FormatUint(uint64(e.Code), 10) + ": " + e.Message
}

// Codes of the server API errors.
const (
	CodeInternal              = 100
	CodeUnknownChannel        = 102
	CodeMethodNotFound        = 104
	CodeBadRequest            = 107
	CodeNotAvailable          = 108
	CodeUnrecoverablePosition = 112
	CodeConflict              = 113
)

// ErrorCode returns the code of the *Error in err's chain, and whether there
// is one.
func ErrorCode(err error) (uint32, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Code, true
	}
	return 0, false
}

// ErrUnauthorized is wrapped by the error of a call the server refused for
// its API key: gRPC status Unauthenticated, or HTTP 401. The original error
// (a gRPC status, or an *HTTPError) is wrapped too.
var ErrUnauthorized = errors.New("rotorapi: the server refused the API key")

// HTTPError is the error of an HTTP call answered with a status other than
// 200 (and other than an in-band API error).
type HTTPError struct {
	StatusCode int
	// Body is the start of the response body.
	Body string
}

// Error implements error.
func (e *HTTPError) Error() string {
	s := "HTTP status " + strconv.Itoa(e.StatusCode)
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// channelError is the error of one channel of a broadcast.
type channelError struct {
	channel string
	err     error
}

func (e *channelError) Error() string {
	return "channel " + strconv.Quote(e.channel) + ": " + e.err.Error()
}
func (e *channelError) Unwrap() error { return e.err }

func joinErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
