package node

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/protocol"
	"github.com/google/uuid"

	"github.com/rotorhq/rotor/internal/auth"
)

type clientStatus uint8

const (
	statusConnecting clientStatus = iota
	statusConnected
	statusClosed
)

// Client is one client connection: its session state, subscriptions and
// outgoing queue. Commands from one connection are handled in order by the
// transport's read loop (HandleFrame), or up to client_concurrency at a time
// when that is above 1; everything else that touches a client (broadcasts,
// API calls, pings, timers) is safe to call concurrently.
type Client struct {
	n       *Node
	t       Transport
	proto   protocol.Type
	id      string
	w       *writer
	headers http.Header
	// ctx is cancelled when the client closes; proxy calls use it.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	status   clientStatus
	user     string
	info     []byte
	meta     []byte
	expireAt int64
	// serverRefresh: expiry is extended through the refresh proxy rather
	// than by the client sending a new token.
	serverRefresh bool
	subs          map[string]*clientSub
	pingSlot      int

	// sem bounds the commands handled at once when client_concurrency is
	// above 1; nil means one at a time, in the read loop.
	sem chan struct{}

	awaitingPong atomic.Bool
	staleTimer   *time.Timer
	expireTimer  *time.Timer
	closeOnce    sync.Once
	closed       chan struct{}
}

// ClientOptions describe a new connection.
type ClientOptions struct {
	// Headers of the HTTP request that opened the connection; proxies
	// forward those named in proxy_http_headers.
	Headers http.Header
}

