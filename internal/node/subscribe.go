package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/config"
)

// subFlags are what a subscription does, fixed when it is made.
type subFlags uint16

const (
	// subServerSide: made by the server (token, connect result, personal
	// channel, API); losing its state closes the connection (3010) rather
	// than unsubscribing (2500), and its expiry closes it with 3006.
	subServerSide subFlags = 1 << iota
	// subPresence keeps the client in the channel's presence.
	subPresence
	// subJoinLeave publishes join and leave events for the client.
	subJoinLeave
	// subPushJoinLeave sends the channel's join and leave events to the client.
	subPushJoinLeave
	// subRecoverable: the client may recover missed publications on resubscribe.
	subRecoverable
	// subPositioned: the subscription tracks its stream position (every
	// recoverable one does); a gap means lost state.
	subPositioned
	// subDelta: Fossil delta compression was negotiated.
	subDelta
	// subServerRefresh: the subscription's expiry is extended through the
	// sub_refresh proxy, not by the client.
	subServerRefresh
)

// maxBufferedPubs bounds the publications buffered for one subscription
// while its stream state loads; more means the subscription cannot keep up
// and it is refused with insufficient state (3010).
const maxBufferedPubs = 10000

// clientSub is one subscription of a client. The same value sits in the
// client's subs map and in the hub.
type clientSub struct {
	flags subFlags
	// tf filters publications by tags (nil: all); fixed.
	tf *protocol.FilterNode

	// Guarded by Client.mu.
	info        []byte
	expireAt    int64
	expireTimer *time.Timer
	// lagAt is 1 + the offset the subscription had when a position check
	// last found it behind its stream (0: it was not behind).
	lagAt uint64

	// joined is set once the subscribe reply went out and join/presence were
	// published, so that a leave follows only a join.
	joined atomic.Bool
	// lost is set once a broadcast found the subscription behind its stream
	// (it is then handed to handleInsufficientState once).
	lost atomic.Bool

	// Hub state: ready and deltaReady are atomics; buffering and epoch are
	// written under the channel's shard write lock before the subscription
	// becomes ready; offset is advanced by the channel's broadcasts.
	ready      atomic.Bool
	buffering  bool
	epoch      string
	offset     atomic.Uint64
	deltaReady atomic.Bool

	bufMu       sync.Mutex
	buf         []bufferedPub
	bufOverflow bool
}

// buffer keeps a publication that arrived while the stream state loads.
func (s *clientSub) buffer(pub *Publication, epoch string) {
	s.bufMu.Lock()
	if len(s.buf) >= maxBufferedPubs {
		s.bufOverflow = true
	} else {
		s.buf = append(s.buf, bufferedPub{pub: pub, epoch: epoch})
	}
	s.bufMu.Unlock()
}

// takeBuffered stops buffering and returns what was buffered (nil after an
// overflow). The caller holds the channel's shard write lock.
func (s *clientSub) takeBuffered() []bufferedPub {
	s.bufMu.Lock()
	defer s.bufMu.Unlock()
	buf := s.buf
	if s.bufOverflow {
		buf = []bufferedPub{{}} // a nil publication: the merge fails
	}
	s.buf, s.bufOverflow, s.buffering = nil, false, false
	return buf
}

// subStart says how a subscription starts in its stream.
type subStart struct {
	// recover asks for the publications after since.
	recover bool
	since   StreamPosition
	// reject answers 112 instead of a reply with recovered false.
	reject bool
	// cache: "cache" recovery mode, only the latest publication.
	cache bool
}

// subState is a subscription's stream state loaded before it becomes ready.
type subState struct {
	// sp is the stream position when it was read.
	sp StreamPosition
	// pubs are the recovered publications (all at or before sp).
	pubs       []*Publication
	recovering bool
	recovered  bool
}

