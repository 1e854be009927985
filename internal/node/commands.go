package node

import (
	"github.com/centrifugal/protocol"

	"github.com/rotorhq/rotor/internal/config"
)

// This file holds the client's presence, presence_stats and history
// commands. Each needs the feature on in the channel's namespace (108
// otherwise), then the permission of its allow_*_for_client /
// allow_*_for_subscriber / allow_*_for_anonymous options or client_insecure
// (103 otherwise).

// allowedFor applies the allow_X_for_client/subscriber/anonymous triple.
func (c *Client) allowedFor(ch string, forClient, forSubscriber, forAnonymous bool) bool {
	if c.n.cfg.ClientInsecure {
		return true
	}
	if c.User() == "" && !forAnonymous {
		return false
	}
	return forClient || (forSubscriber && c.isSubscribed(ch))
}

// presenceCheck validates a presence or presence_stats command.
func (c *Client) presenceCheck(ch string) error {
	if ch == "" {
		return DisconnectBadRequest
	}
	opts, ok := c.n.cfg.ChannelOptionsFor(ch)
	if !ok {
		return ErrorUnknownChannel
	}
	if !opts.Presence || c.n.presence == nil {
		return ErrorNotAvailable
	}
	if !c.allowedFor(ch, opts.AllowPresenceForClient, opts.AllowPresenceForSubscriber, opts.AllowPresenceForAnonymous) {
		return ErrorPermissionDenied
	}
	return nil
}

func (c *Client) handlePresence(req *protocol.PresenceRequest) (*protocol.Reply, error) {
	if err := c.presenceCheck(req.Channel); err != nil {
		return nil, err
	}
	m, err := c.n.presence.Presence(c.ctx, req.Channel)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*protocol.ClientInfo, len(m))
	for id, ci := range m {
		out[id] = ci.toProto()
	}
	return &protocol.Reply{Presence: &protocol.PresenceResult{Presence: out}}, nil
}

func (c *Client) handlePresenceStats(req *protocol.PresenceStatsRequest) (*protocol.Reply, error) {
	if err := c.presenceCheck(req.Channel); err != nil {
		return nil, err
	}
	st, err := c.n.presence.PresenceStats(c.ctx, req.Channel)
	if err != nil {
		return nil, err
	}
	return &protocol.Reply{PresenceStats: &protocol.PresenceStatsResult{
		NumClients: uint32(st.NumClients), NumUsers: uint32(st.NumUsers),
	}}, nil
}

// handleHistory reads history: limit is capped at
// client_history_max_publication_limit (a negative one, "all", too); since
// and reverse page through it; a since in another epoch gives 112.
func (c *Client) handleHistory(req *protocol.HistoryRequest) (*protocol.Reply, error) {
	ch := req.Channel
	if ch == "" {
		return nil, DisconnectBadRequest
	}
	opts, ok := c.n.cfg.ChannelOptionsFor(ch)
	if !ok {
		return nil, ErrorUnknownChannel
	}
	if !historyEnabled(opts) {
		return nil, ErrorNotAvailable
	}
	if !c.allowedFor(ch, opts.AllowHistoryForClient, opts.AllowHistoryForSubscriber, opts.AllowHistoryForAnonymous) {
		return nil, ErrorPermissionDenied
	}
	limit := int(req.Limit)
	if max := c.n.cfg.ClientHistoryMaxPublicationLimit; max > 0 && (limit < 0 || limit > max) {
		limit = max
	}
	hopts := HistoryOptions{Limit: limit, Reverse: req.Reverse, MetaTTL: c.n.historyMetaTTL(opts)}
	if req.Since != nil {
		hopts.Since = &StreamPosition{Offset: req.Since.Offset, Epoch: req.Since.Epoch}
	}
	hr, err := c.n.broker.History(c.ctx, ch, hopts)
	if err != nil {
		return nil, err
	}
	return &protocol.Reply{History: historyResult(hr)}, nil
}

func historyResult(hr HistoryResult) *protocol.HistoryResult {
	res := &protocol.HistoryResult{Epoch: hr.Epoch, Offset: hr.Offset}
	if len(hr.Publications) > 0 {
		res.Publications = make([]*protocol.Publication, len(hr.Publications))
		for i, p := range hr.Publications {
			res.Publications[i] = p.toProto()
		}
	}
	return res
}

// channelOptions returns channel's options, 107 for an empty name and 102
// for an unknown namespace.
func (n *Node) channelOptions(channel string) (config.ChannelOptions, error) {
	if channel == "" {
		return config.ChannelOptions{}, ErrorBadRequest
	}
	opts, ok := n.cfg.ChannelOptionsFor(channel)
	if !ok {
		return config.ChannelOptions{}, ErrorUnknownChannel
	}
	return opts, nil
}
