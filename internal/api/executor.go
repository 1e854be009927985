package api

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/rotorhq/rotor/apiproto"
	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/node"
)

// ExecutorConfig configures an Executor.
type ExecutorConfig struct {
	// Logger receives internal errors (with their text, which callers never
	// see) and rejected requests. Zero value: slog.Default().
	Logger *slog.Logger
	// MaxConcurrency bounds the goroutines one parallel batch or one
	// broadcast runs at a time. Zero value: 1024.
	MaxConcurrency int
}

// defaultMaxConcurrency bounds the fan-out of one parallel batch or broadcast.
const defaultMaxConcurrency = 1024

// maxDisconnectReason is the longest close reason that fits a WebSocket close
// frame (125 bytes of payload minus the 2-byte code).
const maxDisconnectReason = 123

// Executor runs the server API methods against a node. Every method takes a
// request message and returns a response holding either a result or an
// in-band error; a nil request is treated as an empty one. Methods never
// panic: a panic in the node is logged and answered with 100.
//
// An Executor is safe for concurrent use. The HTTP and gRPC adapters share
// one.
type Executor struct {
	node           NodeAPI
	log            *slog.Logger
	maxConcurrency int
}

// NewExecutor returns an Executor over n.
func NewExecutor(n NodeAPI, cfg ExecutorConfig) (*Executor, error) {
	if n == nil {
		return nil, errors.New("api: NewExecutor: nil node")
	}
	if cfg.MaxConcurrency < 0 {
		return nil, errors.New("api: NewExecutor: negative MaxConcurrency")
	}
	e := &Executor{node: n, log: cfg.Logger, maxConcurrency: cfg.MaxConcurrency}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.maxConcurrency == 0 {
		e.maxConcurrency = defaultMaxConcurrency
	}
	return e, nil
}

// Batch runs req's commands, one after another or, with parallel set,
// concurrently. Replies keep the command order and echo each command's id.
// A command holds one typed request, or a method and its JSON params (the
// older addressing style); a command with neither gets 104.
func (e *Executor) Batch(ctx context.Context, req *apiproto.BatchRequest) *apiproto.BatchResponse {
	cmds := req.GetCommands()
	replies := make([]*apiproto.Reply, len(cmds))
	if !req.GetParallel() || len(cmds) < 2 {
		for i, c := range cmds {
			replies[i] = e.command(ctx, c)
		}
		return &apiproto.BatchResponse{Replies: replies}
	}
	e.fanOut(len(cmds), func(i int) { replies[i] = e.command(ctx, cmds[i]) })
	return &apiproto.BatchResponse{Replies: replies}
}

// fanOut runs fn(0) … fn(n-1) concurrently, at most maxConcurrency at a time,
// and waits for all of them. fn must not panic (every method recovers).
func (e *Executor) fanOut(n int, fn func(i int)) {
	sem := make(chan struct{}, min(n, e.maxConcurrency))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i)
		})
	}
	wg.Wait()
}

