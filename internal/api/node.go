package api

import (
	"context"

	"github.com/rotorhq/rotor/internal/node"
)

// NodeAPI is what the Executor needs from a node. *node.Node implements it;
// tests use fakes. Each method returns a *node.Error for failures the caller
// should see (unknown channel, not available, ...); any other error is
// reported as 100 internal server error.
type NodeAPI interface {
	Publish(ctx context.Context, channel string, data []byte, opts node.PublishOptions) (node.PublishResult, error)
	Subscribe(ctx context.Context, user, channel string, opts node.ServerSubscribeOptions) error
	Unsubscribe(ctx context.Context, user, channel, client, session string) error
	Disconnect(ctx context.Context, user string, d node.Disconnect, opts node.DisconnectOptions) error
	Refresh(ctx context.Context, user string, opts node.RefreshOptions) error
	Presence(ctx context.Context, channel string) (map[string]*node.ClientInfo, error)
	PresenceStats(ctx context.Context, channel string) (numClients, numUsers uint32, err error)
	History(ctx context.Context, channel string, opts node.HistoryOptions) (node.HistoryResult, error)
	RemoveHistory(ctx context.Context, channel string) error
	Channels(ctx context.Context, pattern string) (map[string]node.ChannelInfo, error)
	Info(ctx context.Context) ([]node.NodeInfo, error)
	RPC(ctx context.Context, method string, params []byte) ([]byte, error)
}

// A change of a node method signature must break the build here, not at run
// time.
var _ NodeAPI = (*node.Node)(nil)
