package proxy

import (
	"context"

	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// RPC passes a client's RPC call to the backend its method routes to (see
// RPCEnabled) and returns the backend's data; an answer without result
// returns no data.
func (p *Proxy) RPC(ctx context.Context, req *node.ProxyRPCRequest) (*node.ProxyRPCResult, error) {
	t := p.rpcTarget(req.Method)
	if t == nil {
		return nil, notEnabled("rpc method " + req.Method)
	}
	preq := &proxyproto.RPCRequest{Method: req.Method}
	resp, err := call(ctx, t, "RPC", &req.ProxyClientInfo, req.Data, preq, proxyproto.CentrifugoProxyClient.RPC)
	if err != nil {
		return nil, err
	}
	return &node.ProxyRPCResult{Data: resp.GetResult().GetData()}, nil
}
