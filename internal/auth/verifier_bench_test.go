package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func BenchmarkVerifyHS256(b *testing.B) {
	v := newTestVerifier(b, hmacConfig())
	token := hs256(b, testSecret, jwt.MapClaims{
		"sub":  "user-42",
		"exp":  time.Now().Add(time.Hour).Unix(),
		"iat":  time.Now().Unix(),
		"info": map[string]any{"name": "Ann"},
	})
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyConnectToken(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}