// command runs one batch command and returns its reply.
func (e *Executor) command(ctx context.Context, c *apiproto.Command) *apiproto.Reply {
	rep := &apiproto.Reply{Id: c.GetId()}
	switch {
	case c == nil:
		rep.Error = errMethodNotFound()
	case c.Publish != nil:
		r := e.Publish(ctx, c.Publish)
		rep.Error, rep.Publish = r.Error, r.Result
	case c.Broadcast != nil:
		r := e.Broadcast(ctx, c.Broadcast)
		rep.Error, rep.Broadcast = r.Error, r.Result
	case c.Subscribe != nil:
		r := e.Subscribe(ctx, c.Subscribe)
		rep.Error, rep.Subscribe = r.Error, r.Result
	case c.Unsubscribe != nil:
		r := e.Unsubscribe(ctx, c.Unsubscribe)
		rep.Error, rep.Unsubscribe = r.Error, r.Result
	case c.Disconnect != nil:
		r := e.Disconnect(ctx, c.Disconnect)
		rep.Error, rep.Disconnect = r.Error, r.Result
	case c.Presence != nil:
		r := e.Presence(ctx, c.Presence)
		rep.Error, rep.Presence = r.Error, r.Result
	case c.PresenceStats != nil:
		r := e.PresenceStats(ctx, c.PresenceStats)
		rep.Error, rep.PresenceStats = r.Error, r.Result
	case c.History != nil:
		r := e.History(ctx, c.History)
		rep.Error, rep.History = r.Error, r.Result
	case c.HistoryRemove != nil:
		r := e.HistoryRemove(ctx, c.HistoryRemove)
		rep.Error, rep.HistoryRemove = r.Error, r.Result
	case c.Info != nil:
		r := e.Info(ctx, c.Info)
		rep.Error, rep.Info = r.Error, r.Result
	case c.Rpc != nil:
		r := e.RPC(ctx, c.Rpc)
		rep.Error, rep.Rpc = r.Error, r.Result
	case c.Refresh != nil:
		r := e.Refresh(ctx, c.Refresh)
		rep.Error, rep.Refresh = r.Error, r.Result
	case c.Channels != nil:
		r := e.Channels(ctx, c.Channels)
		rep.Error, rep.Channels = r.Error, r.Result
	case len(c.Params) > 0 || c.Method != apiproto.Command_PUBLISH:
		// Older style: the method by number, the request as JSON params.
		typed, err := commandFromParams(c.Method, c.Params)
		if err != nil {
			rep.Error = e.paramsError(ctx, c.Method, err)
			return rep
		}
		typed.Id = c.Id
		return e.command(ctx, typed)
	default:
		rep.Error = errMethodNotFound()
	}
	return rep
}

// paramsError turns a failure to decode JSON params into 104 (unknown
// method) or 107 (bad params).
func (e *Executor) paramsError(ctx context.Context, m apiproto.Command_MethodType, err error) *apiproto.Error {
	if errors.Is(err, errUnknownMethod) {
		return errMethodNotFound()
	}
	return e.badRequest(ctx, m.String(), "malformed params", slog.String("error", err.Error()))
}

// Publish sends data (or b64data) to every subscriber of channel. Both
// channel and a non-empty payload are required (107 otherwise).
func (e *Executor) Publish(ctx context.Context, req *apiproto.PublishRequest) (resp *apiproto.PublishResponse) {
	resp = &apiproto.PublishResponse{}
	defer e.recoverPanic(ctx, "publish", &resp.Error)
	ch := req.GetChannel()
	if ch == "" {
		resp.Error = e.badRequest(ctx, "publish", "channel required")
		return resp
	}
	data, ok := payload(req.GetData(), req.GetB64Data())
	if !ok {
		resp.Error = e.badRequest(ctx, "publish", "malformed b64data", slog.String("channel", ch))
		return resp
	}
	if len(data) == 0 {
		resp.Error = e.badRequest(ctx, "publish", "data required", slog.String("channel", ch))
		return resp
	}
	res, err := e.node.Publish(ctx, ch, data, node.PublishOptions{
		Tags:           req.GetTags(),
		SkipHistory:    req.GetSkipHistory(),
		IdempotencyKey: req.GetIdempotencyKey(),
		Delta:          req.GetDelta(),
	})
	if err != nil {
		resp.Error = e.nodeError(ctx, "publish", err, slog.String("channel", ch))
		return resp
	}
	resp.Result = &apiproto.PublishResult{Offset: res.Offset, Epoch: res.Epoch}
	return resp
}

// Broadcast publishes the same data to each channel. The whole call fails
// with 107 when there are no channels or no payload; otherwise the result
// holds one PublishResponse per channel, in order, each with its own result
// or error (107 for an empty channel name).
func (e *Executor) Broadcast(ctx context.Context, req *apiproto.BroadcastRequest) (resp *apiproto.BroadcastResponse) {
	resp = &apiproto.BroadcastResponse{}
	defer e.recoverPanic(ctx, "broadcast", &resp.Error)
	chans := req.GetChannels()
	if len(chans) == 0 {
		resp.Error = e.badRequest(ctx, "broadcast", "channels required")
		return resp
	}
	data, ok := payload(req.GetData(), req.GetB64Data())
	if !ok {
		resp.Error = e.badRequest(ctx, "broadcast", "malformed b64data")
		return resp
	}
	if len(data) == 0 {
		resp.Error = e.badRequest(ctx, "broadcast", "data required")
		return resp
	}
	opts := node.PublishOptions{
		Tags:           req.GetTags(),
		SkipHistory:    req.GetSkipHistory(),
		IdempotencyKey: req.GetIdempotencyKey(),
		Delta:          req.GetDelta(),
	}
	responses := make([]*apiproto.PublishResponse, len(chans))
	one := func(i int) { responses[i] = e.broadcastOne(ctx, chans[i], data, opts) }
	if len(chans) == 1 {
		one(0)
	} else {
		e.fanOut(len(chans), one)
	}
	resp.Result = &apiproto.BroadcastResult{Responses: responses}
	return resp
}

