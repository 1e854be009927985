package rotorproxy

import (
	"context"
	"encoding/json"
	"fmt"
)

// router answers an RPC with the route of its method, else with fallback,
// else with ErrMethodNotFound. routes is never changed after the table that
// holds it is made current.
func router(routes map[string]RPCHandler, fallback RPCHandler) RPCHandler {
	return func(ctx context.Context, req *RPCRequest) (*RPCResult, error) {
		if h, ok := routes[req.Method]; ok {
			return h(ctx, req)
		}
		if fallback != nil {
			return fallback(ctx, req)
		}
		return nil, ErrMethodNotFound
	}
}

// RPCJSON makes an RPCHandler of a function of JSON values: the call's data
// is decoded into an In (a call without data leaves it at its zero value;
// data that does not decode is answered with ErrBadRequest), and the Out fn
// returns is encoded as the result's data.
//
//	srv.HandleRPC("cinema.screening", rotorproxy.RPCJSON(
//		func(ctx context.Context, req *rotorproxy.RPCRequest, in struct{ ID int }) (*Screening, error) {
//			return cinema.Screening(ctx, in.ID)
//		}))
func RPCJSON[In, Out any](fn func(ctx context.Context, req *RPCRequest, in In) (Out, error)) RPCHandler {
	return func(ctx context.Context, req *RPCRequest) (*RPCResult, error) {
		var in In
		if err := req.Bind(&in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, req, in)
		if err != nil {
			return nil, err
		}
		data, err := json.Marshal(out)
		if err != nil {
			return nil, fmt.Errorf("rotorproxy: rpc %q: encoding the result: %w", req.Method, err)
		}
		return &RPCResult{Data: data}, nil
	}
}
