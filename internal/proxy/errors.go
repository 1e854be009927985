package proxy

import (
	"errors"
	"fmt"

	"github.com/rotorhq/rotor/internal/node"
)

var (
	// ErrCallFailed is wrapped by the error of every call that got no
	// usable answer: the backend could not be reached, the call timed out,
	// the gRPC call failed with a status, the HTTP status was not 200, or
	// the answer could not be decoded. It is not a *node.Error, so the node
	// answers the client with error 100, temporary. The full error names
	// the config key, the endpoint and the method.
	ErrCallFailed = errors.New("proxy: call failed")

	// ErrNoCredentials is returned by Connect when the backend answered
	// with neither a result, nor an error, nor a disconnect: the connection
	// has no credentials. It wraps node.DisconnectBadRequest, so the node
	// closes the connection with 3501, as Centrifugo does.
	ErrNoCredentials = fmt.Errorf("proxy: connect answer has no result, so the connection has no credentials: %w", node.DisconnectBadRequest)

	// ErrNotEnabled is returned by a call for an event, channel or method
	// that no proxy is configured for; the *Enabled methods tell in advance.
	ErrNotEnabled = errors.New("proxy: not enabled")
)
