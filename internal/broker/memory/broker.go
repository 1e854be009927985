// Package memory is the in-process broker: publications go straight to this
// node's subscribers. It is the default engine of a single node.
package memory

import (
	"errors"
	"sync/atomic"

	"github.com/rotorhq/rotor/internal/node"
)

// Broker is an in-memory node.Broker.
type Broker struct {
	h atomic.Pointer[handlerBox]
}

type handlerBox struct{ h node.BrokerEventHandler }

var _ node.Broker = (*Broker)(nil)

// New returns an in-memory broker.
func New() *Broker { return &Broker{} }

// Run implements node.Broker.
func (b *Broker) Run(h node.BrokerEventHandler) error {
	if h == nil {
		return errors.New("memory broker: nil handler")
	}
	b.h.Store(&handlerBox{h: h})
	return nil
}

// Subscribe implements node.Broker; the hub alone decides delivery in memory.
func (b *Broker) Subscribe(string) error { return nil }

// Unsubscribe implements node.Broker.
func (b *Broker) Unsubscribe(string) error { return nil }

// Publish implements node.Broker: it delivers to this node's subscribers.
func (b *Broker) Publish(channel string, data []byte, opts node.PublishOptions) (node.StreamPosition, error) {
	box := b.h.Load()
	if box == nil {
		return node.StreamPosition{}, errors.New("memory broker: not running")
	}
	pub := &node.Publication{Data: data, Info: opts.ClientInfo, Tags: opts.Tags}
	return node.StreamPosition{}, box.h.HandlePublication(channel, pub)
}

// Close implements node.Broker.
func (b *Broker) Close() error { return nil }