// merge appends the publications buffered while the state loaded to the
// recovered ones, skipping those already there. It returns them with the
// offset the subscription has reached, and false when the buffered ones do
// not follow on (a gap, another epoch, an overflow): the subscription lost
// state.
func (st *subState) merge(buf []bufferedPub) (pubs []*Publication, last uint64, ok bool) {
	pubs = st.pubs
	last = st.sp.Offset
	if len(pubs) > 0 && pubs[len(pubs)-1].Offset > last {
		last = pubs[len(pubs)-1].Offset
	}
	for _, b := range buf {
		if b.pub == nil {
			return nil, 0, false
		}
		if b.pub.Offset == 0 {
			pubs = append(pubs, b.pub) // not in the stream: keep it in order
			continue
		}
		if b.epoch != st.sp.Epoch {
			return nil, 0, false
		}
		if b.pub.Offset <= last {
			continue
		}
		if b.pub.Offset != last+1 {
			return nil, 0, false
		}
		pubs = append(pubs, b.pub)
		last = b.pub.Offset
	}
	return pubs, last, true
}

func historyEnabled(o config.ChannelOptions) bool { return o.HistorySize > 0 && o.HistoryTTL > 0 }

func (n *Node) historyMetaTTL(o config.ChannelOptions) time.Duration {
	if o.HistoryMetaTTL > 0 {
		return o.HistoryMetaTTL
	}
	return n.cfg.GlobalHistoryMetaTTL
}

// loadSubState reads the stream state a positioned subscription starts
// from: the stream position, and the missed publications when recovering.
func (n *Node) loadSubState(ctx context.Context, ch string, opts config.ChannelOptions, start subStart) (subState, error) {
	metaTTL := n.historyMetaTTL(opts)
	st := subState{recovering: start.recover}
	if !start.recover {
		hr, err := n.broker.History(ctx, ch, HistoryOptions{MetaTTL: metaTTL})
		st.sp = hr.StreamPosition
		return st, err
	}
	if start.cache {
		// Cache mode: the latest publication is the whole state.
		hr, err := n.broker.History(ctx, ch, HistoryOptions{Limit: 1, Reverse: true, MetaTTL: metaTTL})
		if err != nil {
			return st, err
		}
		st.sp = hr.StreamPosition
		st.pubs = hr.Publications
		st.recovered = len(hr.Publications) > 0
		return st, nil
	}
	limit := n.cfg.ClientRecoveryMaxPublicationLimit
	if limit <= 0 {
		limit = -1
	}
	since := start.since
	hr, err := n.broker.History(ctx, ch, HistoryOptions{Limit: limit, Since: &since, MetaTTL: metaTTL})
	if errors.Is(err, ErrorUnrecoverablePosition) {
		hr, err = n.broker.History(ctx, ch, HistoryOptions{MetaTTL: metaTTL})
		st.sp = hr.StreamPosition
		return st, err
	}
	if err != nil {
		return st, err
	}
	st.sp = hr.StreamPosition
	epochOK := since.Epoch == "" || since.Epoch == hr.Epoch
	pubs := hr.Publications
	if len(pubs) == 0 {
		st.recovered = epochOK && hr.Offset == since.Offset
	} else {
		st.recovered = epochOK && pubs[0].Offset == since.Offset+1 && pubs[len(pubs)-1].Offset == hr.Offset
	}
	if st.recovered {
		st.pubs = pubs
	}
	// Not recovered: the client reloads its state from the application, so
	// a partial history is no use to it.
	return st, nil
}

// resolveOverride returns the channel options of one subscription with an
// override from a token or the API.
func resolveOverride(opts config.ChannelOptions, ov *auth.SubscribeOverride) config.ChannelOptions {
	if ov == nil {
		return opts
	}
	set := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	set(&opts.Presence, ov.Presence)
	set(&opts.JoinLeave, ov.JoinLeave)
	set(&opts.ForceRecovery, ov.ForceRecovery)
	set(&opts.ForcePositioning, ov.ForcePositioning)
	set(&opts.ForcePushJoinLeave, ov.ForcePushJoinLeave)
	return opts
}