// broadcastOne publishes to one channel of a broadcast.
func (e *Executor) broadcastOne(ctx context.Context, ch string, data []byte, opts node.PublishOptions) (resp *apiproto.PublishResponse) {
	resp = &apiproto.PublishResponse{}
	defer e.recoverPanic(ctx, "broadcast", &resp.Error)
	if ch == "" {
		resp.Error = e.badRequest(ctx, "broadcast", "empty channel name")
		return resp
	}
	res, err := e.node.Publish(ctx, ch, data, opts)
	if err != nil {
		resp.Error = e.nodeError(ctx, "broadcast", err, slog.String("channel", ch))
		return resp
	}
	resp.Result = &apiproto.PublishResult{Offset: res.Offset, Epoch: res.Epoch}
	return resp
}

// Subscribe subscribes the live connections of user (or only the one given
// by client / session) to channel. user and channel are required.
// recover_since, in a channel with recovery, sends the publications after it
// following the subscribe push; override replaces channel options (presence,
// join_leave, force_recovery, force_positioning, force_push_join_leave) for
// this subscription.
func (e *Executor) Subscribe(ctx context.Context, req *apiproto.SubscribeRequest) (resp *apiproto.SubscribeResponse) {
	resp = &apiproto.SubscribeResponse{}
	defer e.recoverPanic(ctx, "subscribe", &resp.Error)
	ch, user := req.GetChannel(), req.GetUser()
	if ch == "" || user == "" {
		resp.Error = e.badRequest(ctx, "subscribe", "user and channel required",
			slog.String("channel", ch), slog.String("user", user))
		return resp
	}
	info, ok := payload(req.GetInfo(), req.GetB64Info())
	if !ok {
		resp.Error = e.badRequest(ctx, "subscribe", "malformed b64info", slog.String("channel", ch))
		return resp
	}
	data, ok := payload(req.GetData(), req.GetB64Data())
	if !ok {
		resp.Error = e.badRequest(ctx, "subscribe", "malformed b64data", slog.String("channel", ch))
		return resp
	}
	opts := node.ServerSubscribeOptions{
		ExpireAt: req.GetExpireAt(),
		Info:     info,
		Data:     data,
		Client:   req.GetClient(),
		Session:  req.GetSession(),
		Override: subscribeOverride(req.GetOverride()),
	}
	if sp := req.GetRecoverSince(); sp != nil {
		opts.RecoverSince = &node.StreamPosition{Offset: sp.GetOffset(), Epoch: sp.GetEpoch()}
	}
	err := e.node.Subscribe(ctx, user, ch, opts)
	if err != nil {
		resp.Error = e.nodeError(ctx, "subscribe", err, slog.String("channel", ch), slog.String("user", user))
		return resp
	}
	resp.Result = &apiproto.SubscribeResult{}
	return resp
}

// subscribeOverride converts the API's option override; nil when there is
// none.
func subscribeOverride(o *apiproto.SubscribeOptionOverride) *auth.SubscribeOverride {
	if o == nil {
		return nil
	}
	get := func(v *apiproto.BoolValue) *bool {
		if v == nil {
			return nil
		}
		b := v.GetValue()
		return &b
	}
	return &auth.SubscribeOverride{
		Presence:           get(o.GetPresence()),
		JoinLeave:          get(o.GetJoinLeave()),
		ForceRecovery:      get(o.GetForceRecovery()),
		ForcePositioning:   get(o.GetForcePositioning()),
		ForcePushJoinLeave: get(o.GetForcePushJoinLeave()),
	}
}

