package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/internal/config"
)

// keySettings are the configuration keys of one key set, named by prefix
// ("token_" or "subscription_token_") so that errors quote the real key.
type keySettings struct {
	prefix         string
	hmacSecret     string
	rsaPublicKey   string
	ecdsaPublicKey string
	jwksEndpoint   string
	audience       string
	audienceRegex  string
	issuer         string
	issuerRegex    string
	userIDClaim    string
}

func connectionSettings(cfg *config.Config) keySettings {
	return keySettings{
		prefix:         "token_",
		hmacSecret:     cfg.TokenHMACSecretKey,
		rsaPublicKey:   cfg.TokenRSAPublicKey,
		ecdsaPublicKey: cfg.TokenECDSAPublicKey,
		jwksEndpoint:   cfg.TokenJWKSPublicEndpoint,
		audience:       cfg.TokenAudience,
		audienceRegex:  cfg.TokenAudienceRegex,
		issuer:         cfg.TokenIssuer,
		issuerRegex:    cfg.TokenIssuerRegex,
		userIDClaim:    cfg.TokenUserIDClaim,
	}
}

func subscriptionSettings(cfg *config.Config) keySettings {
	return keySettings{
		prefix:         "subscription_token_",
		hmacSecret:     cfg.SubscriptionTokenHMACSecretKey,
		rsaPublicKey:   cfg.SubscriptionTokenRSAPublicKey,
		ecdsaPublicKey: cfg.SubscriptionTokenECDSAPublicKey,
		jwksEndpoint:   cfg.SubscriptionTokenJWKSPublicEndpoint,
		audience:       cfg.SubscriptionTokenAudience,
		audienceRegex:  cfg.SubscriptionTokenAudienceRegex,
		issuer:         cfg.SubscriptionTokenIssuer,
		issuerRegex:    cfg.SubscriptionTokenIssuerRegex,
		userIDClaim:    cfg.SubscriptionTokenUserIDClaim,
	}
}

// keySet checks tokens against one set of keys and claim rules. It is
// immutable after newKeySet and safe for concurrent use.
type keySet struct {
	hmacSecret any              // []byte, kept boxed so lookups do not allocate; nil: HS* not accepted
	rsaKey     *rsa.PublicKey   // nil: RS* only through JWKS
	ecdsaKey   *ecdsa.PublicKey // nil: ES* only through JWKS
	ecdsaAlg   string           // the one ES alg matching ecdsaKey's curve
	jwks       keyfunc.Keyfunc  // nil: no JWKS endpoint

	audience   string
	audienceRe *regexp.Regexp
	issuer     string
	issuerRe   *regexp.Regexp

	// userIDClaim is the claim holding the user ID when it is not "sub".
	userIDClaim string

	parser *jwt.Parser
	// staticKey is ks.lookupKey bound once, so that verifying without JWKS
	// does not allocate a closure per token.
	staticKey jwt.Keyfunc
}

// newKeySet validates the settings and builds the key set. jwksCtx bounds the
// life of the JWKS refresh goroutine.
func newKeySet(jwksCtx context.Context, s keySettings) (*keySet, error) {
	ks := &keySet{
		audience: s.audience,
		issuer:   s.issuer,
	}
	if s.userIDClaim != "" && s.userIDClaim != "sub" {
		ks.userIDClaim = s.userIDClaim
	}
	if s.audience != "" && s.audienceRegex != "" {
		return nil, fmt.Errorf("auth: %saudience and %saudience_regex are both set, use only one", s.prefix, s.prefix)
	}
	if s.issuer != "" && s.issuerRegex != "" {
		return nil, fmt.Errorf("auth: %sissuer and %sissuer_regex are both set, use only one", s.prefix, s.prefix)
	}
	var err error
	if s.audienceRegex != "" {
		if ks.audienceRe, err = regexp.Compile(s.audienceRegex); err != nil {
			return nil, fmt.Errorf("auth: %saudience_regex is not a valid regular expression: %w", s.prefix, err)
		}
	}
	if s.issuerRegex != "" {
		if ks.issuerRe, err = regexp.Compile(s.issuerRegex); err != nil {
			return nil, fmt.Errorf("auth: %sissuer_regex is not a valid regular expression: %w", s.prefix, err)
		}
	}

	// methods must stay non-nil: jwt accepts every algorithm for a nil list.
	methods := make([]string, 0, 10)
	if s.hmacSecret != "" {
		ks.hmacSecret = []byte(s.hmacSecret)
		methods = append(methods, "HS256", "HS384", "HS512")
	}
	if s.rsaPublicKey != "" {
		if ks.rsaKey, err = jwt.ParseRSAPublicKeyFromPEM([]byte(s.rsaPublicKey)); err != nil {
			return nil, fmt.Errorf("auth: %srsa_public_key is not a PEM RSA public key: %w", s.prefix, err)
		}
	}
	if s.ecdsaPublicKey != "" {
		if ks.ecdsaKey, err = jwt.ParseECPublicKeyFromPEM([]byte(s.ecdsaPublicKey)); err != nil {
			return nil, fmt.Errorf("auth: %secdsa_public_key is not a PEM ECDSA public key: %w", s.prefix, err)
		}
		if ks.ecdsaAlg = ecdsaAlgFor(ks.ecdsaKey.Curve); ks.ecdsaAlg == "" {
			return nil, fmt.Errorf("auth: %secdsa_public_key uses curve %s; only P-256, P-384 and P-521 are supported",
				s.prefix, ks.ecdsaKey.Curve.Params().Name)
		}
	}
	if s.jwksEndpoint != "" {
		if strings.Contains(s.jwksEndpoint, "{{") {
			return nil, fmt.Errorf("auth: %sjwks_public_endpoint: {{var}} templates are not supported", s.prefix)
		}
		if ks.jwks, err = newJWKS(jwksCtx, s.jwksEndpoint); err != nil {
			return nil, fmt.Errorf("auth: %sjwks_public_endpoint: %w", s.prefix, err)
		}
	}
	switch {
	case ks.jwks != nil:
		methods = append(methods, "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA")
	default:
		if ks.rsaKey != nil {
			methods = append(methods, "RS256", "RS384", "RS512")
		}
		if ks.ecdsaKey != nil {
			methods = append(methods, ks.ecdsaAlg)
		}
	}
	ks.parser = jwt.NewParser(jwt.WithValidMethods(methods), jwt.WithoutClaimsValidation())
	ks.staticKey = func(t *jwt.Token) (any, error) { return ks.lookupKey(context.Background(), t) }
	return ks, nil
}