// subFlagsFor works out what a subscription does from its channel options
// and, for client-side ones, what the client asked for (req; nil for
// server-side subscriptions).
func (n *Node) subFlagsFor(ch string, opts config.ChannelOptions, req *protocol.SubscribeRequest) subFlags {
	var f subFlags
	if req == nil {
		f |= subServerSide
	}
	if opts.Presence {
		f |= subPresence
	}
	if opts.JoinLeave {
		f |= subJoinLeave
	}
	if opts.ForcePushJoinLeave || (opts.JoinLeave && (req == nil || req.JoinLeave)) {
		f |= subPushJoinLeave
	}
	if historyEnabled(opts) {
		if opts.ForceRecovery || (req != nil && opts.AllowRecovery && req.Recoverable) {
			f |= subRecoverable | subPositioned
		}
		if opts.ForcePositioning || (req != nil && opts.AllowPositioning && req.Positioned) {
			f |= subPositioned
		}
	}
	if req != nil && req.Delta == DeltaTypeFossil && req.Tf == nil && slices.Contains(opts.AllowedDeltaTypes, DeltaTypeFossil) {
		f |= subDelta
	}
	if n.proxy != nil && n.proxy.SubRefreshEnabled(ch) {
		f |= subServerRefresh
	}
	return f
}

// subscribeFlagRejectUnrecovered is the subscribe request flag asking for
// 112 when recovery is impossible, instead of recovered false.
const subscribeFlagRejectUnrecovered = 2

// startFor returns how a positioned subscription starts, from a client's
// request (nil: a plain start).
func startFor(opts config.ChannelOptions, f subFlags, req *protocol.SubscribeRequest) subStart {
	var st subStart
	if f&subRecoverable == 0 || req == nil || !req.Recover {
		return st
	}
	return subStart{
		recover: true,
		since:   StreamPosition{Offset: req.Offset, Epoch: req.Epoch},
		reject:  req.Flag&subscribeFlagRejectUnrecovered != 0,
		cache:   opts.ForceRecoveryMode == "cache",
	}
}

// addSub records a subscription on the client and in the hub (not yet ready
// for publications).
func (c *Client) addSub(ch string, s *clientSub) error {
	c.mu.Lock()
	if c.status != statusConnected {
		c.mu.Unlock()
		return DisconnectConnectionClosed
	}
	if _, ok := c.subs[ch]; ok {
		c.mu.Unlock()
		return ErrorAlreadySubscribed
	}
	c.subs[ch] = s
	c.mu.Unlock()
	if err := c.n.addSubscription(ch, c, s); err != nil {
		c.mu.Lock()
		if c.subs != nil && c.subs[ch] == s {
			delete(c.subs, ch)
		}
		c.mu.Unlock()
		return err
	}
	if c.isClosed() {
		c.n.removeSubscription(ch, c, s)
		return DisconnectConnectionClosed
	}
	return nil
}

// removeSub forgets the subscription to ch (only when it is only, if given)
// and publishes what leaving means (presence, leave). It returns the
// subscription removed, nil when there was none.
func (c *Client) removeSub(ch string, only *clientSub) *clientSub {
	c.mu.Lock()
	sub := c.subs[ch]
	if sub == nil || (only != nil && sub != only) {
		c.mu.Unlock()
		return nil
	}
	delete(c.subs, ch)
	if sub.expireTimer != nil {
		sub.expireTimer.Stop()
	}
	user := c.user
	c.mu.Unlock()
	c.n.removeSubscription(ch, c, sub)
	c.afterUnsubscribe(ch, sub, user)
	return sub
}

func (c *Client) isSubscribed(ch string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.subs[ch]
	return ok
}

// brokerTimeout bounds a broker call made outside any request (presence,
// join/leave after a subscription changed).
const brokerTimeout = 10 * time.Second