// NewClient creates the session of a new connection. The client must send a
// connect command within client_stale_close_delay, or it is closed with 3502.
func (n *Node) NewClient(t Transport, opts ClientOptions) (*Client, error) {
	if n.closing.Load() {
		return nil, DisconnectShutdown
	}
	c := &Client{
		n:       n,
		t:       t,
		proto:   t.Protocol(),
		id:      uuid.NewString(),
		headers: n.keptHeaders(opts.Headers),
		subs:    make(map[string]*clientSub),
		closed:  make(chan struct{}),
	}
	if n.cfg.ClientConcurrency > 1 {
		c.sem = make(chan struct{}, n.cfg.ClientConcurrency)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.w = newWriter(c.proto, n.writerConfig(), t.Write, func(err error) {
		n.log.Debug("client write failed", "client", c.id, "error", err)
		c.close(DisconnectWriteError, false)
	})
	if nw, ok := t.(NoWaitWriter); ok && nw.CanWriteNoWait() {
		c.w.writeNoWait = nw.WriteNoWait
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.staleTimer = time.AfterFunc(n.cfg.ClientStaleCloseDelay, func() {
		c.mu.Lock()
		stale := c.status == statusConnecting
		c.mu.Unlock()
		if stale {
			c.Disconnect(DisconnectStale)
		}
	})
	return c, nil
}

// ID returns the client id.
func (c *Client) ID() string { return c.id }

// User returns the user id ("" for anonymous or not yet connected).
func (c *Client) User() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// Done is closed once the client is closed.
func (c *Client) Done() <-chan struct{} { return c.closed }

// HandleFrame handles every command in one frame read from the transport. It
// returns false when the client is closed and the transport should stop
// reading. With client_concurrency above 1, commands may still run after it
// returns: data must not be modified afterwards.
func (c *Client) HandleFrame(data []byte) bool {
	if len(data) == 0 {
		return !c.isClosed()
	}
	c.awaitingPong.Store(false)
	dec := protocol.GetCommandDecoder(c.proto, data)
	defer protocol.PutCommandDecoder(c.proto, dec)
	for {
		cmd, err := dec.Decode()
		if cmd != nil {
			if !c.dispatch(cmd) {
				return false
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			c.n.log.Info("malformed frame from client", "client", c.id, "error", err)
			c.Disconnect(DisconnectBadRequest)
			return false
		}
	}
	return !c.isClosed()
}

// dispatch handles cmd: in the read loop, or, with client_concurrency above
// 1, in a goroutine of its own once fewer than client_concurrency commands of
// the connection are in flight (the read loop waits for a slot). Connect is
// always handled in the read loop, so nothing runs before it is done. Each
// reply carries its command's id, so replies may go out of order.
func (c *Client) dispatch(cmd *protocol.Command) bool {
	if c.sem == nil || cmd.Connect != nil || isEmptyCommand(cmd) {
		return c.handleCommand(cmd)
	}
	select {
	case c.sem <- struct{}{}:
	case <-c.closed:
		return false
	}
	go func() {
		defer func() { <-c.sem }()
		c.handleCommand(cmd)
	}()
	return !c.isClosed()
}

// OnTransportClosed must be called by the transport when the connection is
// gone (read error or peer close): it releases the client's state.
func (c *Client) OnTransportClosed() {
	c.close(DisconnectConnectionClosed, false)
}

// Disconnect sends d to the client and closes the connection.
func (c *Client) Disconnect(d Disconnect) {
	c.close(d, true)
}

func (c *Client) closeSlow() {
	go c.Disconnect(DisconnectSlow)
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (c *Client) close(d Disconnect, send bool) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		wasConnected := c.status == statusConnected
		c.status = statusClosed
		subs := c.subs
		c.subs = nil
		for _, sub := range subs {
			if sub.expireTimer != nil {
				sub.expireTimer.Stop()
			}
		}
		slot := c.pingSlot
		user := c.user
		c.staleTimer.Stop()
		if c.expireTimer != nil {
			c.expireTimer.Stop()
		}
		c.mu.Unlock()
		close(c.closed)
		c.cancel()

		c.w.close(send)
		if wasConnected {
			c.n.pinger.remove(c, slot)
			c.n.hub.removeConn(c)
			for ch, sub := range subs {
				c.n.removeSubscription(ch, c, sub)
				c.afterUnsubscribe(ch, sub, user)
			}
		}
		if send {
			if err := c.t.Close(d); err != nil {
				c.n.log.Debug("close transport", "client", c.id, "error", err)
			}
		}
		c.n.log.Debug("client closed", "client", c.id, "user", user, "code", d.Code, "reason", d.Reason)
	})
}

// send queues an encoded reply; a full queue disconnects the client (3008).
// An urgent reply does not wait for the write delay.
func (c *Client) send(data []byte, urgent bool) bool {
	if !c.w.enqueue(data, urgent) {
		if !c.isClosed() {
			c.closeSlow()
		}
		return false
	}
	return true
}

func (c *Client) writeReply(r *protocol.Reply) bool {
	b, err := protocol.GetReplyEncoder(c.proto).Encode(r)
	if err != nil {
		// Asynchronously: writeReply may run under a hub shard lock, which
		// closing the client takes.
		c.n.log.Error("encode reply", "client", c.id, "error", err)
		go c.Disconnect(DisconnectServerError)
		return false
	}
	// Replies to commands skip the write delay when
	// client_reply_without_queue is set; pushes always wait.
	return c.send(b, r.Push == nil && c.n.cfg.ClientReplyWithoutQueue)
}

func (c *Client) writePush(p *protocol.Push) bool {
	return c.writeReply(&protocol.Reply{Push: p})
}

// sendPing queues a server ping; the flush it needs, if any, joins j.
func (c *Client) sendPing(j *flushJob) {
	if c.awaitingPong.Load() {
		return
	}
	c.awaitingPong.Store(true)
	msg := pingJSON
	if c.proto == protocol.TypeProtobuf {
		msg = pingProtobuf
	}
	ok, start := c.w.enqueueNoFlush(msg)
	if !ok {
		if !c.isClosed() {
			c.closeSlow()
		}
		return
	}
	if start {
		j.add(c.w)
	}
}

// Empty replies are server pings.
var (
	pingJSON     = []byte("{}")
	pingProtobuf = []byte{}
)

func (c *Client) checkPong() {
	if c.awaitingPong.Load() {
		c.Disconnect(DisconnectNoPong)
	}
}

// handleCommand runs one command. It returns false when the client got
// closed.
func (c *Client) handleCommand(cmd *protocol.Command) bool {
	c.mu.Lock()
	status := c.status
	c.mu.Unlock()
	if status == statusClosed {
		return false
	}
	if cmd.Connect != nil {
		return c.reply(cmd, c.handleConnect(cmd))
	}
	if status != statusConnected {
		if isEmptyCommand(cmd) {
			return true
		}
		c.Disconnect(DisconnectBadRequest)
		return false
	}
	var res *protocol.Reply
	var err error
	switch {
	case cmd.Subscribe != nil:
		return c.reply(cmd, c.handleSubscribe(cmd))
	case cmd.Unsubscribe != nil:
		res, err = c.handleUnsubscribe(cmd.Unsubscribe)
	case cmd.Publish != nil:
		res, err = c.handlePublish(cmd.Publish)
	case cmd.Refresh != nil:
		res, err = c.handleRefresh(cmd.Refresh)
	case cmd.Rpc != nil:
		res, err = c.handleRPC(cmd.Rpc)
	case cmd.Send != nil:
		c.handleSend(cmd.Send)
		return !c.isClosed()
	case cmd.Ping != nil:
		res = &protocol.Reply{Ping: &protocol.PingResult{}}
	case cmd.Presence != nil:
		res, err = c.handlePresence(cmd.Presence)
	case cmd.PresenceStats != nil:
		res, err = c.handlePresenceStats(cmd.PresenceStats)
	case cmd.History != nil:
		res, err = c.handleHistory(cmd.History)
	case cmd.SubRefresh != nil:
		res, err = c.handleSubRefresh(cmd.SubRefresh)
	default:
		if isEmptyCommand(cmd) {
			return true // pong
		}
		c.Disconnect(DisconnectBadRequest)
		return false
	}
	if err != nil {
		return c.reply(cmd, err)
	}
	res.Id = cmd.Id
	return c.writeReply(res)
}

func isEmptyCommand(cmd *protocol.Command) bool {
	return cmd.Id == 0 && cmd.Connect == nil && cmd.Subscribe == nil && cmd.Unsubscribe == nil &&
		cmd.Publish == nil && cmd.Presence == nil && cmd.PresenceStats == nil && cmd.History == nil &&
		cmd.Ping == nil && cmd.Send == nil && cmd.Rpc == nil && cmd.Refresh == nil && cmd.SubRefresh == nil
}

// reply answers cmd with the outcome of a handler that writes its own
// successful reply: nil means done; a Disconnect closes the connection; an
// *Error is sent back; anything else is logged and sent as 100.
func (c *Client) reply(cmd *protocol.Command, err error) bool {
	if err == nil {
		return !c.isClosed()
	}
	var d Disconnect
	if errors.As(err, &d) {
		c.Disconnect(d)
		return false
	}
	e := ToError(err)
	if e == ErrorInternal && !errors.Is(err, ErrorInternal) {
		c.n.log.Error("command failed", "client", c.id, "error", err)
	}
	return c.writeReply(&protocol.Reply{Id: cmd.Id, Error: e.toProto()})
}

func (c *Client) handleConnect(cmd *protocol.Command) error {
	req := cmd.Connect
	c.mu.Lock()
	status := c.status
	c.mu.Unlock()
	if status != statusConnecting {
		return DisconnectBadRequest
	}
	cfg := c.n.cfg
	var (
		user     string
		info     []byte
		expireAt int64
		channels []string
		subs     map[string]auth.SubscribeOptions
		meta     []byte
		data     []byte
	)
	var subExpire map[string]int64 // expiry of the connect result's subs
	switch {
	case req.Token != "":
		tok, err := c.n.verifier.VerifyConnectToken(context.Background(), req.Token)
		if err != nil {
			if errors.Is(err, auth.ErrTokenExpired) {
				return ErrorTokenExpired
			}
			c.n.log.Info("invalid connection token", "client", c.id, "error", err)
			return DisconnectInvalidToken
		}
		if tok.UserID == "" && cfg.DisallowAnonymousConnectionTokens {
			return DisconnectPermissionDenied
		}
		user, info, expireAt, channels, subs = tok.UserID, tok.Info, tok.ExpireAt, tok.Channels, tok.Subs
		meta = tok.Meta
	case c.n.proxy != nil && c.n.proxy.ConnectEnabled():
		res, err := c.n.proxy.Connect(c.ctx, &ProxyConnectRequest{
			ProxyClientInfo: c.proxyInfo(""),
			Data:            req.Data,
			Name:            req.Name,
			Version:         req.Version,
		})
		if err != nil {
			return c.proxyError("connect", err)
		}
		if res == nil {
			return DisconnectBadRequest
		}
		user, info, expireAt, channels, meta, data = res.User, res.Info, res.ExpireAt, res.Channels, res.Meta, res.Data
		for ch, o := range res.Subs {
			if subs == nil {
				subs = make(map[string]auth.SubscribeOptions, len(res.Subs))
			}
			subs[ch] = auth.SubscribeOptions{Info: o.Info, Data: o.Data}
			if o.ExpireAt > 0 {
				if subExpire == nil {
					subExpire = make(map[string]int64)
				}
				subExpire[ch] = o.ExpireAt
			}
		}
	case cfg.ClientInsecure, cfg.AllowAnonymousConnectWithoutToken:
	default:
		c.n.log.Info("client sent no credentials", "client", c.id)
		return DisconnectBadRequest
	}
	now := time.Now().Unix()
	if expireAt > 0 && expireAt <= now {
		return ErrorTokenExpired
	}
	if cfg.ClientConnectionLimit > 0 && c.n.hub.numClients() >= cfg.ClientConnectionLimit {
		c.n.log.Info("node connection limit reached", "client", c.id, "limit", cfg.ClientConnectionLimit)
		return DisconnectConnectionLimit
	}
	if user != "" && cfg.ClientUserConnectionLimit > 0 && c.n.hub.numUserConns(user) >= cfg.ClientUserConnectionLimit {
		c.n.log.Info("user connection limit reached", "client", c.id, "user", user, "limit", cfg.ClientUserConnectionLimit)
		return DisconnectConnectionLimit
	}

	// Server-side subscriptions: the token's (or connect result's) subs, or
	// else its channels, and the user's personal channel.
	var specs []serverSubSpec
	if len(subs) > 0 {
		for ch, o := range subs {
			specs = append(specs, serverSubSpec{channel: ch, info: o.Info, data: o.Data, override: o.Override, expireAt: subExpire[ch]})
		}
	} else {
		for _, ch := range channels {
			specs = append(specs, serverSubSpec{channel: ch})
		}
	}
	personal := ""
	if cfg.UserSubscribeToPersonal && user != "" {
		personal = c.n.PersonalChannel(user)
		if !slices.ContainsFunc(specs, func(s serverSubSpec) bool { return s.channel == personal }) {
			specs = append(specs, serverSubSpec{channel: personal})
		}
	}
	for _, s := range specs {
		if _, ok := cfg.ChannelOptionsFor(s.channel); !ok {
			return ErrorUnknownChannel
		}
	}

	c.mu.Lock()
	if c.status != statusConnecting {
		c.mu.Unlock()
		return DisconnectBadRequest
	}
	c.status = statusConnected
	c.user = user
	c.info = info
	c.meta = meta
	c.expireAt = expireAt
	c.serverRefresh = c.n.proxy != nil && c.n.proxy.RefreshEnabled()
	serverRefresh := c.serverRefresh
	c.staleTimer.Stop()
	c.mu.Unlock()
	if personal != "" && cfg.UserPersonalSingleConnection {
		// One connection per user: the new one wins.
		_ = c.n.Disconnect(c.ctx, user, DisconnectConnectionLimit, DisconnectOptions{Whitelist: []string{c.id}})
	}
	c.n.hub.addConn(c)
	slot := c.n.pinger.add(c)
	c.mu.Lock()
	c.pingSlot = slot
	c.mu.Unlock()
	if c.isClosed() {
		// Closed while connecting: undo what close could not see.
		c.n.pinger.remove(c, slot)
		c.n.hub.removeConn(c)
		return nil
	}
	c.scheduleExpiry(expireAt)

	res := &protocol.ConnectResult{
		Client:  c.id,
		Version: Version,
		Data:    data,
		Ping:    uint32(cfg.PingInterval / time.Second),
		Pong:    true,
	}
	if expireAt > 0 && !serverRefresh {
		res.Expires = true
		res.Ttl = uint32(expireAt - now)
	}
	return c.connectWithServerSubs(cmd.Id, res, specs, req.Subs)
}

// scheduleExpiry closes the connection with 3005 once expireAt (plus
// client_expired_close_delay) passes without a refresh.
func (c *Client) scheduleExpiry(expireAt int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expireTimer != nil {
		c.expireTimer.Stop()
		c.expireTimer = nil
	}
	if expireAt <= 0 || c.status == statusClosed {
		return
	}
	if c.serverRefresh {
		c.expireTimer = time.AfterFunc(time.Until(time.Unix(expireAt, 0)), c.refreshThroughProxy)
		return
	}
	d := time.Until(time.Unix(expireAt, 0)) + c.n.cfg.ClientExpiredCloseDelay
	c.expireTimer = time.AfterFunc(d, func() {
		c.mu.Lock()
		exp := c.expireAt
		c.mu.Unlock()
		if exp > 0 && exp <= time.Now().Unix() {
			c.Disconnect(DisconnectExpired)
		}
	})
}

// refreshRetryDelay is how long a connection is extended when the refresh
// proxy fails, before it is asked again.
const refreshRetryDelay = 60 * time.Second

// refreshThroughProxy asks the refresh proxy to extend an expiring
// connection: expired (or no answer) closes it with 3005; a failure extends
// it by a minute and tries again.
func (c *Client) refreshThroughProxy() {
	if c.isClosed() {
		return
	}
	res, err := c.n.proxy.Refresh(c.ctx, &ProxyRefreshRequest{ProxyClientInfo: c.proxyInfo(c.User())})
	if err != nil && !isBackendAnswer(err) {
		if c.isClosed() {
			return
		}
		c.n.log.Warn("refresh proxy failed, connection extended", "client", c.id, "retry_in", refreshRetryDelay, "error", err)
		c.mu.Lock()
		if c.status != statusClosed {
			c.expireTimer = time.AfterFunc(refreshRetryDelay, c.refreshThroughProxy)
		}
		c.mu.Unlock()
		return
	}
	// A backend error or disconnect counts as no answer (as in Centrifugo):
	// the connection ends as expired.
	if err != nil || res == nil || res.Expired {
		c.Disconnect(DisconnectExpired)
		return
	}
	c.extend(res.ExpireAt, res.Info)
}

// extend sets a new expiry (0: never) and, when given, new connection info,
// and schedules the next expiry check.
func (c *Client) extend(expireAt int64, info []byte) {
	c.mu.Lock()
	c.expireAt = expireAt
	if info != nil {
		c.info = info
	}
	c.mu.Unlock()
	c.scheduleExpiry(expireAt)
}

// proxyInfo describes the connection to the backend.
func (c *Client) proxyInfo(user string) ProxyClientInfo {
	c.mu.Lock()
	meta := c.meta
	c.mu.Unlock()
	return ProxyClientInfo{
		Client:    c.id,
		Transport: c.t.Name(),
		Protocol:  string(c.proto),
		User:      user,
		Meta:      meta,
		Headers:   c.headers,
	}
}

// isBackendAnswer reports whether a proxy error is the backend's own answer
// (an error or a disconnect it sent) rather than a failed call.
func isBackendAnswer(err error) bool {
	var e *Error
	var d Disconnect
	return errors.As(err, &e) || errors.As(err, &d)
}

// proxyError turns a failed proxy call into what the client gets: the
// backend's own error or disconnect as is, anything else (timeout,
// unreachable backend, bad answer) as 100, temporary.
func (c *Client) proxyError(event string, err error) error {
	if isBackendAnswer(err) {
		return err
	}
	if c.isClosed() {
		return DisconnectConnectionClosed
	}
	c.n.log.Warn("proxy call failed", "event", event, "client", c.id, "error", err)
	return ErrorInternal
}

func (c *Client) clientInfo(ch string) *ClientInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := &ClientInfo{User: c.user, Client: c.id, ConnInfo: c.info}
	if s := c.subs[ch]; s != nil {
		ci.ChanInfo = s.info
	}
	return ci
}

