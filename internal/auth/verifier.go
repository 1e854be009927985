package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/rotorhq/rotor/internal/config"
)

// Verifier checks connection and subscription JWTs as configured. It is safe
// for concurrent use; Close stops its background JWKS refresh.
type Verifier struct {
	conn *keySet
	sub  *keySet // == conn unless separate_subscription_token_config
	// skipSignature mirrors client_insecure_skip_token_signature_verify:
	// claims are decoded and checked, signatures are not.
	skipSignature bool

	cancel    context.CancelFunc
	closeOnce sync.Once
}

// NewVerifier builds a Verifier from the token_* keys (and, when
// separate_subscription_token_config is set, the subscription_token_* keys).
// It fails, naming the key, on a key that does not parse, a regex that does
// not compile, or both a value and its _regex variant being set. With no key
// configured at all every token is rejected, unless signature checks are
// switched off.
//
// When a JWKS endpoint is configured its key set is fetched before
// NewVerifier returns (at most 10s; failures are logged, not returned) and
// refreshed hourly until Close.
func NewVerifier(cfg *config.Config) (*Verifier, error) {
	ctx, cancel := context.WithCancel(context.Background())
	v := &Verifier{
		skipSignature: cfg.ClientInsecureSkipTokenSignature,
		cancel:        cancel,
	}
	var err error
	if v.conn, err = newKeySet(ctx, connectionSettings(cfg)); err != nil {
		cancel()
		return nil, err
	}
	v.sub = v.conn
	if cfg.SeparateSubscriptionTokenConfig {
		if v.sub, err = newKeySet(ctx, subscriptionSettings(cfg)); err != nil {
			cancel()
			return nil, err
		}
	}
	return v, nil
}

// Close stops the JWKS refresh goroutines, if any. It is idempotent. Tokens
// can still be verified afterwards against the keys already fetched.
func (v *Verifier) Close() {
	if v == nil {
		return
	}
	v.closeOnce.Do(v.cancel)
}

// VerifyConnectToken checks a connection token and returns its grants. ctx
// bounds a JWKS refresh triggered by an unknown kid. Errors wrap
// ErrTokenExpired (exp in the past) or ErrInvalidToken (anything else).
func (v *Verifier) VerifyConnectToken(ctx context.Context, token string) (ConnectToken, error) {
	var c connectClaims
	if err := v.conn.check(ctx, token, &c, v.skipSignature); err != nil {
		return ConnectToken{}, fmt.Errorf("connection token: %w", err)
	}
	t, err := c.toToken()
	if err != nil {
		return ConnectToken{}, fmt.Errorf("connection token: %w", err)
	}
	if v.conn.userIDClaim != "" {
		if t.UserID, err = customUserID(token, v.conn.userIDClaim); err != nil {
			return ConnectToken{}, fmt.Errorf("connection token: %w", err)
		}
	}
	return t, nil
}

// VerifySubscriptionToken checks a subscription token and returns its grants.
// The caller must still compare UserID with the connection's user and
// Channel with the channel being subscribed. Errors wrap ErrTokenExpired or
// ErrInvalidToken.
func (v *Verifier) VerifySubscriptionToken(ctx context.Context, token string) (SubscriptionToken, error) {
	var c subscriptionClaims
	if err := v.sub.check(ctx, token, &c, v.skipSignature); err != nil {
		return SubscriptionToken{}, fmt.Errorf("subscription token: %w", err)
	}
	t, err := c.toToken()
	if err != nil {
		return SubscriptionToken{}, fmt.Errorf("subscription token: %w", err)
	}
	if v.sub.userIDClaim != "" {
		if t.UserID, err = customUserID(token, v.sub.userIDClaim); err != nil {
			return SubscriptionToken{}, fmt.Errorf("subscription token: %w", err)
		}
	}
	return t, nil
}

// customUserID reads the top-level claim configured by token_user_id_claim
// from an already verified token. A string is used as is, a number by its
// text (as Centrifugo does); a missing or null claim means the anonymous
// user. Nested paths ("user.id") are not supported. This second decode only
// happens when the option is set, keeping the default path lean.
func customUserID(token, claim string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: token contains an invalid number of segments", ErrInvalidToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("%w: claims segment: %v", ErrInvalidToken, err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("%w: claims segment: %v", ErrInvalidToken, err)
	}
	raw, ok := claims[claim]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("%w: user ID claim %q is neither a string nor a number", ErrInvalidToken, claim)
}