// afterSubscribe runs once the subscribe reply is queued: presence, join,
// and the expiry timer.
func (c *Client) afterSubscribe(ch string, sub *clientSub) {
	ci := c.clientInfo(ch)
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	if sub.flags&subPresence != 0 && c.n.presence != nil {
		if err := c.n.presence.AddPresence(ctx, ch, c.id, ci, c.n.cfg.GlobalPresenceTTL); err != nil {
			c.n.log.Error("add presence", "client", c.id, "channel", ch, "error", err)
		}
	}
	sub.joined.Store(true)
	if sub.flags&subJoinLeave != 0 {
		if err := c.n.broker.PublishJoin(ctx, ch, ci); err != nil {
			c.n.log.Error("publish join", "client", c.id, "channel", ch, "error", err)
		}
	}
	c.mu.Lock()
	if c.subs[ch] == sub {
		c.scheduleSubExpiryLocked(ch, sub)
	}
	c.mu.Unlock()
}

// afterUnsubscribe undoes afterSubscribe for a subscription removed from
// the client and the hub.
func (c *Client) afterUnsubscribe(ch string, sub *clientSub, user string) {
	presence := sub.flags&subPresence != 0 && c.n.presence != nil
	if !sub.joined.Load() || (!presence && sub.flags&subJoinLeave == 0) {
		return // nothing to undo: no context, and no timer, needed
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	if presence {
		if err := c.n.presence.RemovePresence(ctx, ch, c.id, user); err != nil {
			c.n.log.Error("remove presence", "client", c.id, "channel", ch, "error", err)
		}
	}
	if sub.flags&subJoinLeave != 0 {
		c.mu.Lock()
		info := c.info
		c.mu.Unlock()
		ci := &ClientInfo{User: user, Client: c.id, ConnInfo: info, ChanInfo: sub.info}
		if err := c.n.broker.PublishLeave(ctx, ch, ci); err != nil {
			c.n.log.Error("publish leave", "client", c.id, "channel", ch, "error", err)
		}
	}
}

// handleInsufficientState is called when a positioned subscription missed
// publications: a client-side one is unsubscribed with 2500 (the client
// resubscribes and recovers), a server-side one closes the connection with
// 3010 (the client reconnects and recovers).
func (c *Client) handleInsufficientState(ch string, sub *clientSub) {
	c.n.log.Debug("subscription lost its stream position", "client", c.id, "channel", ch)
	if sub.flags&subServerSide != 0 {
		if c.isSubscribedWith(ch, sub) {
			c.Disconnect(DisconnectInsufficientState)
		}
		return
	}
	if c.removeSub(ch, sub) != nil {
		c.writePush(&protocol.Push{Channel: ch, Unsubscribe: &protocol.Unsubscribe{
			Code: UnsubscribeCodeInsufficientState, Reason: "insufficient state",
		}})
	}
}

func (c *Client) isSubscribedWith(ch string, sub *clientSub) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs[ch] == sub
}