func (c *Client) handlePublish(req *protocol.PublishRequest) (*protocol.Reply, error) {
	cfg := c.n.cfg
	ch := req.Channel
	if ch == "" || len(req.Data) == 0 {
		return nil, DisconnectBadRequest
	}
	opts, ok := cfg.ChannelOptionsFor(ch)
	if !ok {
		return nil, ErrorUnknownChannel
	}
	user := c.User()
	data := req.Data
	var skipHistory bool
	if c.n.proxy != nil && c.n.proxy.PublishEnabled(ch) {
		res, err := c.n.proxy.Publish(c.ctx, &ProxyPublishRequest{
			ProxyClientInfo: c.proxyInfo(user),
			Channel:         ch,
			Data:            req.Data,
		})
		if err != nil {
			return nil, c.proxyError("publish", err)
		}
		if res != nil {
			if res.Data != nil {
				data = res.Data
			}
			skipHistory = res.SkipHistory
		}
		return c.publish(ch, data, skipHistory)
	}
	allowed := cfg.ClientInsecure ||
		((opts.AllowPublishForClient || (opts.AllowPublishForSubscriber && c.isSubscribed(ch))) &&
			(user != "" || opts.AllowPublishForAnonymous))
	if !allowed {
		return nil, ErrorPermissionDenied
	}
	return c.publish(ch, data, false)
}

