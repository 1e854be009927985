package proxy

import (
	"context"

	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// Connect asks the backend at proxy_connect_endpoint whether a client that
// sent no token may connect. An answer without result, error or disconnect
// gives ErrNoCredentials (the connection closes with 3501).
func (p *Proxy) Connect(ctx context.Context, req *node.ProxyConnectRequest) (*node.ProxyConnectResult, error) {
	if p.connect == nil {
		return nil, notEnabled(config.ProxyEventConnect)
	}
	preq := &proxyproto.ConnectRequest{Name: req.Name, Version: req.Version, Channels: req.Channels}
	resp, err := call(ctx, p.connect, "Connect", &req.ProxyClientInfo, req.Data, preq, proxyproto.CentrifugoProxyClient.Connect)
	if err != nil {
		return nil, err
	}
	r := resp.GetResult()
	if r == nil {
		return nil, ErrNoCredentials
	}
	res := &node.ProxyConnectResult{
		User:     r.GetUser(),
		ExpireAt: r.GetExpireAt(),
		Info:     r.GetInfo(),
		Data:     r.GetData(),
		Channels: r.GetChannels(),
		Meta:     r.GetMeta(),
	}
	if len(r.GetSubs()) > 0 {
		res.Subs = make(map[string]node.ProxySubscribeOptions, len(r.GetSubs()))
		for ch, o := range r.GetSubs() {
			res.Subs[ch] = node.ProxySubscribeOptions{ExpireAt: o.GetExpireAt(), Info: o.GetInfo(), Data: o.GetData()}
		}
	}
	return res, nil
}