func (c *Client) handleSubscribe(cmd *protocol.Command) error {
	req := cmd.Subscribe
	cfg := c.n.cfg
	ch := strings.Clone(req.Channel)
	if ch == "" {
		return DisconnectBadRequest
	}
	if cfg.ChannelMaxLength > 0 && len(ch) > cfg.ChannelMaxLength {
		return ErrorLimitExceeded
	}
	opts, ok := cfg.ChannelOptionsFor(ch)
	if !ok {
		return ErrorUnknownChannel
	}
	if req.Tf != nil && validateFilter(req.Tf) != nil {
		return ErrorBadRequest
	}
	c.mu.Lock()
	user := c.user
	_, already := c.subs[ch]
	numSubs := len(c.subs)
	c.mu.Unlock()
	if already {
		return ErrorAlreadySubscribed
	}
	if cfg.ClientChannelLimit > 0 && numSubs >= cfg.ClientChannelLimit {
		return ErrorLimitExceeded
	}
	if !c.n.channelNameAllowed(ch, opts.ChannelRegex) {
		return ErrorPermissionDenied
	}

	var (
		info     []byte
		expireAt int64
		subData  []byte
		override *auth.SubscribeOverride
	)
	switch {
	case req.Token != "":
		tok, err := c.n.verifier.VerifySubscriptionToken(context.Background(), req.Token)
		if err != nil {
			if errors.Is(err, auth.ErrTokenExpired) {
				return ErrorTokenExpired
			}
			c.n.log.Info("invalid subscription token", "client", c.id, "channel", ch, "error", err)
			return ErrorPermissionDenied
		}
		if tok.UserID != user || tok.Channel != ch {
			c.n.log.Info("subscription token does not match", "client", c.id, "channel", ch, "token_user", tok.UserID, "token_channel", tok.Channel)
			return DisconnectInvalidToken
		}
		if tok.ExpireAt > 0 && tok.ExpireAt <= time.Now().Unix() {
			return ErrorTokenExpired
		}
		info, expireAt, subData, override = tok.Info, tok.ExpireAt, tok.Data, tok.Override
	case cfg.IsPrivateChannel(ch):
		return ErrorPermissionDenied
	case opts.AllowUserLimitedChannels && cfg.UserAllowedInChannel(ch, user):
	case c.n.proxy != nil && c.n.proxy.SubscribeEnabled(ch):
		pres, err := c.n.proxy.Subscribe(c.ctx, &ProxySubscribeRequest{
			ProxyClientInfo: c.proxyInfo(user),
			Channel:         ch,
			Token:           req.Token,
			Data:            req.Data,
		})
		if err != nil {
			return c.proxyError("subscribe", err)
		}
		if pres != nil {
			info, expireAt, subData = pres.Info, pres.ExpireAt, pres.Data
		}
	case opts.AllowSubscribeForClient && (user != "" || opts.AllowSubscribeForAnonymous):
	case cfg.ClientInsecure:
	default:
		return ErrorPermissionDenied
	}

	opts = resolveOverride(opts, override)
	flags := c.n.subFlagsFor(ch, opts, req)
	if expireAt <= 0 {
		flags &^= subServerRefresh
	}
	sub := &clientSub{flags: flags, tf: req.Tf, info: info, expireAt: expireAt}
	start := startFor(opts, flags, req)
	if err := c.addSub(ch, sub); err != nil {
		return err
	}
	var st subState
	if flags&subPositioned != 0 {
		var err error
		st, err = c.n.loadSubState(c.ctx, ch, opts, start)
		if err == nil && start.recover && start.reject && !st.recovered {
			err = ErrorUnrecoverablePosition
		}
		if err != nil {
			c.removeSub(ch, sub)
			return err
		}
	}

	res := &protocol.SubscribeResult{Data: subData}
	if expireAt > 0 && flags&subServerRefresh == 0 {
		res.Expires = true
		if ttl := expireAt - time.Now().Unix(); ttl > 0 {
			res.Ttl = uint32(ttl)
		}
	}
	res.Delta = flags&subDelta != 0
	lost := false
	ready := c.n.hub.setSubReady(ch, c, sub, func(buf []bufferedPub) bool {
		var extra []*Publication
		if flags&subPositioned != 0 {
			pubs, last, ok := st.merge(buf)
			if !ok {
				lost = true
				return false
			}
			sub.epoch = st.sp.Epoch
			sub.offset.Store(last)
			res.Epoch = st.sp.Epoch
			res.Positioned = true
			res.Recoverable = flags&subRecoverable != 0
			if st.recovering {
				res.WasRecovering = true
				res.Recovered = st.recovered
				res.Offset = last
				res.Publications = c.wirePubs(sub, pubs)
			} else {
				res.Offset = st.sp.Offset
				extra = pubs
			}
		}
		if !c.writeReply(&protocol.Reply{Id: cmd.Id, Subscribe: res}) {
			return false
		}
		for _, pp := range c.wirePubs(sub, extra) {
			c.writePush(&protocol.Push{Channel: ch, Pub: pp})
		}
		return true
	})
	if lost {
		c.removeSub(ch, sub)
		return DisconnectInsufficientState
	}
	if ready {
		c.afterSubscribe(ch, sub)
	}
	return nil
}

// wirePubs turns publications into what sub's client gets, leaving out
// those its tags filter rejects.
func (c *Client) wirePubs(sub *clientSub, pubs []*Publication) []*protocol.Publication {
	if len(pubs) == 0 {
		return nil
	}
	out := make([]*protocol.Publication, 0, len(pubs))
	for _, p := range pubs {
		if sub.tf != nil && !filterMatch(sub.tf, p.Tags) {
			continue
		}
		out = append(out, pubForSub(c.proto, sub, p))
	}
	return out
}