// Unsubscribe unsubscribes the connections of user (or only the one given by
// client / session) from channel. user and channel are required.
func (e *Executor) Unsubscribe(ctx context.Context, req *apiproto.UnsubscribeRequest) (resp *apiproto.UnsubscribeResponse) {
	resp = &apiproto.UnsubscribeResponse{}
	defer e.recoverPanic(ctx, "unsubscribe", &resp.Error)
	ch, user := req.GetChannel(), req.GetUser()
	if ch == "" || user == "" {
		resp.Error = e.badRequest(ctx, "unsubscribe", "user and channel required",
			slog.String("channel", ch), slog.String("user", user))
		return resp
	}
	if err := e.node.Unsubscribe(ctx, user, ch, req.GetClient(), req.GetSession()); err != nil {
		resp.Error = e.nodeError(ctx, "unsubscribe", err, slog.String("channel", ch), slog.String("user", user))
		return resp
	}
	resp.Result = &apiproto.UnsubscribeResult{}
	return resp
}

// Disconnect closes the connections of user (or only the one given by
// client / session), keeping the client ids in whitelist. user is required.
// Without a disconnect the clients get 3503 "force disconnect" (no
// reconnect), as Centrifugo does; a given code must be in 3000–4999 and its
// reason fit a WebSocket close frame (123 bytes), else 107.
func (e *Executor) Disconnect(ctx context.Context, req *apiproto.DisconnectRequest) (resp *apiproto.DisconnectResponse) {
	resp = &apiproto.DisconnectResponse{}
	defer e.recoverPanic(ctx, "disconnect", &resp.Error)
	user := req.GetUser()
	if user == "" {
		resp.Error = e.badRequest(ctx, "disconnect", "user required")
		return resp
	}
	d := node.DisconnectForceNoReconnect
	if pd := req.GetDisconnect(); pd != nil && (pd.Code != 0 || pd.Reason != "") {
		if pd.Code < 3000 || pd.Code > 4999 || len(pd.Reason) > maxDisconnectReason {
			resp.Error = e.badRequest(ctx, "disconnect", "disconnect code must be 3000-4999 with a reason of at most 123 bytes",
				slog.String("user", user), slog.Uint64("code", uint64(pd.Code)))
			return resp
		}
		d = node.Disconnect{Code: pd.Code, Reason: pd.Reason}
	}
	err := e.node.Disconnect(ctx, user, d, node.DisconnectOptions{
		Client:    req.GetClient(),
		Session:   req.GetSession(),
		Whitelist: req.GetWhitelist(),
	})
	if err != nil {
		resp.Error = e.nodeError(ctx, "disconnect", err, slog.String("user", user))
		return resp
	}
	resp.Result = &apiproto.DisconnectResult{}
	return resp
}

// Refresh sets a new expiry (expire_at, Unix seconds) and info on the
// connections of user (or only the one given by client / session), or
// expires them now with expired. user is required.
func (e *Executor) Refresh(ctx context.Context, req *apiproto.RefreshRequest) (resp *apiproto.RefreshResponse) {
	resp = &apiproto.RefreshResponse{}
	defer e.recoverPanic(ctx, "refresh", &resp.Error)
	user := req.GetUser()
	if user == "" {
		resp.Error = e.badRequest(ctx, "refresh", "user required")
		return resp
	}
	err := e.node.Refresh(ctx, user, node.RefreshOptions{
		Client:   req.GetClient(),
		Session:  req.GetSession(),
		Expired:  req.GetExpired(),
		ExpireAt: req.GetExpireAt(),
		Info:     req.GetInfo(),
	})
	if err != nil {
		resp.Error = e.nodeError(ctx, "refresh", err, slog.String("user", user))
		return resp
	}
	resp.Result = &apiproto.RefreshResult{}
	return resp
}

