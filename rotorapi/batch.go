package rotorapi

import (
	"context"
	"fmt"
	"reflect"

	"github.com/rotorhq/rotor/apiproto"
)

// Command is one command of a Batch: a PublishRequest, BroadcastRequest,
// SubscribeRequest, UnsubscribeRequest, DisconnectRequest, PresenceRequest,
// PresenceStatsRequest, HistoryRequest, HistoryRemoveRequest, InfoRequest,
// RPCRequest, RefreshRequest or ChannelsRequest (or a pointer to one). The
// set is closed.
type Command interface {
	command(*apiproto.Command)
}

// PresenceRequest is the Presence command of a Batch.
type PresenceRequest struct{ Channel string }

// PresenceStatsRequest is the PresenceStats command of a Batch.
type PresenceStatsRequest struct{ Channel string }

// HistoryRemoveRequest is the HistoryRemove command of a Batch.
type HistoryRemoveRequest struct{ Channel string }

// InfoRequest is the Info command of a Batch.
type InfoRequest struct{}

// ChannelsRequest is the Channels command of a Batch.
type ChannelsRequest struct{ Pattern string }

func (r PublishRequest) command(c *apiproto.Command)     { c.Publish = r.proto() }
func (r BroadcastRequest) command(c *apiproto.Command)   { c.Broadcast = r.proto() }
func (r SubscribeRequest) command(c *apiproto.Command)   { c.Subscribe = r.proto() }
func (r UnsubscribeRequest) command(c *apiproto.Command) { c.Unsubscribe = r.proto() }
func (r DisconnectRequest) command(c *apiproto.Command)  { c.Disconnect = r.proto() }
func (r PresenceRequest) command(c *apiproto.Command) {
	c.Presence = &apiproto.PresenceRequest{Channel: r.Channel}
}
func (r PresenceStatsRequest) command(c *apiproto.Command) {
	c.PresenceStats = &apiproto.PresenceStatsRequest{Channel: r.Channel}
}
func (r HistoryRequest) command(c *apiproto.Command) { c.History = r.proto() }
func (r HistoryRemoveRequest) command(c *apiproto.Command) {
	c.HistoryRemove = &apiproto.HistoryRemoveRequest{Channel: r.Channel}
}
func (InfoRequest) command(c *apiproto.Command)      { c.Info = &apiproto.InfoRequest{} }
func (r RPCRequest) command(c *apiproto.Command)     { c.Rpc = r.proto() }
func (r RefreshRequest) command(c *apiproto.Command) { c.Refresh = r.proto() }
func (r ChannelsRequest) command(c *apiproto.Command) {
	c.Channels = &apiproto.ChannelsRequest{Pattern: r.Pattern}
}

// BatchRequest sends several commands in one call. With Parallel the server
// may run them concurrently; replies keep the order of the commands anyway.
type BatchRequest struct {
	Commands []Command
	Parallel bool
}

// BatchResult holds one reply per command, in order.
type BatchResult struct {
	Replies []BatchReply
}

// BatchReply is the outcome of one command: Err is an *Error when it
// failed; else Result is the command's result (*PublishResult,
// *BroadcastResult, *PresenceResult, *PresenceStatsResult, *HistoryResult,
// *InfoResult, *RPCResult, *ChannelsResult), nil for commands that have none
// (subscribe, unsubscribe, disconnect, history_remove, refresh).
type BatchReply struct {
	Result any
	Err    error
}

// Err returns the errors of the commands that failed, joined (each wrapped
// with its index), or nil.
func (r *BatchResult) Err() error {
	var errs []error
	for i, rep := range r.Replies {
		if rep.Err != nil {
			errs = append(errs, fmt.Errorf("command %d: %w", i, rep.Err))
		}
	}
	return joinErrors(errs)
}

// Batch runs several commands in one call.
func (c *Client) Batch(ctx context.Context, req BatchRequest) (*BatchResult, error) {
	in := &apiproto.BatchRequest{Parallel: req.Parallel, Commands: make([]*apiproto.Command, len(req.Commands))}
	for i, cmd := range req.Commands {
		if v := reflect.ValueOf(cmd); cmd == nil || (v.Kind() == reflect.Pointer && v.IsNil()) {
			return nil, fmt.Errorf("rotorapi: batch: command %d is nil", i)
		}
		pc := &apiproto.Command{}
		cmd.command(pc)
		in.Commands[i] = pc
	}
	resp := &apiproto.BatchResponse{}
	if err := c.invoke(ctx, mBatch, in, resp); err != nil {
		return nil, err
	}
	if len(resp.GetReplies()) != len(req.Commands) {
		return nil, fmt.Errorf("rotorapi: batch: %d replies to %d commands", len(resp.GetReplies()), len(req.Commands))
	}
	res := &BatchResult{Replies: make([]BatchReply, len(resp.GetReplies()))}
	for i, rep := range resp.GetReplies() {
		res.Replies[i] = batchReply(req.Commands[i], rep)
	}
	return res, nil
}

func batchReply(cmd Command, rep *apiproto.Reply) BatchReply {
	if e := rep.GetError(); e != nil {
		return BatchReply{Err: &Error{Code: e.GetCode(), Message: e.GetMessage()}}
	}
	switch {
	case rep.Publish != nil:
		return BatchReply{Result: publishResult(rep.Publish)}
	case rep.Broadcast != nil:
		var channels []string
		switch b := cmd.(type) {
		case BroadcastRequest:
			channels = b.Channels
		case *BroadcastRequest:
			channels = b.Channels
		}
		return BatchReply{Result: broadcastResult(channels, rep.Broadcast)}
	case rep.Presence != nil:
		return BatchReply{Result: presenceResult(rep.Presence)}
	case rep.PresenceStats != nil:
		return BatchReply{Result: presenceStatsResult(rep.PresenceStats)}
	case rep.History != nil:
		return BatchReply{Result: historyResult(rep.History)}
	case rep.Info != nil:
		return BatchReply{Result: infoResult(rep.Info)}
	case rep.Rpc != nil:
		return BatchReply{Result: &RPCResult{Data: rep.Rpc.GetData()}}
	case rep.Channels != nil:
		return BatchReply{Result: channelsResult(rep.Channels)}
	}
	return BatchReply{} // subscribe, unsubscribe, disconnect, history_remove, refresh
}
