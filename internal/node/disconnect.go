package node

import "fmt"

// Disconnect is the reason a connection is closed, sent as the WebSocket close
// code and reason. Codes 3000–3499 and 4000–4499 tell the client to reconnect;
// 3500–3999 and 4500–4999 are terminal. Disconnect implements error so a
// handler may return it to close the connection.
type Disconnect struct {
	Code   uint32
	Reason string
}

// Error implements error.
func (d Disconnect) Error() string { return fmt.Sprintf("disconnect %d: %s", d.Code, d.Reason) }

// Reconnect reports whether a client should reconnect after d.
func (d Disconnect) Reconnect() bool {
	return (d.Code >= 3000 && d.Code < 3500) || (d.Code >= 4000 && d.Code < 4500) || d.Code < 3000
}

// Disconnects the server uses, with Centrifugo's codes and reasons.
var (
	DisconnectConnectionClosed      = Disconnect{Code: 3000, Reason: "connection closed"}
	DisconnectShutdown              = Disconnect{Code: 3001, Reason: "shutdown"}
	DisconnectServerError           = Disconnect{Code: 3004, Reason: "internal server error"}
	DisconnectExpired               = Disconnect{Code: 3005, Reason: "connection expired"}
	DisconnectSubExpired            = Disconnect{Code: 3006, Reason: "subscription expired"}
	DisconnectSlow                  = Disconnect{Code: 3008, Reason: "slow"}
	DisconnectWriteError            = Disconnect{Code: 3009, Reason: "write error"}
	DisconnectInsufficientState     = Disconnect{Code: 3010, Reason: "insufficient state"}
	DisconnectForceReconnect        = Disconnect{Code: 3011, Reason: "force reconnect"}
	DisconnectNoPong                = Disconnect{Code: 3012, Reason: "no pong"}
	DisconnectTooManyRequests       = Disconnect{Code: 3013, Reason: "too many requests"}
	DisconnectInvalidToken          = Disconnect{Code: 3500, Reason: "invalid token"}
	DisconnectBadRequest            = Disconnect{Code: 3501, Reason: "bad request"}
	DisconnectStale                 = Disconnect{Code: 3502, Reason: "stale"}
	DisconnectForceNoReconnect      = Disconnect{Code: 3503, Reason: "force disconnect"}
	DisconnectConnectionLimit       = Disconnect{Code: 3504, Reason: "connection limit"}
	DisconnectChannelLimit          = Disconnect{Code: 3505, Reason: "channel limit"}
	DisconnectInappropriateProtocol = Disconnect{Code: 3506, Reason: "inappropriate protocol"}
	DisconnectPermissionDenied      = Disconnect{Code: 3507, Reason: "permission denied"}
	DisconnectNotAvailable          = Disconnect{Code: 3508, Reason: "not available"}
	DisconnectTooManyErrors         = Disconnect{Code: 3509, Reason: "too many errors"}
)

// Unsubscribe codes sent in unsubscribe pushes.
const (
	UnsubscribeCodeServer              uint32 = 2000
	UnsubscribeCodeInsufficientState   uint32 = 2500
	UnsubscribeCodeSubscriptionExpired uint32 = 2501
)