// Presence lists the clients subscribed to channel, keyed by client id.
func (e *Executor) Presence(ctx context.Context, req *apiproto.PresenceRequest) (resp *apiproto.PresenceResponse) {
	resp = &apiproto.PresenceResponse{}
	defer e.recoverPanic(ctx, "presence", &resp.Error)
	ch := req.GetChannel()
	if ch == "" {
		resp.Error = e.badRequest(ctx, "presence", "channel required")
		return resp
	}
	clients, err := e.node.Presence(ctx, ch)
	if err != nil {
		resp.Error = e.nodeError(ctx, "presence", err, slog.String("channel", ch))
		return resp
	}
	presence := make(map[string]*apiproto.ClientInfo, len(clients))
	for id, ci := range clients {
		if ci != nil {
			presence[id] = clientInfo(ci)
		}
	}
	resp.Result = &apiproto.PresenceResult{Presence: presence}
	return resp
}

// PresenceStats counts the clients and unique users in channel.
func (e *Executor) PresenceStats(ctx context.Context, req *apiproto.PresenceStatsRequest) (resp *apiproto.PresenceStatsResponse) {
	resp = &apiproto.PresenceStatsResponse{}
	defer e.recoverPanic(ctx, "presence_stats", &resp.Error)
	ch := req.GetChannel()
	if ch == "" {
		resp.Error = e.badRequest(ctx, "presence_stats", "channel required")
		return resp
	}
	numClients, numUsers, err := e.node.PresenceStats(ctx, ch)
	if err != nil {
		resp.Error = e.nodeError(ctx, "presence_stats", err, slog.String("channel", ch))
		return resp
	}
	resp.Result = &apiproto.PresenceStatsResult{NumClients: numClients, NumUsers: numUsers}
	return resp
}

// History reads channel's history: up to limit publications (0 = only the
// stream position, -1 = all) after since, newest first with reverse.
func (e *Executor) History(ctx context.Context, req *apiproto.HistoryRequest) (resp *apiproto.HistoryResponse) {
	resp = &apiproto.HistoryResponse{}
	defer e.recoverPanic(ctx, "history", &resp.Error)
	ch := req.GetChannel()
	if ch == "" {
		resp.Error = e.badRequest(ctx, "history", "channel required")
		return resp
	}
	opts := node.HistoryOptions{Limit: int(req.GetLimit()), Reverse: req.GetReverse()}
	if s := req.GetSince(); s != nil {
		opts.Since = &node.StreamPosition{Offset: s.GetOffset(), Epoch: s.GetEpoch()}
	}
	h, err := e.node.History(ctx, ch, opts)
	if err != nil {
		resp.Error = e.nodeError(ctx, "history", err, slog.String("channel", ch))
		return resp
	}
	pubs := make([]*apiproto.Publication, 0, len(h.Publications))
	for _, p := range h.Publications {
		if p == nil {
			continue
		}
		ap := &apiproto.Publication{Data: p.Data, Offset: p.Offset, Tags: p.Tags}
		if p.Info != nil {
			ap.Info = clientInfo(p.Info)
		}
		pubs = append(pubs, ap)
	}
	resp.Result = &apiproto.HistoryResult{Publications: pubs, Offset: h.Offset, Epoch: h.Epoch}
	return resp
}

// HistoryRemove drops channel's publications; its stream position is kept.
func (e *Executor) HistoryRemove(ctx context.Context, req *apiproto.HistoryRemoveRequest) (resp *apiproto.HistoryRemoveResponse) {
	resp = &apiproto.HistoryRemoveResponse{}
	defer e.recoverPanic(ctx, "history_remove", &resp.Error)
	ch := req.GetChannel()
	if ch == "" {
		resp.Error = e.badRequest(ctx, "history_remove", "channel required")
		return resp
	}
	if err := e.node.RemoveHistory(ctx, ch); err != nil {
		resp.Error = e.nodeError(ctx, "history_remove", err, slog.String("channel", ch))
		return resp
	}
	resp.Result = &apiproto.HistoryRemoveResult{}
	return resp
}

