package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

const (
	// jwksHTTPTimeout bounds each fetch of the key set, including the first
	// one, which runs inside NewVerifier.
	jwksHTTPTimeout = 10 * time.Second
	// jwksRefreshInterval is how often the key set is fetched again in the
	// background.
	jwksRefreshInterval = time.Hour
	// jwksUnknownKIDWait caps how long a verification waits for the
	// unknown-kid refresh rate limit (one refresh per 5 minutes) and for
	// that refresh itself. Waiting longer than this fails the token instead
	// of stalling the connect.
	jwksUnknownKIDWait = 5 * time.Second
)

// newJWKS starts a JWKS client for endpoint. The first fetch happens now; a
// failed first fetch is logged, not returned, so the server starts while the
// endpoint is down and picks the keys up on the next refresh. Unknown kids
// trigger a rate-limited refresh, so rotated keys are seen without waiting
// an hour.
func newJWKS(ctx context.Context, endpoint string) (keyfunc.Keyfunc, error) {
	return keyfunc.NewDefaultOverrideCtx(ctx, []string{endpoint}, keyfunc.Override{
		HTTPTimeout:      jwksHTTPTimeout,
		RefreshInterval:  jwksRefreshInterval,
		RateLimitWaitMax: jwksUnknownKIDWait,
		RefreshErrorHandlerFunc: func(u string) func(ctx context.Context, err error) {
			return func(ctx context.Context, err error) {
				slog.Default().WarnContext(ctx, "auth: JWKS fetch failed", "url", u, "error", err)
			}
		},
	})
}

// jwksKey returns the JWKS key for t, keeping only public keys whose type
// fits t's algorithm: the jwt library would reject a mismatched key anyway,
// and a symmetric ("oct") key from a public endpoint must never verify an
// HMAC token.
func (ks *keySet) jwksKey(ctx context.Context, t *jwt.Token) (any, error) {
	key, err := ks.jwks.KeyfuncCtx(ctx)(t)
	if err != nil {
		return nil, err
	}
	if set, ok := key.(jwt.VerificationKeySet); ok {
		kept := set.Keys[:0:0]
		for _, k := range set.Keys {
			if keyFits(t.Method, k) {
				kept = append(kept, k)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("JWKS has no %s key", t.Method.Alg())
		}
		return jwt.VerificationKeySet{Keys: kept}, nil
	}
	if !keyFits(t.Method, key) {
		return nil, fmt.Errorf("JWKS key %v is a %T, not usable with %s", t.Header["kid"], key, t.Method.Alg())
	}
	return key, nil
}

func keyFits(m jwt.SigningMethod, key any) bool {
	switch m.(type) {
	case *jwt.SigningMethodRSA:
		_, ok := key.(*rsa.PublicKey)
		return ok
	case *jwt.SigningMethodECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		return ok && ecdsaAlgFor(k.Curve) == m.Alg()
	case *jwt.SigningMethodEd25519:
		_, ok := key.(ed25519.PublicKey)
		return ok
	}
	return false
}
