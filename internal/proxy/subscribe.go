package proxy

import (
	"context"

	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// Subscribe asks the backend whether the client may subscribe to a channel
// of a namespace with proxy_subscribe. An answer without result allows the
// subscription with nothing added.
func (p *Proxy) Subscribe(ctx context.Context, req *node.ProxySubscribeRequest) (*node.ProxySubscribeResult, error) {
	t := p.channel(req.Channel).subscribe
	if t == nil {
		return nil, notEnabled("subscribe to " + req.Channel)
	}
	preq := &proxyproto.SubscribeRequest{Channel: req.Channel, Token: req.Token}
	resp, err := call(ctx, t, "Subscribe", &req.ProxyClientInfo, req.Data, preq, proxyproto.CentrifugoProxyClient.Subscribe)
	if err != nil {
		return nil, err
	}
	r := resp.GetResult()
	return &node.ProxySubscribeResult{ExpireAt: r.GetExpireAt(), Info: r.GetInfo(), Data: r.GetData()}, nil
}
