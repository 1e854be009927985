package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rotorhq/rotor/internal/config"
)

// GenerateConnectToken returns an HS256 connection token for user, signed
// with token_hmac_secret_key, as the gentoken command prints it. ttl 0 means
// no exp claim; a negative ttl yields an already expired token. When
// token_audience or token_issuer is set the token carries it, so that it
// passes this configuration's own checks.
func GenerateConnectToken(cfg *config.Config, user string, ttl time.Duration) (string, error) {
	if cfg.TokenHMACSecretKey == "" {
		return "", errors.New("auth: token_hmac_secret_key is not set, cannot sign a connection token")
	}
	c := connectClaims{RegisteredClaims: registeredClaims(user, cfg.TokenAudience, cfg.TokenIssuer, ttl)}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(cfg.TokenHMACSecretKey))
}

// GenerateSubscriptionToken returns an HS256 subscription token for user and
// channel. It is signed with subscription_token_hmac_secret_key when
// separate_subscription_token_config is set, with token_hmac_secret_key
// otherwise. ttl works as in GenerateConnectToken.
func GenerateSubscriptionToken(cfg *config.Config, user, channel string, ttl time.Duration) (string, error) {
	secret, aud, iss, key := cfg.TokenHMACSecretKey, cfg.TokenAudience, cfg.TokenIssuer, "token_hmac_secret_key"
	if cfg.SeparateSubscriptionTokenConfig {
		secret, aud, iss, key = cfg.SubscriptionTokenHMACSecretKey, cfg.SubscriptionTokenAudience,
			cfg.SubscriptionTokenIssuer, "subscription_token_hmac_secret_key"
	}
	if secret == "" {
		return "", errors.New("auth: " + key + " is not set, cannot sign a subscription token")
	}
	if channel == "" {
		return "", errors.New("auth: a subscription token needs a channel")
	}
	c := subscriptionClaims{
		RegisteredClaims: registeredClaims(user, aud, iss, ttl),
		Channel:          channel,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}

func registeredClaims(user, aud, iss string, ttl time.Duration) jwt.RegisteredClaims {
	now := time.Now()
	rc := jwt.RegisteredClaims{
		Subject:  user,
		Issuer:   iss,
		IssuedAt: jwt.NewNumericDate(now),
	}
	if aud != "" {
		rc.Audience = jwt.ClaimStrings{aud}
	}
	if ttl != 0 {
		exp := now.Add(ttl).Unix()
		if ttl > 0 && exp <= now.Unix() {
			exp = now.Unix() + 1 // sub-second ttl: exp has whole seconds
		}
		rc.ExpiresAt = jwt.NewNumericDate(time.Unix(exp, 0))
	}
	return rc
}
