package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// ConnectToken is what a verified connection token grants.
type ConnectToken struct {
	// UserID is the "sub" claim, or the claim named by token_user_id_claim.
	// "" means an anonymous connection.
	UserID string
	// ExpireAt is when the connection expires, in unix seconds; 0 means never.
	// It comes from "expire_at" when that claim is present (its 0 meaning
	// never), and from "exp" otherwise.
	ExpireAt int64
	// Info is the "info" claim as raw JSON, or the decoded "b64info" claim,
	// which wins when both are set. nil when neither is set.
	Info []byte
	// Channels lists the server-side subscriptions of the "channels" claim.
	Channels []string
	// Subs holds the "subs" claim: server-side subscriptions with options.
	// Centrifugo uses Subs when it is not empty and Channels otherwise.
	Subs map[string]SubscribeOptions
	// Meta is the "meta" claim as raw JSON (an object by convention). It is
	// never sent to clients.
	Meta []byte
}

// SubscribeOptions are the per-channel options of the "subs" claim of a
// connection token.
type SubscribeOptions struct {
	// Info is "info" as raw JSON, or the decoded "b64info" (which wins).
	Info []byte
	// Data is "data" as raw JSON, or the decoded "b64data" (which wins); it is
	// sent to the client in the subscribe push.
	Data []byte
	// Override holds the "override" claim; nil when absent.
	Override *SubscribeOverride
}

// SubscribeOverride replaces channel options for one subscription. A nil
// field keeps the channel's configured value. In the token each field is an
// object {"value": bool}.
type SubscribeOverride struct {
	Presence           *bool // "presence"
	JoinLeave          *bool // "join_leave"
	ForceRecovery      *bool // "force_recovery"
	ForcePositioning   *bool // "force_positioning"
	ForcePushJoinLeave *bool // "force_push_join_leave"
}

// SubscriptionToken is what a verified subscription token grants.
type SubscriptionToken struct {
	// UserID is the "sub" claim (or the configured user ID claim). The server
	// requires it to equal the user of the connection; "" is the anonymous
	// user.
	UserID string
	// Channel is the "channel" claim; never empty in a verified token.
	Channel string
	// ExpireAt is when the subscription expires, in unix seconds; 0 means
	// never. Same rule as ConnectToken.ExpireAt.
	ExpireAt int64
	// Info is "info" as raw JSON, or the decoded "b64info" (which wins).
	Info []byte
	// Data is "data" as raw JSON, or the decoded "b64data" (which wins).
	Data []byte
	// Override holds the "override" claim; nil when absent.
	Override *SubscribeOverride
}

// boolValue is the {"value": bool} wrapper Centrifugo uses in overrides.
type boolValue struct {
	Value bool `json:"value"`
}

type overrideClaim struct {
	Presence           *boolValue `json:"presence,omitempty"`
	JoinLeave          *boolValue `json:"join_leave,omitempty"`
	ForceRecovery      *boolValue `json:"force_recovery,omitempty"`
	ForcePositioning   *boolValue `json:"force_positioning,omitempty"`
	ForcePushJoinLeave *boolValue `json:"force_push_join_leave,omitempty"`
}

