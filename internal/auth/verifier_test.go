package auth

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/internal/config"
)

func TestVerifyConnectTokenSignatures(t *testing.T) {
	t.Parallel()
	k := testKeys()
	rsaCfg := func() *config.Config { return &config.Config{TokenRSAPublicKey: pemPublic(t, &k.rsa.PublicKey)} }
	p256Cfg := func() *config.Config { return &config.Config{TokenECDSAPublicKey: pemPublic(t, &k.p256.PublicKey)} }
	p384Cfg := func() *config.Config { return &config.Config{TokenECDSAPublicKey: pemPublic(t, &k.p384.PublicKey)} }
	allCfg := func() *config.Config {
		return &config.Config{
			TokenHMACSecretKey:  testSecret,
			TokenRSAPublicKey:   pemPublic(t, &k.rsa.PublicKey),
			TokenECDSAPublicKey: pemPublic(t, &k.p256.PublicKey),
		}
	}
	claims := func() jwt.MapClaims { return jwt.MapClaims{"sub": "42", "exp": in(time.Hour)} }
	noneToken := func(t *testing.T) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaPEM := []byte(pemPublic(t, &k.rsa.PublicKey))

	tests := []struct {
		name  string
		cfg   func() *config.Config
		token func(t *testing.T) string
		want  error
	}{
		{"HS256", hmacConfig, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims(), "")
		}, nil},
		{"HS384", hmacConfig, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS384, []byte(testSecret), claims(), "")
		}, nil},
		{"HS512", hmacConfig, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS512, []byte(testSecret), claims(), "")
		}, nil},
		{"RS256", rsaCfg, func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "") }, nil},
		{"RS384", rsaCfg, func(t *testing.T) string { return sign(t, jwt.SigningMethodRS384, k.rsa, claims(), "") }, nil},
		{"RS512", rsaCfg, func(t *testing.T) string { return sign(t, jwt.SigningMethodRS512, k.rsa, claims(), "") }, nil},
		{"ES256", p256Cfg, func(t *testing.T) string { return sign(t, jwt.SigningMethodES256, k.p256, claims(), "") }, nil},
		{"ES384", p384Cfg, func(t *testing.T) string { return sign(t, jwt.SigningMethodES384, k.p384, claims(), "") }, nil},
		{"all keys, HS256", allCfg, func(t *testing.T) string { return hs256(t, testSecret, claims()) }, nil},
		{"all keys, RS256", allCfg, func(t *testing.T) string { return sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "") }, nil},
		{"all keys, ES256", allCfg, func(t *testing.T) string { return sign(t, jwt.SigningMethodES256, k.p256, claims(), "") }, nil},

		{"alg none with HMAC", hmacConfig, noneToken, ErrInvalidToken},
		{"alg none with all keys", allCfg, noneToken, ErrInvalidToken},
		{"wrong HMAC secret", hmacConfig, func(t *testing.T) string { return hs256(t, "other", claims()) }, ErrInvalidToken},
		{"RS256 with only HMAC", hmacConfig, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa, claims(), "")
		}, ErrInvalidToken},
		{"key confusion: HS256 keyed with RSA PEM, only RSA configured", rsaCfg, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, rsaPEM, claims(), "")
		}, ErrInvalidToken},
		{"key confusion: HS256 keyed with RSA PEM, all keys", allCfg, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, rsaPEM, claims(), "")
		}, ErrInvalidToken},
		{"RS256 with other RSA key", rsaCfg, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa2, claims(), "")
		}, ErrInvalidToken},
		{"ES384 with P-256 key configured", p256Cfg, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES384, k.p384, claims(), "")
		}, ErrInvalidToken},
		{"ES256 with only RSA", rsaCfg, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodES256, k.p256, claims(), "")
		}, ErrInvalidToken},
		{"PS256 never accepted", rsaCfg, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodPS256, k.rsa, claims(), "")
		}, ErrInvalidToken},
		{"EdDSA without JWKS", allCfg, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodEdDSA, k.ed, claims(), "")
		}, ErrInvalidToken},
		{"no keys configured", func() *config.Config { return &config.Config{} }, func(t *testing.T) string {
			return hs256(t, testSecret, claims())
		}, ErrInvalidToken},
		{"tampered payload", hmacConfig, func(t *testing.T) string {
			parts := strings.Split(hs256(t, testSecret, claims()), ".")
			parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin"}`))
			return strings.Join(parts, ".")
		}, ErrInvalidToken},
		{"empty", hmacConfig, func(*testing.T) string { return "" }, ErrInvalidToken},
		{"garbage", hmacConfig, func(*testing.T) string { return "a.b.c" }, ErrInvalidToken},
		{"expired RS256", rsaCfg, func(t *testing.T) string {
			return sign(t, jwt.SigningMethodRS256, k.rsa, jwt.MapClaims{"sub": "42", "exp": in(-time.Minute)}, "")
		}, ErrTokenExpired},
		{"expired with bad signature is invalid", hmacConfig, func(t *testing.T) string {
			return hs256(t, "other", jwt.MapClaims{"sub": "42", "exp": in(-time.Minute)})
		}, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newTestVerifier(t, tt.cfg())
			got, err := v.VerifyConnectToken(t.Context(), tt.token(t))
			checkErr(t, err, tt.want)
			if tt.want == nil && got.UserID != "42" {
				t.Fatalf("UserID = %q, want 42", got.UserID)
			}
		})
	}
}

