package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/rotorhq/rotor/internal/config"
)

func TestGenerateRoundTrip(t *testing.T) {
	t.Parallel()
	shared := func() *config.Config {
		return &config.Config{TokenHMACSecretKey: testSecret, TokenAudience: "rotor", TokenIssuer: "app"}
	}
	separate := func() *config.Config {
		return &config.Config{
			TokenHMACSecretKey:              testSecret,
			SeparateSubscriptionTokenConfig: true,
			SubscriptionTokenHMACSecretKey:  testSubSecret,
			SubscriptionTokenIssuer:         "subs",
		}
	}
	tests := []struct {
		name     string
		cfg      func() *config.Config
		ttl      time.Duration
		wantErr  error
		wantNoEx bool
	}{
		{name: "shared, 1h", cfg: shared, ttl: time.Hour},
		{name: "shared, no ttl", cfg: shared, wantNoEx: true},
		{name: "shared, sub-second ttl", cfg: shared, ttl: time.Millisecond},
		{name: "shared, negative ttl", cfg: shared, ttl: -time.Minute, wantErr: ErrTokenExpired},
		{name: "separate, 1h", cfg: separate, ttl: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg()
			v := newTestVerifier(t, cfg)
			before := time.Now().Unix()

			ctok, err := GenerateConnectToken(cfg, "user-1", tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			ct, err := v.VerifyConnectToken(t.Context(), ctok)
			checkErr(t, err, tt.wantErr)

			stok, err := GenerateSubscriptionToken(cfg, "user-1", "$private", tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			st, err := v.VerifySubscriptionToken(t.Context(), stok)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != nil {
				return
			}
			if ct.UserID != "user-1" || st.UserID != "user-1" || st.Channel != "$private" {
				t.Fatalf("connect %+v, subscription %+v", ct, st)
			}
			for _, exp := range []int64{ct.ExpireAt, st.ExpireAt} {
				switch {
				case tt.wantNoEx && exp != 0:
					t.Fatalf("ExpireAt = %d, want 0", exp)
				case !tt.wantNoEx && (exp <= before || exp > time.Now().Add(tt.ttl).Unix()+1):
					t.Fatalf("ExpireAt = %d, want about now+%s", exp, tt.ttl)
				}
			}
		})
	}
}

func TestGenerateSeparateSecretOnly(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{
		TokenHMACSecretKey:              testSecret,
		SeparateSubscriptionTokenConfig: true,
		SubscriptionTokenHMACSecretKey:  testSubSecret,
	}
	stok, err := GenerateSubscriptionToken(cfg, "u", "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Verified with the shared keys, the token must fail: it was signed with
	// the subscription secret.
	shared := newTestVerifier(t, &config.Config{TokenHMACSecretKey: testSecret})
	_, err = shared.VerifySubscriptionToken(t.Context(), stok)
	checkErr(t, err, ErrInvalidToken)
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	if _, err := GenerateConnectToken(&config.Config{TokenRSAPublicKey: "x"}, "u", 0); err == nil ||
		!strings.Contains(err.Error(), "token_hmac_secret_key") {
		t.Fatalf("connect error = %v", err)
	}
	if _, err := GenerateSubscriptionToken(&config.Config{}, "u", "c", 0); err == nil ||
		!strings.Contains(err.Error(), "token_hmac_secret_key") {
		t.Fatalf("subscription error = %v", err)
	}
	sep := &config.Config{TokenHMACSecretKey: testSecret, SeparateSubscriptionTokenConfig: true}
	if _, err := GenerateSubscriptionToken(sep, "u", "c", 0); err == nil ||
		!strings.Contains(err.Error(), "subscription_token_hmac_secret_key") {
		t.Fatalf("separate subscription error = %v", err)
	}
	if _, err := GenerateSubscriptionToken(hmacConfig(), "u", "", 0); err == nil {
		t.Fatal("empty channel accepted")
	}
}