func (c *Client) handleUnsubscribe(req *protocol.UnsubscribeRequest) (*protocol.Reply, error) {
	if req.Channel == "" {
		return nil, DisconnectBadRequest
	}
	c.removeSub(req.Channel, nil)
	return &protocol.Reply{Unsubscribe: &protocol.UnsubscribeResult{}}, nil
}

// serverSubSpec describes a server-side subscription to make.
type serverSubSpec struct {
	channel  string
	info     []byte
	data     []byte
	expireAt int64
	override *auth.SubscribeOverride
	// since, when set, recovers from there (API subscribe recover_since).
	since *StreamPosition
}

// pendingSub is a server-side subscription between its registration and its
// first reply.
type pendingSub struct {
	spec serverSubSpec
	sub  *clientSub
	st   subState
}

// newServerSub registers a server-side subscription and loads its stream
// state; recover, when not nil, is what the client sent for the channel in
// its connect command (it recovers from there).
func (c *Client) newServerSub(spec serverSubSpec, recover *protocol.SubscribeRequest) (*pendingSub, error) {
	opts, ok := c.n.cfg.ChannelOptionsFor(spec.channel)
	if !ok {
		return nil, ErrorUnknownChannel
	}
	opts = resolveOverride(opts, spec.override)
	flags := c.n.subFlagsFor(spec.channel, opts, nil)
	if spec.expireAt <= 0 {
		flags &^= subServerRefresh
	}
	sub := &clientSub{flags: flags, info: spec.info, expireAt: spec.expireAt}
	var start subStart
	if flags&subRecoverable != 0 {
		switch {
		case recover != nil && recover.Recover:
			start = subStart{recover: true, since: StreamPosition{Offset: recover.Offset, Epoch: recover.Epoch}}
		case spec.since != nil:
			start = subStart{recover: true, since: *spec.since}
		}
		start.cache = start.recover && opts.ForceRecoveryMode == "cache"
	}
	if err := c.addSub(spec.channel, sub); err != nil {
		return nil, err
	}
	p := &pendingSub{spec: spec, sub: sub}
	if flags&subPositioned != 0 {
		st, err := c.n.loadSubState(c.ctx, spec.channel, opts, start)
		if err != nil {
			c.removeSub(spec.channel, sub)
			return nil, err
		}
		p.st = st
	}
	return p, nil
}

// result merges what was buffered and returns the subscribe result of a
// pending server-side subscription with the publications it recovered, or
// false when it lost state. The caller holds the channel's shard lock.
func (p *pendingSub) result(buf []bufferedPub) (*protocol.SubscribeResult, []*Publication, bool) {
	res := &protocol.SubscribeResult{Data: p.spec.data}
	sub := p.sub
	if sub.expireAt > 0 && sub.flags&subServerRefresh == 0 {
		res.Expires = true
		if ttl := sub.expireAt - time.Now().Unix(); ttl > 0 {
			res.Ttl = uint32(ttl)
		}
	}
	if sub.flags&subPositioned == 0 {
		return res, nil, true
	}
	pubs, last, ok := p.st.merge(buf)
	if !ok {
		return nil, nil, false
	}
	sub.epoch = p.st.sp.Epoch
	sub.offset.Store(last)
	res.Epoch = p.st.sp.Epoch
	res.Positioned = true
	res.Recoverable = sub.flags&subRecoverable != 0
	res.Offset = p.st.sp.Offset
	if p.st.recovering {
		res.WasRecovering = true
		res.Recovered = p.st.recovered
		res.Offset = last
	}
	return res, pubs, true
}