func TestVerifyConnectTokenClaims(t *testing.T) {
	t.Parallel()
	exp := in(time.Hour)
	later := in(48 * time.Hour)
	tests := []struct {
		name   string
		cfg    func() *config.Config
		claims jwt.MapClaims
		want   error
		check  func(t *testing.T, ct ConnectToken)
	}{
		{name: "expired", claims: jwt.MapClaims{"sub": "1", "exp": in(-time.Second)}, want: ErrTokenExpired},
		{name: "exp equal to now is expired", claims: jwt.MapClaims{"sub": "1", "exp": time.Now().Unix() - 0}, want: ErrTokenExpired},
		{name: "nbf in future", claims: jwt.MapClaims{"sub": "1", "nbf": in(time.Minute)}, want: ErrInvalidToken},
		{name: "nbf in past", claims: jwt.MapClaims{"sub": "1", "nbf": in(-time.Minute)}},
		{name: "iat in future ignored", claims: jwt.MapClaims{"sub": "1", "iat": in(time.Hour)}},
		{name: "iat not a number", claims: jwt.MapClaims{"sub": "1", "iat": "yesterday"}, want: ErrInvalidToken},
		{name: "exp not a number", claims: jwt.MapClaims{"sub": "1", "exp": "soon"}, want: ErrInvalidToken},
		{name: "channel claim rejected", claims: jwt.MapClaims{"sub": "1", "channel": "news"}, want: ErrInvalidToken},
		{name: "empty channel claim tolerated", claims: jwt.MapClaims{"sub": "1", "channel": ""}},
		{name: "anonymous", claims: jwt.MapClaims{"exp": exp}, check: func(t *testing.T, ct ConnectToken) {
			if ct.UserID != "" || ct.ExpireAt != exp {
				t.Fatalf("got %+v", ct)
			}
		}},
		{name: "no exp means no expiry", claims: jwt.MapClaims{"sub": "1"}, check: func(t *testing.T, ct ConnectToken) {
			if ct.ExpireAt != 0 {
				t.Fatalf("ExpireAt = %d, want 0", ct.ExpireAt)
			}
		}},
		{name: "exp gives ExpireAt", claims: jwt.MapClaims{"sub": "1", "exp": exp}, check: func(t *testing.T, ct ConnectToken) {
			if ct.ExpireAt != exp {
				t.Fatalf("ExpireAt = %d, want %d", ct.ExpireAt, exp)
			}
		}},
		{name: "expire_at overrides exp", claims: jwt.MapClaims{"sub": "1", "exp": exp, "expire_at": later}, check: func(t *testing.T, ct ConnectToken) {
			if ct.ExpireAt != later {
				t.Fatalf("ExpireAt = %d, want %d", ct.ExpireAt, later)
			}
		}},
		{name: "expire_at 0 means never", claims: jwt.MapClaims{"sub": "1", "exp": exp, "expire_at": 0}, check: func(t *testing.T, ct ConnectToken) {
			if ct.ExpireAt != 0 {
				t.Fatalf("ExpireAt = %d, want 0", ct.ExpireAt)
			}
		}},
		{name: "expire_at in past is not a token error", claims: jwt.MapClaims{"sub": "1", "expire_at": in(-time.Hour)}, check: func(t *testing.T, ct ConnectToken) {
			if ct.ExpireAt == 0 || ct.ExpireAt > time.Now().Unix() {
				t.Fatalf("ExpireAt = %d, want the past value", ct.ExpireAt)
			}
		}},
		{name: "exp past with expire_at future still expired", claims: jwt.MapClaims{"sub": "1", "exp": in(-time.Minute), "expire_at": later}, want: ErrTokenExpired},
		{
			name: "payload claims decoded",
			claims: jwt.MapClaims{
				"sub":      "7",
				"info":     map[string]any{"name": "Ann", "tags": []any{1, 2}},
				"channels": []any{"news", "chat:index"},
				"meta":     map[string]any{"plan": "pro"},
				"subs": map[string]any{
					"personal#7": map[string]any{
						"info":     map[string]any{"x": 1},
						"b64data":  base64.StdEncoding.EncodeToString([]byte{0, 1, 2}),
						"override": map[string]any{"presence": map[string]any{"value": true}, "join_leave": map[string]any{"value": false}, "force_recovery": map[string]any{}},
					},
					"plain": map[string]any{},
				},
			},
			check: func(t *testing.T, ct ConnectToken) {
				if string(ct.Info) != `{"name":"Ann","tags":[1,2]}` {
					t.Errorf("Info = %s", ct.Info)
				}
				if !reflect.DeepEqual(ct.Channels, []string{"news", "chat:index"}) {
					t.Errorf("Channels = %q", ct.Channels)
				}
				if string(ct.Meta) != `{"plan":"pro"}` {
					t.Errorf("Meta = %s", ct.Meta)
				}
				if len(ct.Subs) != 2 {
					t.Fatalf("Subs = %+v", ct.Subs)
				}
				p := ct.Subs["personal#7"]
				if string(p.Info) != `{"x":1}` || !bytes.Equal(p.Data, []byte{0, 1, 2}) {
					t.Errorf("personal#7 = %+v", p)
				}
				want := &SubscribeOverride{Presence: boolp(true), JoinLeave: boolp(false), ForceRecovery: boolp(false)}
				if !reflect.DeepEqual(p.Override, want) {
					t.Errorf("Override = %+v, want %+v", p.Override, want)
				}
				if pl := ct.Subs["plain"]; pl.Info != nil || pl.Data != nil || pl.Override != nil {
					t.Errorf("plain = %+v", pl)
				}
			},
		},
		{name: "b64info decoded and wins over info", claims: jwt.MapClaims{"sub": "1", "info": map[string]any{"a": 1}, "b64info": base64.StdEncoding.EncodeToString([]byte("bin\x00"))},
			check: func(t *testing.T, ct ConnectToken) {
				if string(ct.Info) != "bin\x00" {
					t.Fatalf("Info = %q", ct.Info)
				}
			}},
		{name: "info null is nil", claims: jwt.MapClaims{"sub": "1", "info": nil}, check: func(t *testing.T, ct ConnectToken) {
			if ct.Info != nil {
				t.Fatalf("Info = %q", ct.Info)
			}
		}},
		{name: "bad b64info", claims: jwt.MapClaims{"sub": "1", "b64info": "%%%"}, want: ErrInvalidToken},
		{name: "bad b64data in subs", claims: jwt.MapClaims{"sub": "1", "subs": map[string]any{"a": map[string]any{"b64data": "!"}}}, want: ErrInvalidToken},
		{name: "channels not strings", claims: jwt.MapClaims{"sub": "1", "channels": []any{1}}, want: ErrInvalidToken},
		{name: "sub not a string", claims: jwt.MapClaims{"sub": 1}, want: ErrInvalidToken},

		{name: "audience match", cfg: withCfg(func(c *config.Config) { c.TokenAudience = "rotor" }),
			claims: jwt.MapClaims{"sub": "1", "aud": "rotor"}},
		{name: "audience in list", cfg: withCfg(func(c *config.Config) { c.TokenAudience = "rotor" }),
			claims: jwt.MapClaims{"sub": "1", "aud": []any{"other", "rotor"}}},
		{name: "wrong audience", cfg: withCfg(func(c *config.Config) { c.TokenAudience = "rotor" }),
			claims: jwt.MapClaims{"sub": "1", "aud": "rotorx"}, want: ErrInvalidToken},
		{name: "missing audience", cfg: withCfg(func(c *config.Config) { c.TokenAudience = "rotor" }),
			claims: jwt.MapClaims{"sub": "1"}, want: ErrInvalidToken},
		{name: "wrong audience beats expiry", cfg: withCfg(func(c *config.Config) { c.TokenAudience = "rotor" }),
			claims: jwt.MapClaims{"sub": "1", "aud": "x", "exp": in(-time.Hour)}, want: ErrInvalidToken},
		{name: "audience regex match", cfg: withCfg(func(c *config.Config) { c.TokenAudienceRegex = `^rotor-(dev|prod)$` }),
			claims: jwt.MapClaims{"sub": "1", "aud": []any{"x", "rotor-prod"}}},
		{name: "audience regex mismatch", cfg: withCfg(func(c *config.Config) { c.TokenAudienceRegex = `^rotor-(dev|prod)$` }),
			claims: jwt.MapClaims{"sub": "1", "aud": "rotor-test"}, want: ErrInvalidToken},
		{name: "issuer match", cfg: withCfg(func(c *config.Config) { c.TokenIssuer = "https://app" }),
			claims: jwt.MapClaims{"sub": "1", "iss": "https://app"}},
		{name: "wrong issuer", cfg: withCfg(func(c *config.Config) { c.TokenIssuer = "https://app" }),
			claims: jwt.MapClaims{"sub": "1", "iss": "https://evil"}, want: ErrInvalidToken},
		{name: "missing issuer", cfg: withCfg(func(c *config.Config) { c.TokenIssuer = "https://app" }),
			claims: jwt.MapClaims{"sub": "1"}, want: ErrInvalidToken},
		{name: "issuer regex match", cfg: withCfg(func(c *config.Config) { c.TokenIssuerRegex = `^https://[a-z]+\.example\.com$` }),
			claims: jwt.MapClaims{"sub": "1", "iss": "https://eu.example.com"}},
		{name: "issuer regex mismatch", cfg: withCfg(func(c *config.Config) { c.TokenIssuerRegex = `^https://[a-z]+\.example\.com$` }),
			claims: jwt.MapClaims{"sub": "1", "iss": "https://eu.example.com.evil"}, want: ErrInvalidToken},

		{name: "custom user ID claim", cfg: withCfg(func(c *config.Config) { c.TokenUserIDClaim = "user_id" }),
			claims: jwt.MapClaims{"sub": "ignored", "user_id": "u-9"}, check: func(t *testing.T, ct ConnectToken) {
				if ct.UserID != "u-9" {
					t.Fatalf("UserID = %q", ct.UserID)
				}
			}},
		{name: "custom numeric user ID claim", cfg: withCfg(func(c *config.Config) { c.TokenUserIDClaim = "uid" }),
			claims: jwt.MapClaims{"uid": 12345}, check: func(t *testing.T, ct ConnectToken) {
				if ct.UserID != "12345" {
					t.Fatalf("UserID = %q", ct.UserID)
				}
			}},
		{name: "custom user ID claim missing is anonymous", cfg: withCfg(func(c *config.Config) { c.TokenUserIDClaim = "uid" }),
			claims: jwt.MapClaims{"sub": "1"}, check: func(t *testing.T, ct ConnectToken) {
				if ct.UserID != "" {
					t.Fatalf("UserID = %q", ct.UserID)
				}
			}},
		{name: "custom user ID claim object", cfg: withCfg(func(c *config.Config) { c.TokenUserIDClaim = "uid" }),
			claims: jwt.MapClaims{"uid": map[string]any{}}, want: ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := hmacConfig
			if tt.cfg != nil {
				cfg = tt.cfg
			}
			v := newTestVerifier(t, cfg())
			ct, err := v.VerifyConnectToken(t.Context(), hs256(t, testSecret, tt.claims))
			checkErr(t, err, tt.want)
			if err == nil && tt.check != nil {
				tt.check(t, ct)
			}
		})
	}
}

