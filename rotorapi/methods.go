package rotorapi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rotorhq/rotor/apiproto"
)

// The server API methods. Each returns the method's result, or an error:
// an *Error (wrapped; see ErrorCode) when the server answered one, else the
// failure of the call itself (ErrUnauthorized, an *HTTPError, a gRPC status,
// a context error).

var (
	mBatch         = method{"batch", apiproto.CentrifugoApi_Batch_FullMethodName}
	mPublish       = method{"publish", apiproto.CentrifugoApi_Publish_FullMethodName}
	mBroadcast     = method{"broadcast", apiproto.CentrifugoApi_Broadcast_FullMethodName}
	mSubscribe     = method{"subscribe", apiproto.CentrifugoApi_Subscribe_FullMethodName}
	mUnsubscribe   = method{"unsubscribe", apiproto.CentrifugoApi_Unsubscribe_FullMethodName}
	mDisconnect    = method{"disconnect", apiproto.CentrifugoApi_Disconnect_FullMethodName}
	mPresence      = method{"presence", apiproto.CentrifugoApi_Presence_FullMethodName}
	mPresenceStats = method{"presence_stats", apiproto.CentrifugoApi_PresenceStats_FullMethodName}
	mHistory       = method{"history", apiproto.CentrifugoApi_History_FullMethodName}
	mHistoryRemove = method{"history_remove", apiproto.CentrifugoApi_HistoryRemove_FullMethodName}
	mInfo          = method{"info", apiproto.CentrifugoApi_Info_FullMethodName}
	mRPC           = method{"rpc", apiproto.CentrifugoApi_RPC_FullMethodName}
	mRefresh       = method{"refresh", apiproto.CentrifugoApi_Refresh_FullMethodName}
	mChannels      = method{"channels", apiproto.CentrifugoApi_Channels_FullMethodName}
)

// Publish publishes to one channel.
func (c *Client) Publish(ctx context.Context, req PublishRequest) (*PublishResult, error) {
	resp := &apiproto.PublishResponse{}
	if err := c.invoke(ctx, mPublish, req.proto(), resp); err != nil {
		return nil, err
	}
	return publishResult(resp.GetResult()), nil
}

// PublishJSON publishes v, encoded with encoding/json, to channel.
func (c *Client) PublishJSON(ctx context.Context, channel string, v any) (*PublishResult, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rotorapi: publish: encoding data: %w", err)
	}
	return c.Publish(ctx, PublishRequest{Channel: channel, Data: data})
}

// Broadcast publishes the same data to several channels. The call fails as
// a whole only when the server refuses the request; the result tells each
// channel's outcome (see BroadcastResult.Err).
func (c *Client) Broadcast(ctx context.Context, req BroadcastRequest) (*BroadcastResult, error) {
	resp := &apiproto.BroadcastResponse{}
	if err := c.invoke(ctx, mBroadcast, req.proto(), resp); err != nil {
		return nil, err
	}
	return broadcastResult(req.Channels, resp.GetResult()), nil
}

// BroadcastJSON broadcasts v, encoded with encoding/json, to channels.
func (c *Client) BroadcastJSON(ctx context.Context, channels []string, v any) (*BroadcastResult, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rotorapi: broadcast: encoding data: %w", err)
	}
	return c.Broadcast(ctx, BroadcastRequest{Channels: channels, Data: data})
}

// Subscribe subscribes connections to a channel on the server side.
func (c *Client) Subscribe(ctx context.Context, req SubscribeRequest) error {
	return c.invoke(ctx, mSubscribe, req.proto(), &apiproto.SubscribeResponse{})
}

// Unsubscribe unsubscribes connections from a channel.
func (c *Client) Unsubscribe(ctx context.Context, req UnsubscribeRequest) error {
	return c.invoke(ctx, mUnsubscribe, req.proto(), &apiproto.UnsubscribeResponse{})
}

// Disconnect disconnects connections.
func (c *Client) Disconnect(ctx context.Context, req DisconnectRequest) error {
	return c.invoke(ctx, mDisconnect, req.proto(), &apiproto.DisconnectResponse{})
}

// Presence returns the connections in a channel.
func (c *Client) Presence(ctx context.Context, channel string) (*PresenceResult, error) {
	resp := &apiproto.PresenceResponse{}
	if err := c.invoke(ctx, mPresence, &apiproto.PresenceRequest{Channel: channel}, resp); err != nil {
		return nil, err
	}
	return presenceResult(resp.GetResult()), nil
}