func (c *Client) publish(ch string, data []byte, skipHistory bool) (*protocol.Reply, error) {
	_, err := c.n.Publish(c.ctx, strings.Clone(ch), data, PublishOptions{ClientInfo: c.clientInfo(ch), SkipHistory: skipHistory})
	if err != nil {
		return nil, err
	}
	return &protocol.Reply{Publish: &protocol.PublishResult{}}, nil
}

func (c *Client) handleRefresh(req *protocol.RefreshRequest) (*protocol.Reply, error) {
	if req.Token == "" {
		return nil, ErrorBadRequest
	}
	tok, err := c.n.verifier.VerifyConnectToken(context.Background(), req.Token)
	if err != nil {
		if errors.Is(err, auth.ErrTokenExpired) {
			return nil, ErrorTokenExpired
		}
		c.n.log.Info("invalid refresh token", "client", c.id, "error", err)
		return nil, DisconnectInvalidToken
	}
	c.mu.Lock()
	user := c.user
	c.mu.Unlock()
	if tok.UserID != user {
		c.n.log.Info("refresh token user does not match", "client", c.id, "user", user, "token_user", tok.UserID)
		return nil, DisconnectInvalidToken
	}
	now := time.Now().Unix()
	if tok.ExpireAt > 0 && tok.ExpireAt <= now {
		return nil, ErrorTokenExpired
	}
	c.extend(tok.ExpireAt, tok.Info)
	res := &protocol.RefreshResult{Client: c.id, Version: Version}
	if tok.ExpireAt > 0 {
		res.Expires = true
		res.Ttl = uint32(tok.ExpireAt - now)
	}
	return &protocol.Reply{Refresh: res}, nil
}

func (c *Client) handleRPC(req *protocol.RPCRequest) (*protocol.Reply, error) {
	if c.n.proxy == nil || !c.n.proxy.RPCEnabled(req.Method) {
		return nil, ErrorMethodNotFound
	}
	res, err := c.n.proxy.RPC(c.ctx, &ProxyRPCRequest{
		ProxyClientInfo: c.proxyInfo(c.User()),
		Method:          req.Method,
		Data:            req.Data,
	})
	if err != nil {
		return nil, c.proxyError("rpc", err)
	}
	out := &protocol.RPCResult{}
	if res != nil {
		out.Data = res.Data
	}
	return &protocol.Reply{Rpc: out}, nil
}

func (c *Client) handleSend(req *protocol.SendRequest) {}