// withCfg returns an HMAC config changed by f.
func withCfg(f func(*config.Config)) func() *config.Config {
	return func() *config.Config {
		c := hmacConfig()
		f(c)
		return c
	}
}

func TestVerifySubscriptionToken(t *testing.T) {
	t.Parallel()
	separate := func() *config.Config {
		return &config.Config{
			TokenHMACSecretKey:              testSecret,
			SeparateSubscriptionTokenConfig: true,
			SubscriptionTokenHMACSecretKey:  testSubSecret,
			SubscriptionTokenAudience:       "subs",
		}
	}
	exp := in(time.Hour)
	subClaims := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "42", "channel": "$secret", "exp": exp, "aud": "subs"}
	}
	tests := []struct {
		name   string
		cfg    func() *config.Config
		secret string
		claims jwt.MapClaims
		want   error
		check  func(t *testing.T, st SubscriptionToken)
	}{
		{name: "shared keys", cfg: hmacConfig, secret: testSecret,
			claims: jwt.MapClaims{"sub": "42", "channel": "$secret", "exp": exp},
			check: func(t *testing.T, st SubscriptionToken) {
				if st.UserID != "42" || st.Channel != "$secret" || st.ExpireAt != exp {
					t.Fatalf("got %+v", st)
				}
			}},
		{name: "separate keys", cfg: separate, secret: testSubSecret, claims: subClaims()},
		{name: "separate keys reject connection secret", cfg: separate, secret: testSecret, claims: subClaims(), want: ErrInvalidToken},
		{name: "separate audience applies", cfg: separate, secret: testSubSecret,
			claims: jwt.MapClaims{"sub": "42", "channel": "$secret"}, want: ErrInvalidToken},
		{name: "shared keys reject other secret", cfg: hmacConfig, secret: testSubSecret,
			claims: jwt.MapClaims{"channel": "c"}, want: ErrInvalidToken},
		{name: "channel required", cfg: hmacConfig, secret: testSecret, claims: jwt.MapClaims{"sub": "42"}, want: ErrInvalidToken},
		{name: "anonymous", cfg: hmacConfig, secret: testSecret, claims: jwt.MapClaims{"channel": "c"},
			check: func(t *testing.T, st SubscriptionToken) {
				if st.UserID != "" || st.ExpireAt != 0 {
					t.Fatalf("got %+v", st)
				}
			}},
		{name: "expired", cfg: hmacConfig, secret: testSecret,
			claims: jwt.MapClaims{"channel": "c", "exp": in(-time.Minute)}, want: ErrTokenExpired},
		{name: "nbf in future", cfg: hmacConfig, secret: testSecret,
			claims: jwt.MapClaims{"channel": "c", "nbf": in(time.Minute)}, want: ErrInvalidToken},
		{name: "expire_at and payload", cfg: hmacConfig, secret: testSecret,
			claims: jwt.MapClaims{
				"sub": "42", "channel": "c", "exp": exp, "expire_at": 0,
				"info": []any{"x"}, "b64data": base64.StdEncoding.EncodeToString([]byte("d")),
				"override": map[string]any{
					"force_positioning":     map[string]any{"value": true},
					"force_push_join_leave": map[string]any{"value": true},
				},
				"client": "deprecated-and-ignored",
			},
			check: func(t *testing.T, st SubscriptionToken) {
				if st.ExpireAt != 0 || string(st.Info) != `["x"]` || string(st.Data) != "d" {
					t.Fatalf("got %+v", st)
				}
				want := &SubscribeOverride{ForcePositioning: boolp(true), ForcePushJoinLeave: boolp(true)}
				if !reflect.DeepEqual(st.Override, want) {
					t.Fatalf("Override = %+v", st.Override)
				}
			}},
		{name: "data raw, b64info", cfg: hmacConfig, secret: testSecret,
			claims: jwt.MapClaims{"channel": "c", "data": map[string]any{"k": "v"}, "b64info": base64.StdEncoding.EncodeToString([]byte("i"))},
			check: func(t *testing.T, st SubscriptionToken) {
				if string(st.Info) != "i" || string(st.Data) != `{"k":"v"}` || st.Override != nil {
					t.Fatalf("got %+v", st)
				}
			}},
		{name: "separate user ID claim", secret: testSubSecret,
			cfg: func() *config.Config {
				c := separate()
				c.SubscriptionTokenAudience = ""
				c.SubscriptionTokenUserIDClaim = "uid"
				return c
			},
			claims: jwt.MapClaims{"sub": "x", "uid": "u", "channel": "c"},
			check: func(t *testing.T, st SubscriptionToken) {
				if st.UserID != "u" {
					t.Fatalf("UserID = %q", st.UserID)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newTestVerifier(t, tt.cfg())
			st, err := v.VerifySubscriptionToken(t.Context(), hs256(t, tt.secret, tt.claims))
			checkErr(t, err, tt.want)
			if err == nil && tt.check != nil {
				tt.check(t, st)
			}
		})
	}
}

