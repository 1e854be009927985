package node

import (
	"context"
	"time"
)

// defaultPresenceUpdateInterval is used when client_presence_update_interval
// is 0.
const defaultPresenceUpdateInterval = 27 * time.Second

// maintain runs until the node stops: every client_presence_update_interval
// it refreshes the presence of every subscription that keeps it (so that it
// outlives global_presence_ttl), and every
// client_channel_position_check_delay (0: never) it checks that positioned
// subscriptions are at their stream's position.
func (n *Node) maintain() {
	every := n.cfg.ClientPresenceUpdateInterval
	if every <= 0 {
		every = defaultPresenceUpdateInterval
	}
	presence := time.NewTicker(every)
	defer presence.Stop()
	var positions <-chan time.Time
	if d := n.cfg.ClientChannelPositionCheckDelay; d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		positions = t.C
	}
	for {
		select {
		case <-n.stop:
			return
		case <-presence.C:
			n.updatePresence()
		case <-positions:
			n.checkPositions()
		}
	}
}

// subRef names one subscription of a client.
type subRef struct {
	ch  string
	sub *clientSub
}

// subsWith returns the client's ready subscriptions having flag.
func (c *Client) subsWith(flag subFlags) []subRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []subRef
	for ch, sub := range c.subs {
		if sub.flags&flag != 0 && sub.joined.Load() {
			out = append(out, subRef{ch, sub})
		}
	}
	return out
}

func (n *Node) updatePresence() {
	if n.presence == nil {
		return
	}
	for _, c := range n.hub.allConns() {
		for _, r := range c.subsWith(subPresence) {
			ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
			err := n.presence.AddPresence(ctx, r.ch, c.id, c.clientInfo(r.ch), n.cfg.GlobalPresenceTTL)
			cancel()
			if err != nil {
				n.log.Error("update presence", "client", c.id, "channel", r.ch, "error", err)
			}
		}
	}
}

// checkPositions compares each positioned subscription's position with its
// stream's. Another epoch means the stream was lost; an offset behind the
// stream's twice in a row (a publication may be on its way the first time)
// means publications were lost. Either way the subscription is handed to
// handleInsufficientState.
func (n *Node) checkPositions() {
	tops := make(map[string]StreamPosition)
	for _, c := range n.hub.allConns() {
		for _, r := range c.subsWith(subPositioned) {
			pos, ok := n.hub.subPosition(r.ch, c, r.sub)
			if !ok {
				continue
			}
			top, ok := tops[r.ch]
			if !ok {
				chOpts, found := n.cfg.ChannelOptionsFor(r.ch)
				if !found {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
				hr, err := n.broker.History(ctx, r.ch, HistoryOptions{MetaTTL: n.historyMetaTTL(chOpts)})
				cancel()
				if err != nil {
					n.log.Error("position check", "channel", r.ch, "error", err)
					continue
				}
				top = hr.StreamPosition
				tops[r.ch] = top
			}
			lost := top.Epoch != pos.Epoch
			c.mu.Lock()
			if !lost && top.Offset > pos.Offset {
				lost = r.sub.lagAt == pos.Offset+1
				r.sub.lagAt = pos.Offset + 1
			} else {
				r.sub.lagAt = 0
			}
			c.mu.Unlock()
			if lost {
				c.handleInsufficientState(r.ch, r.sub)
			}
		}
	}
}
