package testutil

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignHS256 signs claims as an HS256 JWT with secret. It builds tokens the
// server must refuse (signed with another secret, already expired, ...)
// independently of the server's own token code.
func SignHS256(t testing.TB, secret string, claims map[string]any) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(secret))
	if err != nil {
		t.Fatalf("testutil: signing token: %v", err)
	}
	return tok
}

// ExpiredToken returns a connection token for user, signed with the server's
// secret, that expired a minute ago.
func (s *Server) ExpiredToken(t testing.TB, user string) string {
	t.Helper()
	now := time.Now()
	return SignHS256(t, s.Config.TokenHMACSecretKey, map[string]any{
		"sub": user,
		"iat": now.Add(-2 * time.Minute).Unix(),
		"exp": now.Add(-time.Minute).Unix(),
	})
}

// ForeignToken returns a connection token for user, valid for ttl, but signed
// with a random secret the server does not know.
func (s *Server) ForeignToken(t testing.TB, user string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	return SignHS256(t, RandomString(t, 32), map[string]any{
		"sub": user,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	})
}