func TestSeparateConfigKeepsConnectionKeys(t *testing.T) {
	t.Parallel()
	v := newTestVerifier(t, &config.Config{
		TokenHMACSecretKey:              testSecret,
		SeparateSubscriptionTokenConfig: true,
		SubscriptionTokenHMACSecretKey:  testSubSecret,
	})
	ctx := t.Context()
	_, err := v.VerifyConnectToken(ctx, hs256(t, testSecret, jwt.MapClaims{"sub": "1"}))
	checkErr(t, err, nil)
	_, err = v.VerifyConnectToken(ctx, hs256(t, testSubSecret, jwt.MapClaims{"sub": "1"}))
	checkErr(t, err, ErrInvalidToken)
}

func TestSkipSignatureVerify(t *testing.T) {
	t.Parallel()
	cfg := hmacConfig()
	cfg.ClientInsecureSkipTokenSignature = true
	cfg.TokenAudience = "rotor"
	v := newTestVerifier(t, cfg)
	ctx := t.Context()

	ct, err := v.VerifyConnectToken(ctx, hs256(t, "any-secret", jwt.MapClaims{"sub": "9", "aud": "rotor"}))
	checkErr(t, err, nil)
	if ct.UserID != "9" {
		t.Fatalf("UserID = %q", ct.UserID)
	}
	_, err = v.VerifyConnectToken(ctx, hs256(t, "any-secret", jwt.MapClaims{"sub": "9", "aud": "rotor", "exp": in(-time.Second)}))
	checkErr(t, err, ErrTokenExpired)
	_, err = v.VerifyConnectToken(ctx, hs256(t, "any-secret", jwt.MapClaims{"sub": "9", "aud": "other"}))
	checkErr(t, err, ErrInvalidToken)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "9", "aud": "rotor"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.VerifyConnectToken(ctx, none)
	checkErr(t, err, ErrInvalidToken)
	st, err := v.VerifySubscriptionToken(ctx, hs256(t, "x", jwt.MapClaims{"channel": "c", "aud": "rotor"}))
	checkErr(t, err, nil)
	if st.Channel != "c" {
		t.Fatalf("Channel = %q", st.Channel)
	}
}

