package node

// BrokerEventHandler receives what a broker delivers to this node.
type BrokerEventHandler interface {
	// HandlePublication delivers a publication in channel to the node's
	// subscribers of it.
	HandlePublication(channel string, pub *Publication) error
}

// Broker carries publications between nodes. Subscribe and Unsubscribe tell
// it which channels this node has subscribers in; Publish sends a
// publication to every node subscribed to its channel (this one included).
type Broker interface {
	// Run starts the broker; events go to h from then on.
	Run(h BrokerEventHandler) error
	// Subscribe starts delivering channel's publications to this node.
	Subscribe(channel string) error
	// Unsubscribe stops delivering channel's publications to this node.
	Unsubscribe(channel string) error
	// Publish sends a publication to every node subscribed to channel and
	// returns its stream position (zero without history).
	Publish(channel string, data []byte, opts PublishOptions) (StreamPosition, error)
	// Close releases the broker's resources.
	Close() error
}