func ecdsaAlgFor(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "ES256"
	case elliptic.P384():
		return "ES384"
	case elliptic.P521():
		return "ES512"
	}
	return ""
}

var errNoKey = errors.New("no key configured for this algorithm")

// lookupKey picks the key for a token whose algorithm the parser already
// allowed. HMAC always uses the configured secret (a JWKS never supplies
// symmetric keys). For asymmetric algorithms a token with a "kid" header goes
// to the JWKS when one is configured; without kid the static key of that type
// is used, falling back to every matching key of the JWKS.
func (ks *keySet) lookupKey(ctx context.Context, t *jwt.Token) (any, error) {
	var static any
	switch m := t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if ks.hmacSecret == nil {
			return nil, errNoKey
		}
		return ks.hmacSecret, nil
	case *jwt.SigningMethodRSA:
		if ks.rsaKey != nil {
			static = ks.rsaKey
		}
	case *jwt.SigningMethodECDSA:
		if ks.ecdsaKey != nil && m.Alg() == ks.ecdsaAlg {
			static = ks.ecdsaKey
		}
	case *jwt.SigningMethodEd25519:
	default:
		return nil, errNoKey
	}
	_, hasKID := t.Header["kid"]
	if ks.jwks != nil && (hasKID || static == nil) {
		return ks.jwksKey(ctx, t)
	}
	if static == nil {
		return nil, errNoKey
	}
	return static, nil
}

// keyFunc returns the jwt.Keyfunc for one verification.
func (ks *keySet) keyFunc(ctx context.Context) jwt.Keyfunc {
	if ks.jwks == nil {
		return ks.staticKey
	}
	return func(t *jwt.Token) (any, error) { return ks.lookupKey(ctx, t) }
}

// check verifies the signature (unless skipSignature), decodes claims into c
// and applies the audience, issuer, exp and nbf rules.
func (ks *keySet) check(ctx context.Context, token string, c tokenClaims, skipSignature bool) error {
	if skipSignature {
		t, _, err := ks.parser.ParseUnverified(token, c)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidToken, err)
		}
		if t.Method.Alg() == "none" {
			return fmt.Errorf("%w: alg none is not accepted", ErrInvalidToken)
		}
	} else if _, err := ks.parser.ParseWithClaims(token, c, ks.keyFunc(ctx)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return ks.checkClaims(c.registered(), time.Now())
}

// checkClaims applies the registered-claim rules with no leeway. A token
// that is not meant for this server (audience, issuer) is invalid even when
// it has also expired; an expired one is reported as such so that the client
// fetches a new token.
func (ks *keySet) checkClaims(rc *jwt.RegisteredClaims, now time.Time) error {
	if ks.audience != "" && !slices.Contains(rc.Audience, ks.audience) {
		return fmt.Errorf("%w: audience %q is not %q", ErrInvalidToken, []string(rc.Audience), ks.audience)
	}
	if ks.audienceRe != nil && !ks.anyAudienceMatches(rc.Audience) {
		return fmt.Errorf("%w: audience %q does not match %s", ErrInvalidToken, []string(rc.Audience), ks.audienceRe)
	}
	if ks.issuer != "" && rc.Issuer != ks.issuer {
		return fmt.Errorf("%w: issuer %q is not %q", ErrInvalidToken, rc.Issuer, ks.issuer)
	}
	if ks.issuerRe != nil && !ks.issuerRe.MatchString(rc.Issuer) {
		return fmt.Errorf("%w: issuer %q does not match %s", ErrInvalidToken, rc.Issuer, ks.issuerRe)
	}
	if rc.ExpiresAt != nil && !now.Before(rc.ExpiresAt.Time) {
		return fmt.Errorf("%w: exp %d is not after now %d", ErrTokenExpired, rc.ExpiresAt.Unix(), now.Unix())
	}
	if rc.NotBefore != nil && now.Before(rc.NotBefore.Time) {
		return fmt.Errorf("%w: nbf %d is after now %d", ErrInvalidToken, rc.NotBefore.Unix(), now.Unix())
	}
	return nil
}

func (ks *keySet) anyAudienceMatches(aud jwt.ClaimStrings) bool {
	for _, a := range aud {
		if ks.audienceRe.MatchString(a) {
			return true
		}
	}
	return false
}
