// Package auth verifies the JWTs clients present: connection tokens (in the
// connect and refresh commands) and subscription tokens (in subscribe and
// sub_refresh), with the claims and key settings of Centrifugo v5.
//
// A Verifier is built once from the configuration (NewVerifier) and is safe
// for concurrent use. Keys are taken from token_hmac_secret_key,
// token_rsa_public_key, token_ecdsa_public_key and token_jwks_public_endpoint;
// only the algorithms those keys can check are accepted, so a token signed
// with one kind of key is never checked against another (an HS256 token
// "signed" with the RSA public key is rejected when only RSA is configured).
// With separate_subscription_token_config the subscription_token_* keys check
// subscription tokens instead.
//
// Every verification error wraps ErrInvalidToken or ErrTokenExpired, so the
// caller can map it to a client code with errors.Is, while the wrapped text
// keeps the detail for logs.
package auth
