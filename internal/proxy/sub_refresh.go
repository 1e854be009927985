package proxy

import (
	"context"

	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// SubRefresh asks the backend whether a subscription, in a namespace with
// proxy_sub_refresh, whose expiry came may live on. An answer without result
// means expired.
func (p *Proxy) SubRefresh(ctx context.Context, req *node.ProxySubRefreshRequest) (*node.ProxySubRefreshResult, error) {
	t := p.channel(req.Channel).subRefresh
	if t == nil {
		return nil, notEnabled("sub_refresh in " + req.Channel)
	}
	preq := &proxyproto.SubRefreshRequest{Channel: req.Channel}
	resp, err := call(ctx, t, "SubRefresh", &req.ProxyClientInfo, nil, preq, proxyproto.CentrifugoProxyClient.SubRefresh)
	if err != nil {
		return nil, err
	}
	r := resp.GetResult()
	if r == nil {
		return &node.ProxySubRefreshResult{Expired: true}, nil
	}
	return &node.ProxySubRefreshResult{Expired: r.GetExpired(), ExpireAt: r.GetExpireAt(), Info: r.GetInfo()}, nil
}