type subscribeOptionsClaim struct {
	Info       json.RawMessage `json:"info,omitempty"`
	Base64Info string          `json:"b64info,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Base64Data string          `json:"b64data,omitempty"`
	Override   *overrideClaim  `json:"override,omitempty"`
}

// connectClaims is decoded straight from the token payload; a struct keeps
// decoding cheaper than jwt.MapClaims.
type connectClaims struct {
	jwt.RegisteredClaims
	ExpireAt   *int64                           `json:"expire_at,omitempty"`
	Info       json.RawMessage                  `json:"info,omitempty"`
	Base64Info string                           `json:"b64info,omitempty"`
	Channels   []string                         `json:"channels,omitempty"`
	Subs       map[string]subscribeOptionsClaim `json:"subs,omitempty"`
	Meta       json.RawMessage                  `json:"meta,omitempty"`
	// Channel is only decoded to refuse it: it belongs in subscription tokens.
	Channel string `json:"channel,omitempty"`
}

type subscriptionClaims struct {
	jwt.RegisteredClaims
	subscribeOptionsClaim
	Channel  string `json:"channel,omitempty"`
	ExpireAt *int64 `json:"expire_at,omitempty"`
}

// registered lets the shared checks reach the standard claims of either kind.
func (c *connectClaims) registered() *jwt.RegisteredClaims      { return &c.RegisteredClaims }
func (c *subscriptionClaims) registered() *jwt.RegisteredClaims { return &c.RegisteredClaims }

type tokenClaims interface {
	jwt.Claims
	registered() *jwt.RegisteredClaims
}

// expireAt applies Centrifugo's rule: a present expire_at wins over exp, and
// its 0 (or a negative value) means the connection never expires.
func expireAt(expireAtClaim *int64, exp *jwt.NumericDate) int64 {
	if expireAtClaim != nil {
		if *expireAtClaim > 0 {
			return *expireAtClaim
		}
		return 0
	}
	if exp != nil {
		return exp.Unix()
	}
	return 0
}

// rawOrBase64 returns the b64 variant decoded when set, the raw JSON otherwise.
// A JSON null counts as absent.
func rawOrBase64(name string, raw json.RawMessage, b64 string) ([]byte, error) {
	if b64 != "" {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("%w: b64%s claim is not base64: %v", ErrInvalidToken, name, err)
		}
		return b, nil
	}
	return nonNull(raw), nil
}

func nonNull(raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

func (o *overrideClaim) toOverride() *SubscribeOverride {
	if o == nil {
		return nil
	}
	return &SubscribeOverride{
		Presence:           o.Presence.ptr(),
		JoinLeave:          o.JoinLeave.ptr(),
		ForceRecovery:      o.ForceRecovery.ptr(),
		ForcePositioning:   o.ForcePositioning.ptr(),
		ForcePushJoinLeave: o.ForcePushJoinLeave.ptr(),
	}
}

func (b *boolValue) ptr() *bool {
	if b == nil {
		return nil
	}
	v := b.Value
	return &v
}

func (c *connectClaims) toToken() (ConnectToken, error) {
	if c.Channel != "" {
		return ConnectToken{}, fmt.Errorf("%w: connection token must not have a channel claim", ErrInvalidToken)
	}
	info, err := rawOrBase64("info", c.Info, c.Base64Info)
	if err != nil {
		return ConnectToken{}, err
	}
	t := ConnectToken{
		UserID:   c.Subject,
		ExpireAt: expireAt(c.ExpireAt, c.ExpiresAt),
		Info:     info,
		Channels: c.Channels,
		Meta:     nonNull(c.Meta),
	}
	if len(c.Subs) > 0 {
		t.Subs = make(map[string]SubscribeOptions, len(c.Subs))
		for ch, o := range c.Subs {
			so, err := o.toOptions()
			if err != nil {
				return ConnectToken{}, fmt.Errorf("%w (subs.%s)", err, ch)
			}
			t.Subs[ch] = so
		}
	}
	return t, nil
}

func (o *subscribeOptionsClaim) toOptions() (SubscribeOptions, error) {
	info, err := rawOrBase64("info", o.Info, o.Base64Info)
	if err != nil {
		return SubscribeOptions{}, err
	}
	data, err := rawOrBase64("data", o.Data, o.Base64Data)
	if err != nil {
		return SubscribeOptions{}, err
	}
	return SubscribeOptions{Info: info, Data: data, Override: o.Override.toOverride()}, nil
}

func (c *subscriptionClaims) toToken() (SubscriptionToken, error) {
	if c.Channel == "" {
		return SubscriptionToken{}, fmt.Errorf("%w: subscription token has no channel claim", ErrInvalidToken)
	}
	o, err := c.toOptions()
	if err != nil {
		return SubscriptionToken{}, err
	}
	return SubscriptionToken{
		UserID:   c.Subject,
		Channel:  c.Channel,
		ExpireAt: expireAt(c.ExpireAt, c.ExpiresAt),
		Info:     o.Info,
		Data:     o.Data,
		Override: o.Override,
	}, nil
}
