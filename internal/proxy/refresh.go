package proxy

import (
	"context"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// Refresh asks the backend at proxy_refresh_endpoint whether a connection
// whose expiry came may live on. An answer without result means expired.
//
// A backend error or disconnect is returned like for the other events;
// Centrifugo ignores both for refresh (the connection then expires, as with
// no result), and that decision is left to the caller.
func (p *Proxy) Refresh(ctx context.Context, req *node.ProxyRefreshRequest) (*node.ProxyRefreshResult, error) {
	if p.refresh == nil {
		return nil, notEnabled(config.ProxyEventRefresh)
	}
	resp, err := call(ctx, p.refresh, "Refresh", &req.ProxyClientInfo, nil, &proxyproto.RefreshRequest{}, proxyproto.CentrifugoProxyClient.Refresh)
	if err != nil {
		return nil, err
	}
	r := resp.GetResult()
	if r == nil {
		return &node.ProxyRefreshResult{Expired: true}, nil
	}
	return &node.ProxyRefreshResult{Expired: r.GetExpired(), ExpireAt: r.GetExpireAt(), Info: r.GetInfo()}, nil
}
