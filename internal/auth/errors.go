package auth

import "errors"

var (
	// ErrInvalidToken is wrapped by every verification failure except expiry:
	// a malformed token, a bad signature, an algorithm no configured key can
	// check (including "none"), a wrong audience or issuer, an nbf in the
	// future, or claims that are not allowed in that kind of token. The server
	// answers it with disconnect 3500 on connect and error 103 on subscribe.
	ErrInvalidToken = errors.New("auth: invalid token")

	// ErrTokenExpired is wrapped when an otherwise valid token has an exp
	// claim in the past. The server answers it with error 109 so that the
	// client fetches a fresh token. The expire_at claim never causes it:
	// expire_at is the lifetime of the connection or subscription, which the
	// server enforces.
	ErrTokenExpired = errors.New("auth: token expired")
)