// PresenceStats counts the connections and users in a channel.
func (c *Client) PresenceStats(ctx context.Context, channel string) (*PresenceStatsResult, error) {
	resp := &apiproto.PresenceStatsResponse{}
	if err := c.invoke(ctx, mPresenceStats, &apiproto.PresenceStatsRequest{Channel: channel}, resp); err != nil {
		return nil, err
	}
	return presenceStatsResult(resp.GetResult()), nil
}

// History reads a channel's history.
func (c *Client) History(ctx context.Context, req HistoryRequest) (*HistoryResult, error) {
	resp := &apiproto.HistoryResponse{}
	if err := c.invoke(ctx, mHistory, req.proto(), resp); err != nil {
		return nil, err
	}
	return historyResult(resp.GetResult()), nil
}

// HistoryRemove removes a channel's history.
func (c *Client) HistoryRemove(ctx context.Context, channel string) error {
	return c.invoke(ctx, mHistoryRemove, &apiproto.HistoryRemoveRequest{Channel: channel}, &apiproto.HistoryRemoveResponse{})
}

// Info describes the nodes of the cluster.
func (c *Client) Info(ctx context.Context) (*InfoResult, error) {
	resp := &apiproto.InfoResponse{}
	if err := c.invoke(ctx, mInfo, &apiproto.InfoRequest{}, resp); err != nil {
		return nil, err
	}
	return infoResult(resp.GetResult()), nil
}

// RPC calls a server-side RPC method.
func (c *Client) RPC(ctx context.Context, req RPCRequest) (*RPCResult, error) {
	resp := &apiproto.RPCResponse{}
	if err := c.invoke(ctx, mRPC, req.proto(), resp); err != nil {
		return nil, err
	}
	return &RPCResult{Data: resp.GetResult().GetData()}, nil
}

// Refresh refreshes connections: moves their expiry, or expires them.
func (c *Client) Refresh(ctx context.Context, req RefreshRequest) error {
	return c.invoke(ctx, mRefresh, req.proto(), &apiproto.RefreshResponse{})
}

// Channels returns the active channels whose names match pattern (a glob;
// "" for all).
func (c *Client) Channels(ctx context.Context, pattern string) (*ChannelsResult, error) {
	resp := &apiproto.ChannelsResponse{}
	if err := c.invoke(ctx, mChannels, &apiproto.ChannelsRequest{Pattern: pattern}, resp); err != nil {
		return nil, err
	}
	return channelsResult(resp.GetResult()), nil
}

// Conversions to the wire.

func (r PublishRequest) proto() *apiproto.PublishRequest {
	return &apiproto.PublishRequest{Channel: r.Channel, Data: r.Data, SkipHistory: r.SkipHistory, Tags: r.Tags,
		IdempotencyKey: r.IdempotencyKey, Delta: r.Delta}
}

func (r BroadcastRequest) proto() *apiproto.BroadcastRequest {
	return &apiproto.BroadcastRequest{Channels: r.Channels, Data: r.Data, SkipHistory: r.SkipHistory, Tags: r.Tags,
		IdempotencyKey: r.IdempotencyKey, Delta: r.Delta}
}

func (r SubscribeRequest) proto() *apiproto.SubscribeRequest {
	p := &apiproto.SubscribeRequest{Channel: r.Channel, User: r.User, ExpireAt: unixTime(r.ExpireAt), Info: r.Info,
		Client: r.Client, Data: r.Data, Session: r.Session}
	if r.RecoverSince != nil {
		p.RecoverSince = &apiproto.StreamPosition{Offset: r.RecoverSince.Offset, Epoch: r.RecoverSince.Epoch}
	}
	if o := r.Override; o != nil {
		p.Override = &apiproto.SubscribeOptionOverride{
			Presence:           boolValue(o.Presence),
			JoinLeave:          boolValue(o.JoinLeave),
			ForceRecovery:      boolValue(o.ForceRecovery),
			ForcePositioning:   boolValue(o.ForcePositioning),
			ForcePushJoinLeave: boolValue(o.ForcePushJoinLeave),
		}
	}
	return p
}

func (r UnsubscribeRequest) proto() *apiproto.UnsubscribeRequest {
	return &apiproto.UnsubscribeRequest{Channel: r.Channel, User: r.User, Client: r.Client, Session: r.Session}
}

func (r DisconnectRequest) proto() *apiproto.DisconnectRequest {
	p := &apiproto.DisconnectRequest{User: r.User, Client: r.Client, Whitelist: r.Whitelist, Session: r.Session}
	if r.Code != 0 {
		p.Disconnect = &apiproto.Disconnect{Code: r.Code, Reason: r.Reason}
	}
	return p
}