func TestNewVerifierErrors(t *testing.T) {
	t.Parallel()
	k := testKeys()
	tests := []struct {
		name    string
		cfg     config.Config
		wantKey string
	}{
		{"bad RSA PEM", config.Config{TokenRSAPublicKey: "not a pem"}, "token_rsa_public_key"},
		{"EC key as RSA key", config.Config{TokenRSAPublicKey: pemPublic(t, &k.p256.PublicKey)}, "token_rsa_public_key"},
		{"bad ECDSA PEM", config.Config{TokenECDSAPublicKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}, "token_ecdsa_public_key"},
		{"RSA key as ECDSA key", config.Config{TokenECDSAPublicKey: pemPublic(t, &k.rsa.PublicKey)}, "token_ecdsa_public_key"},
		{"bad audience regex", config.Config{TokenAudienceRegex: "("}, "token_audience_regex"},
		{"bad issuer regex", config.Config{TokenIssuerRegex: "[a-"}, "token_issuer_regex"},
		{"audience and regex", config.Config{TokenAudience: "a", TokenAudienceRegex: "a"}, "token_audience_regex"},
		{"issuer and regex", config.Config{TokenIssuer: "a", TokenIssuerRegex: "a"}, "token_issuer_regex"},
		{"JWKS template", config.Config{TokenJWKSPublicEndpoint: "https://{{tenant}}.example.com/jwks"}, "token_jwks_public_endpoint"},
		{"JWKS bad URL", config.Config{TokenJWKSPublicEndpoint: "::not a url"}, "token_jwks_public_endpoint"},
		{"separate bad RSA", config.Config{SeparateSubscriptionTokenConfig: true, SubscriptionTokenRSAPublicKey: "x"}, "subscription_token_rsa_public_key"},
		{"separate bad issuer regex", config.Config{SeparateSubscriptionTokenConfig: true, SubscriptionTokenIssuerRegex: "("}, "subscription_token_issuer_regex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier(&tt.cfg)
			if err == nil {
				v.Close()
				t.Fatal("NewVerifier succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Fatalf("error %q does not name %s", err, tt.wantKey)
			}
		})
	}
}

func TestSubscriptionSettingsIgnoredWhenNotSeparate(t *testing.T) {
	t.Parallel()
	// Without separate_subscription_token_config the subscription_token_*
	// keys are not read, so a bad value there is not an error.
	v := newTestVerifier(t, &config.Config{TokenHMACSecretKey: testSecret, SubscriptionTokenRSAPublicKey: "junk"})
	_, err := v.VerifySubscriptionToken(t.Context(), hs256(t, testSecret, jwt.MapClaims{"channel": "c"}))
	checkErr(t, err, nil)
}

func TestCloseIdempotent(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(hmacConfig())
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	v.Close()
	var nilV *Verifier
	nilV.Close()
	_, err = v.VerifyConnectToken(t.Context(), hs256(t, testSecret, jwt.MapClaims{"sub": "1"}))
	checkErr(t, err, nil)
}
