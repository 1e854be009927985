package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/internal/config"
)

// FuzzVerifyConnectToken feeds arbitrary strings to a verifier that checks
// signatures and to one that skips them (so that mutated payloads reach claim
// decoding). Neither may panic, and every error must wrap one sentinel.
func FuzzVerifyConnectToken(f *testing.F) {
	k := testKeys()
	checked, err := NewVerifier(&config.Config{
		TokenHMACSecretKey: testSecret,
		TokenRSAPublicKey:  pemPublic(f, &k.rsa.PublicKey),
		TokenAudience:      "rotor",
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(checked.Close)
	skipping, err := NewVerifier(&config.Config{
		TokenHMACSecretKey:               testSecret,
		ClientInsecureSkipTokenSignature: true,
		TokenUserIDClaim:                 "uid",
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(skipping.Close)

	exp := time.Now().Add(time.Hour).Unix()
	f.Add(hs256(f, testSecret, jwt.MapClaims{"sub": "1", "aud": "rotor", "exp": exp}))
	f.Add(hs256(f, testSecret, jwt.MapClaims{"sub": "1", "exp": 1}))
	f.Add(hs256(f, testSecret, jwt.MapClaims{
		"sub": "1", "uid": 5, "info": map[string]any{"a": 1}, "b64info": "AAE=", "channels": []any{"a"},
		"subs": map[string]any{"b": map[string]any{"b64data": "AA==", "override": map[string]any{"presence": map[string]any{"value": true}}}},
		"meta": map[string]any{}, "expire_at": exp,
	}))
	f.Add(sign(f, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"sub": "2", "aud": []any{"rotor"}}, "kid"))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "1"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	f.Add(none)
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")

	f.Fuzz(func(t *testing.T, token string) {
		for _, v := range []*Verifier{checked, skipping} {
			if _, err := v.VerifyConnectToken(t.Context(), token); err != nil {
				if errors.Is(err, ErrInvalidToken) == errors.Is(err, ErrTokenExpired) {
					t.Fatalf("error %v wraps both or neither sentinel", err)
				}
			}
			if _, err := v.VerifySubscriptionToken(t.Context(), token); err != nil {
				if errors.Is(err, ErrInvalidToken) == errors.Is(err, ErrTokenExpired) {
					t.Fatalf("error %v wraps both or neither sentinel", err)
				}
			}
		}
	})
}
