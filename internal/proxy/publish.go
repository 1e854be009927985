package proxy

import (
	"context"

	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// Publish asks the backend whether the client may publish to a channel of a
// namespace with proxy_publish. The result's data, when set, replaces what
// the client sent; an answer without result allows the publication as is.
func (p *Proxy) Publish(ctx context.Context, req *node.ProxyPublishRequest) (*node.ProxyPublishResult, error) {
	t := p.channel(req.Channel).publish
	if t == nil {
		return nil, notEnabled("publish to " + req.Channel)
	}
	preq := &proxyproto.PublishRequest{Channel: req.Channel}
	resp, err := call(ctx, t, "Publish", &req.ProxyClientInfo, req.Data, preq, proxyproto.CentrifugoProxyClient.Publish)
	if err != nil {
		return nil, err
	}
	r := resp.GetResult()
	return &node.ProxyPublishResult{Data: r.GetData(), SkipHistory: r.GetSkipHistory()}, nil
}
