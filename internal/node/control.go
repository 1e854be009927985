package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Control messages carry the server API's actions on connections (subscribe,
// unsubscribe, disconnect, refresh) to every node through the broker: the
// node that got the call applies it to its own connections at once and
// publishes it for the others, which skip their own messages.

const (
	controlSubscribe   = "subscribe"
	controlUnsubscribe = "unsubscribe"
	controlDisconnect  = "disconnect"
	controlRefresh     = "refresh"
)

// controlMessage is a control message, encoded as JSON.
type controlMessage struct {
	// Origin is the uid of the node that sent it.
	Origin string `json:"origin"`
	Op     string `json:"op"`
	User   string `json:"user,omitempty"`

	Channel string `json:"channel,omitempty"`
	Client  string `json:"client,omitempty"`
	Session string `json:"session,omitempty"`

	Subscribe      *ServerSubscribeOptions `json:"subscribe,omitempty"`
	Disconnect     *Disconnect             `json:"disconnect,omitempty"`
	DisconnectOpts *DisconnectOptions      `json:"disconnect_opts,omitempty"`
	Refresh        *RefreshOptions         `json:"refresh,omitempty"`
	Node           *NodeInfo               `json:"node,omitempty"`

	// Channels requests and answers.
	RequestID string            `json:"request_id,omitempty"`
	Target    string            `json:"target,omitempty"`
	Pattern   string            `json:"pattern,omitempty"`
	Channels  map[string]uint32 `json:"channels,omitempty"`
}

func (n *Node) publishControl(ctx context.Context, m *controlMessage) error {
	m.Origin = n.uid
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode control message: %w", err)
	}
	return n.broker.PublishControl(ctx, data)
}

// HandleControl implements BrokerEventHandler: it applies a control message
// of another node to this node's connections.
func (n *Node) HandleControl(data []byte) error {
	var m controlMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("decode control message: %w", err)
	}
	if m.Origin == n.uid {
		return nil
	}
	switch m.Op {
	case controlSubscribe:
		if m.Subscribe != nil {
			n.subscribeLocal(m.User, m.Channel, *m.Subscribe)
		}
	case controlUnsubscribe:
		n.unsubscribeLocal(m.User, m.Channel, m.Client, m.Session)
	case controlDisconnect:
		if m.Disconnect != nil {
			var opts DisconnectOptions
			if m.DisconnectOpts != nil {
				opts = *m.DisconnectOpts
			}
			n.disconnectLocal(m.User, *m.Disconnect, opts)
		}
	case controlRefresh:
		if m.Refresh != nil {
			n.refreshLocal(m.User, *m.Refresh)
		}
	case controlChannelsRequest:
		go n.answerChannels(&m)
	case controlChannelsResponse:
		if m.Target == n.uid {
			n.surveys.deliver(m.RequestID, m.Channels)
		}
	case controlNodeInfo:
		if m.Node != nil && m.Node.UID == m.Origin {
			n.nodes.add(*m.Node, time.Now())
		}
	default:
		n.log.Warn("unknown control message", "op", m.Op, "origin", m.Origin)
	}
	return nil
}