// connectWithServerSubs makes the connection's server-side subscriptions and
// queues the connect reply carrying them. The reply must precede every
// publication of those channels and follow none that it does not account
// for: all their shard locks are held while it is queued and they become
// ready.
func (c *Client) connectWithServerSubs(id uint32, res *protocol.ConnectResult, specs []serverSubSpec, reqSubs map[string]*protocol.SubscribeRequest) error {
	var pending []*pendingSub
	for _, spec := range specs {
		p, err := c.newServerSub(spec, reqSubs[spec.channel])
		if err != nil {
			var d Disconnect
			if errors.As(err, &d) {
				return nil // closed meanwhile
			}
			c.n.log.Error("server-side subscription failed", "client", c.id, "channel", spec.channel, "error", err)
			continue
		}
		pending = append(pending, p)
	}
	reply := &protocol.Reply{Id: id, Connect: res}
	if len(pending) == 0 {
		c.writeReply(reply)
		return nil
	}
	channels := make([]string, len(pending))
	for i, p := range pending {
		channels[i] = p.spec.channel
	}
	var (
		ready []*pendingSub
		lost  bool
	)
	c.n.hub.withChannelsLocked(channels, func() {
		type delivered struct {
			p    *pendingSub
			pubs []*protocol.Publication
		}
		var out []delivered
		for _, p := range pending {
			if !c.n.hub.hasSubLocked(p.spec.channel, c, p.sub) {
				continue
			}
			r, pubs, ok := p.result(p.sub.takeBuffered())
			if !ok {
				lost = true
				return
			}
			if p.st.recovering {
				r.Publications = c.wirePubs(p.sub, pubs)
			} else {
				out = append(out, delivered{p, c.wirePubs(p.sub, pubs)})
			}
			if res.Subs == nil {
				res.Subs = make(map[string]*protocol.SubscribeResult, len(pending))
			}
			res.Subs[p.spec.channel] = r
			ready = append(ready, p)
		}
		if !c.writeReply(reply) {
			ready = nil
			return
		}
		for _, d := range out {
			for _, pp := range d.pubs {
				c.writePush(&protocol.Push{Channel: d.p.spec.channel, Pub: pp})
			}
		}
		for _, p := range ready {
			c.n.hub.markReadyLocked(p.spec.channel, c, p.sub)
		}
	})
	if lost {
		return DisconnectInsufficientState
	}
	for _, p := range ready {
		c.afterSubscribe(p.spec.channel, p.sub)
	}
	return nil
}

// subscribeServerSide makes one server-side subscription of a connected
// client (API subscribe) and sends the subscribe push, followed by what it
// recovered.
func (c *Client) subscribeServerSide(spec serverSubSpec) error {
	p, err := c.newServerSub(spec, nil)
	if err != nil {
		return err
	}
	lost := false
	ready := c.n.hub.setSubReady(spec.channel, c, p.sub, func(buf []bufferedPub) bool {
		r, pubs, ok := p.result(buf)
		if !ok {
			lost = true
			return false
		}
		push := &protocol.Subscribe{
			Recoverable: r.Recoverable,
			Epoch:       r.Epoch,
			Offset:      r.Offset,
			Positioned:  r.Positioned,
			Data:        r.Data,
		}
		if p.st.recovering {
			// The push carries the position before the recovered
			// publications, which follow it.
			for _, pub := range pubs {
				if pub.Offset > 0 {
					push.Offset = pub.Offset - 1
					break
				}
			}
		}
		if !c.writePush(&protocol.Push{Channel: spec.channel, Subscribe: push}) {
			return false
		}
		for _, pp := range c.wirePubs(p.sub, pubs) {
			c.writePush(&protocol.Push{Channel: spec.channel, Pub: pp})
		}
		return true
	})
	if lost {
		c.Disconnect(DisconnectInsufficientState)
		return nil
	}
	if ready {
		c.afterSubscribe(spec.channel, p.sub)
	}
	return nil
}

// PersonalChannel is the channel user_subscribe_to_personal subscribes user
// to: "#user", in user_personal_channel_namespace when set ("ns:#user").
func (n *Node) PersonalChannel(user string) string {
	ch := n.cfg.ChannelUserBoundary + user
	if ns := n.cfg.UserPersonalChannelNamespace; ns != "" {
		ch = ns + n.cfg.ChannelNamespaceBoundary + ch
	}
	return ch
}
