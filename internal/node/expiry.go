package node

import (
	"context"
	"errors"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/auth"
)

// scheduleSubExpiryLocked arms the expiry timer of a subscription with an
// expiry: refreshed through the sub_refresh proxy when it expires
// (subServerRefresh), or else expired client_expired_sub_close_delay after
// it unless the client sent sub_refresh. The caller holds c.mu.
func (c *Client) scheduleSubExpiryLocked(ch string, sub *clientSub) {
	if sub.expireTimer != nil {
		sub.expireTimer.Stop()
		sub.expireTimer = nil
	}
	if sub.expireAt <= 0 || c.status == statusClosed {
		return
	}
	until := time.Until(time.Unix(sub.expireAt, 0))
	if sub.flags&subServerRefresh != 0 {
		sub.expireTimer = time.AfterFunc(until, func() { c.refreshSubThroughProxy(ch, sub) })
		return
	}
	sub.expireTimer = time.AfterFunc(until+c.n.cfg.ClientExpiredSubCloseDelay, func() {
		c.mu.Lock()
		current := c.subs[ch] == sub
		exp := sub.expireAt
		c.mu.Unlock()
		if current && exp > 0 && exp <= time.Now().Unix() {
			c.expireSub(ch, sub)
		}
	})
}

// expireSub ends an expired subscription: a client-side one with an
// unsubscribe push 2501 (the client resubscribes with a new token), a
// server-side one by closing the connection with 3006.
func (c *Client) expireSub(ch string, sub *clientSub) {
	if sub.flags&subServerSide != 0 {
		if c.isSubscribedWith(ch, sub) {
			c.Disconnect(DisconnectSubExpired)
		}
		return
	}
	if c.removeSub(ch, sub) != nil {
		c.writePush(&protocol.Push{Channel: ch, Unsubscribe: &protocol.Unsubscribe{
			Code: UnsubscribeCodeSubscriptionExpired, Reason: "subscription expired",
		}})
	}
}

// refreshSubThroughProxy asks the sub_refresh proxy to extend an expiring
// subscription: expired (or no answer) ends it; a failure extends it by a
// minute and asks again (as refreshThroughProxy does for connections).
func (c *Client) refreshSubThroughProxy(ch string, sub *clientSub) {
	if c.isClosed() || !c.isSubscribedWith(ch, sub) {
		return
	}
	res, err := c.n.proxy.SubRefresh(c.ctx, &ProxySubRefreshRequest{ProxyClientInfo: c.proxyInfo(c.User()), Channel: ch})
	if err != nil && !isBackendAnswer(err) {
		if c.isClosed() {
			return
		}
		c.n.log.Warn("sub_refresh proxy failed, subscription extended", "client", c.id, "channel", ch, "retry_in", refreshRetryDelay, "error", err)
		c.mu.Lock()
		if c.subs[ch] == sub {
			sub.expireTimer = time.AfterFunc(refreshRetryDelay, func() { c.refreshSubThroughProxy(ch, sub) })
		}
		c.mu.Unlock()
		return
	}
	// A backend error or disconnect counts as no answer: the subscription
	// ends as expired.
	if err != nil || res == nil || res.Expired {
		c.expireSub(ch, sub)
		return
	}
	c.mu.Lock()
	if c.subs[ch] == sub {
		sub.expireAt = res.ExpireAt
		if res.Info != nil {
			sub.info = res.Info
		}
		c.scheduleSubExpiryLocked(ch, sub)
	}
	c.mu.Unlock()
}

// handleSubRefresh extends a subscription with a new subscription token.
func (c *Client) handleSubRefresh(req *protocol.SubRefreshRequest) (*protocol.Reply, error) {
	if req.Channel == "" {
		return nil, DisconnectBadRequest
	}
	if req.Token == "" {
		return nil, ErrorBadRequest
	}
	c.mu.Lock()
	sub := c.subs[req.Channel]
	user := c.user
	c.mu.Unlock()
	if sub == nil {
		return nil, ErrorPermissionDenied
	}
	tok, err := c.n.verifier.VerifySubscriptionToken(context.Background(), req.Token)
	if err != nil {
		if errors.Is(err, auth.ErrTokenExpired) {
			return nil, ErrorTokenExpired
		}
		c.n.log.Info("invalid subscription refresh token", "client", c.id, "channel", req.Channel, "error", err)
		return nil, DisconnectInvalidToken
	}
	if tok.UserID != user || tok.Channel != req.Channel {
		c.n.log.Info("subscription refresh token does not match", "client", c.id, "channel", req.Channel, "token_user", tok.UserID, "token_channel", tok.Channel)
		return nil, DisconnectInvalidToken
	}
	now := time.Now().Unix()
	if tok.ExpireAt > 0 && tok.ExpireAt <= now {
		return nil, ErrorTokenExpired
	}
	c.mu.Lock()
	if c.subs[req.Channel] == sub {
		sub.expireAt = tok.ExpireAt
		if tok.Info != nil {
			sub.info = tok.Info
		}
		c.scheduleSubExpiryLocked(req.Channel, sub)
	}
	c.mu.Unlock()
	res := &protocol.SubRefreshResult{}
	if tok.ExpireAt > 0 {
		res.Expires = true
		res.Ttl = uint32(tok.ExpireAt - now)
	}
	return &protocol.Reply{SubRefresh: res}, nil
}