// Info describes every live node.
func (e *Executor) Info(ctx context.Context, _ *apiproto.InfoRequest) (resp *apiproto.InfoResponse) {
	resp = &apiproto.InfoResponse{}
	defer e.recoverPanic(ctx, "info", &resp.Error)
	nodes, err := e.node.Info(ctx)
	if err != nil {
		resp.Error = e.nodeError(ctx, "info", err)
		return resp
	}
	res := &apiproto.InfoResult{Nodes: make([]*apiproto.NodeResult, len(nodes))}
	for i, n := range nodes {
		res.Nodes[i] = &apiproto.NodeResult{
			Uid:         n.UID,
			Name:        n.Name,
			Version:     n.Version,
			NumClients:  n.NumClients,
			NumUsers:    n.NumUsers,
			NumChannels: n.NumChannels,
			NumSubs:     n.NumSubs,
			Uptime:      n.Uptime,
		}
	}
	resp.Result = res
	return resp
}

// RPC calls the server-side method with params. method is required; an
// unknown method is 104.
func (e *Executor) RPC(ctx context.Context, req *apiproto.RPCRequest) (resp *apiproto.RPCResponse) {
	resp = &apiproto.RPCResponse{}
	defer e.recoverPanic(ctx, "rpc", &resp.Error)
	method := req.GetMethod()
	if method == "" {
		resp.Error = e.badRequest(ctx, "rpc", "method required")
		return resp
	}
	data, err := e.node.RPC(ctx, method, req.GetParams())
	if err != nil {
		resp.Error = e.nodeError(ctx, "rpc", err, slog.String("method", method))
		return resp
	}
	resp.Result = &apiproto.RPCResult{Data: data}
	return resp
}

// Channels lists the active channels whose names match the glob pattern
// (all when it is empty), with their number of subscribed clients.
func (e *Executor) Channels(ctx context.Context, req *apiproto.ChannelsRequest) (resp *apiproto.ChannelsResponse) {
	resp = &apiproto.ChannelsResponse{}
	defer e.recoverPanic(ctx, "channels", &resp.Error)
	chans, err := e.node.Channels(ctx, req.GetPattern())
	if err != nil {
		resp.Error = e.nodeError(ctx, "channels", err)
		return resp
	}
	res := &apiproto.ChannelsResult{Channels: make(map[string]*apiproto.ChannelInfo, len(chans))}
	for name, ci := range chans {
		res.Channels[name] = &apiproto.ChannelInfo{NumClients: ci.NumClients}
	}
	resp.Result = res
	return resp
}

// payload picks the binary form of a payload: b64 (decoded) when set, else
// raw. ok is false when b64 is not valid standard base64.
func payload(raw []byte, b64 string) (data []byte, ok bool) {
	if b64 == "" {
		return raw, true
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, false
	}
	return data, true
}

func clientInfo(ci *node.ClientInfo) *apiproto.ClientInfo {
	return &apiproto.ClientInfo{User: ci.User, Client: ci.Client, ConnInfo: ci.ConnInfo, ChanInfo: ci.ChanInfo}
}

// badRequest logs why a request was refused and returns 107.
func (e *Executor) badRequest(ctx context.Context, method, reason string, attrs ...slog.Attr) *apiproto.Error {
	if e.log.Enabled(ctx, slog.LevelInfo) {
		attrs = append(attrs, slog.String("method", method), slog.String("reason", reason))
		e.log.LogAttrs(ctx, slog.LevelInfo, "api: bad request", attrs...)
	}
	return errBadRequest()
}

// nodeError maps a node error to the wire. A *node.Error keeps its code and
// message; anything else is 100 with its text logged, never returned.
func (e *Executor) nodeError(ctx context.Context, method string, err error, attrs ...slog.Attr) *apiproto.Error {
	ne := node.ToError(err)
	level := slog.LevelDebug
	if ne.Code == CodeInternal {
		level = slog.LevelError
	}
	if e.log.Enabled(ctx, level) {
		attrs = append(attrs, slog.String("method", method), slog.String("error", err.Error()))
		e.log.LogAttrs(ctx, level, "api: call failed", attrs...)
	}
	return apiError(ne)
}

// recoverPanic, deferred by every method, turns a panic below it into a 100
// answer so that one broken call neither kills the process nor goes
// unanswered. The methods name their response result so that the recovered
// call still returns it.
func (e *Executor) recoverPanic(ctx context.Context, method string, errp **apiproto.Error) {
	if r := recover(); r != nil {
		e.log.LogAttrs(ctx, slog.LevelError, "api: panic", slog.String("method", method),
			slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		*errp = errInternal()
	}
}