func (r HistoryRequest) proto() *apiproto.HistoryRequest {
	p := &apiproto.HistoryRequest{Channel: r.Channel, Limit: int32(r.Limit), Reverse: r.Reverse}
	if r.Since != nil {
		p.Since = &apiproto.StreamPosition{Offset: r.Since.Offset, Epoch: r.Since.Epoch}
	}
	return p
}

func (r RPCRequest) proto() *apiproto.RPCRequest {
	return &apiproto.RPCRequest{Method: r.Method, Params: r.Params}
}

func (r RefreshRequest) proto() *apiproto.RefreshRequest {
	return &apiproto.RefreshRequest{User: r.User, Client: r.Client, Expired: r.Expired, ExpireAt: unixTime(r.ExpireAt),
		Info: r.Info, Session: r.Session}
}

// Conversions from the wire.

func publishResult(r *apiproto.PublishResult) *PublishResult {
	return &PublishResult{Offset: r.GetOffset(), Epoch: r.GetEpoch()}
}

func broadcastResult(channels []string, r *apiproto.BroadcastResult) *BroadcastResult {
	res := &BroadcastResult{Publications: make([]BroadcastPublication, len(r.GetResponses()))}
	for i, pr := range r.GetResponses() {
		p := &res.Publications[i]
		if i < len(channels) {
			p.Channel = channels[i]
		}
		if e := pr.GetError(); e != nil {
			p.Err = &Error{Code: e.GetCode(), Message: e.GetMessage()}
			continue
		}
		p.PublishResult = *publishResult(pr.GetResult())
	}
	return res
}

func clientInfo(ci *apiproto.ClientInfo) *ClientInfo {
	return &ClientInfo{User: ci.GetUser(), Client: ci.GetClient(), ConnInfo: ci.GetConnInfo(), ChanInfo: ci.GetChanInfo()}
}

func boolValue(v *bool) *apiproto.BoolValue {
	if v == nil {
		return nil
	}
	return &apiproto.BoolValue{Value: *v}
}

func unixTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func presenceResult(r *apiproto.PresenceResult) *PresenceResult {
	res := &PresenceResult{Clients: make(map[string]ClientInfo, len(r.GetPresence()))}
	for id, ci := range r.GetPresence() {
		res.Clients[id] = *clientInfo(ci)
	}
	return res
}

func presenceStatsResult(r *apiproto.PresenceStatsResult) *PresenceStatsResult {
	return &PresenceStatsResult{NumClients: int(r.GetNumClients()), NumUsers: int(r.GetNumUsers())}
}

func historyResult(r *apiproto.HistoryResult) *HistoryResult {
	res := &HistoryResult{Epoch: r.GetEpoch(), Offset: r.GetOffset()}
	for _, p := range r.GetPublications() {
		pub := Publication{Data: p.GetData(), Offset: p.GetOffset(), Tags: p.GetTags()}
		if p.GetInfo() != nil {
			pub.Info = clientInfo(p.GetInfo())
		}
		res.Publications = append(res.Publications, pub)
	}
	return res
}

func infoResult(r *apiproto.InfoResult) *InfoResult {
	res := &InfoResult{}
	for _, n := range r.GetNodes() {
		ni := NodeInfo{
			UID:         n.GetUid(),
			Name:        n.GetName(),
			Version:     n.GetVersion(),
			NumClients:  int(n.GetNumClients()),
			NumUsers:    int(n.GetNumUsers()),
			NumSubs:     int(n.GetNumSubs()),
			NumChannels: int(n.GetNumChannels()),
			Uptime:      time.Duration(n.GetUptime()) * time.Second,
		}
		if m := n.GetMetrics(); m != nil {
			ni.Metrics = &NodeMetrics{Interval: m.GetInterval(), Items: m.GetItems()}
		}
		if p := n.GetProcess(); p != nil {
			ni.Process = &NodeProcess{CPU: p.GetCpu(), RSS: p.GetRss()}
		}
		res.Nodes = append(res.Nodes, ni)
	}
	return res
}

func channelsResult(r *apiproto.ChannelsResult) *ChannelsResult {
	res := &ChannelsResult{Channels: make(map[string]ChannelInfo, len(r.GetChannels()))}
	for name, ci := range r.GetChannels() {
		res.Channels[name] = ChannelInfo{NumClients: int(ci.GetNumClients())}
	}
	return res
}
