package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/internal/config"
)

// jwksServer serves the public halves of the test keys as a JWKS: RSA "rsa1",
// EC P-256 "ec1", Ed25519 "ed1". It counts requests.
func jwksServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	k := testKeys()
	ctx := t.Context()
	store := jwkset.NewMemoryStorage()
	for kid, key := range map[string]any{"rsa1": &k.rsa.PublicKey, "ec1": &k.p256.PublicKey, "ed1": k.ed.Public()} {
		jwk, err := jwkset.NewJWKFromKey(key, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid}})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.KeyWrite(ctx, jwk); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := store.JSONPublic(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv, _ := jwksServer(t)
	claims := func() jwt.MapClaims { return jwt.MapClaims{"sub": "42", "exp": in(time.Hour)} }

	jwksOnly := func() *config.Config { return &config.Config{TokenJWKSPublicEndpoint: srv.URL} }
	mixed := func() *config.Config {
		return &config.Config{
			TokenJWKSPublicEndpoint: srv.URL,
			TokenHMACSecretKey:      testSecret,
			TokenRSAPublicKey:       pemPublic(t, &k.rsa2.PublicKey),
		}
	}
	tests := []struct {
		name  string
		cfg   func() *config.Config
		token func(t *testing.T) string
		want  error
	}{
		{"RSA kid", jwksOnly, func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "rsa1") }, nil},
		{"RS512 kid", jwksOnly, func(t *testing.T) string { return sign(t, jwt.SigningMethodRS512, k.rsa, claims(), "rsa1") }, nil},
		{"EC kid", jwksOnly, func(t *testing.T) string { return sign(t, jwt.SigningMethodES256, k.p256, claims(), "ec1") }, nil},
		{"EdDSA kid", jwksOnly, func(t *testing.T) string { return sign(t, jwt.SigningMethodEdDSA, k.ed, claims(), "ed1") }, nil},
		{"no kid falls back to the key set", jwksOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "")
		}, nil},
		{"unknown kid", jwksOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "nope")
		}, ErrInvalidToken},
		{"kid of another key type", jwksOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, k.p256, claims(), "rsa1")
		}, ErrInvalidToken},
		{"right kid, wrong signer", jwksOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa2, claims(), "rsa1")
		}, ErrInvalidToken},
		{"ES384 against P-256 JWK", jwksOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES384, k.p384, claims(), "ec1")
		}, ErrInvalidToken},
		{"HMAC not accepted with JWKS only", jwksOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims(), "rsa1")
		}, ErrInvalidToken},
		{"expired", jwksOnly, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"exp": in(-time.Minute)}, "rsa1")
		}, ErrTokenExpired},
		{"mixed: kid goes to JWKS", mixed, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "rsa1")
		}, nil},
		{"mixed: no kid uses static RSA key", mixed, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa2, claims(), "")
		}, nil},
		{"mixed: no kid, JWKS key not tried", mixed, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "")
		}, ErrInvalidToken},
		{"mixed: HMAC with kid uses the secret", mixed, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims(), "rsa1")
		}, nil},
		{"mixed: no kid, EC through key set", mixed, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, k.p256, claims(), "")
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newTestVerifier(t, tt.cfg())
			ct, err := v.VerifyConnectToken(t.Context(), tt.token(t))
			checkErr(t, err, tt.want)
			if tt.want == nil && ct.UserID != "42" {
				t.Fatalf("UserID = %q", ct.UserID)
			}
		})
	}
}

func TestJWKSSubscriptionSeparate(t *testing.T) {
	t.Parallel()
	k := testKeys()
	srv, _ := jwksServer(t)
	v := newTestVerifier(t, &config.Config{
		TokenHMACSecretKey:                  testSecret,
		SeparateSubscriptionTokenConfig:     true,
		SubscriptionTokenJWKSPublicEndpoint: srv.URL,
	})
	tok := sign(t, jwt.SigningMethodES256, k.p256, jwt.MapClaims{"sub": "1", "channel": "c"}, "ec1")
	if _, err := v.VerifySubscriptionToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	// The connection key set has no JWKS.
	_, err := v.VerifyConnectToken(t.Context(), sign(t, jwt.SigningMethodES256, k.p256, jwt.MapClaims{"sub": "1"}, "ec1"))
	checkErr(t, err, ErrInvalidToken)
	// And the connection secret does not sign subscriptions.
	_, err = v.VerifySubscriptionToken(t.Context(), hs256(t, testSecret, jwt.MapClaims{"channel": "c"}))
	checkErr(t, err, ErrInvalidToken)
}

func TestJWKSUnreachableAtStart(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	v := newTestVerifier(t, &config.Config{TokenJWKSPublicEndpoint: url})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := v.VerifyConnectToken(ctx, sign(t, jwt.SigningMethodRS256, testKeys().rsa, jwt.MapClaims{"sub": "1"}, "rsa1"))
	checkErr(t, err, ErrInvalidToken)
}

// TestCloseStopsJWKSRefresh is not parallel: parallel tests only start after
// it, so the only JWKS goroutines alive are its own.
func TestCloseStopsJWKSRefresh(t *testing.T) {
	srv, _ := jwksServer(t)
	v, err := NewVerifier(&config.Config{TokenJWKSPublicEndpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if n := jwksGoroutines(); n == 0 {
		t.Fatal("no JWKS refresh goroutine found; the stack match is stale")
	}
	v.Close()
	deadline := time.Now().Add(5 * time.Second)
	for jwksGoroutines() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d JWKS goroutines still running after Close", jwksGoroutines())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jwksGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "jwkset.NewStorageFromHTTP.func")
}
