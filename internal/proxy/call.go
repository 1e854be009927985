package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/internal/node"
	"github.com/rotorhq/rotor/proxyproto"
)

// answer is what every proxy response message has besides its result.
type answer interface {
	proto.Message
	GetError() *proxyproto.Error
	GetDisconnect() *proxyproto.Disconnect
}

// grpcMethod is a method of the generated client, taken as a method
// expression such as proxyproto.CentrifugoProxyClient.Connect.
type grpcMethod[Req proto.Message, Resp answer] func(proxyproto.CentrifugoProxyClient, context.Context, Req, ...grpc.CallOption) (Resp, error)

// call makes one proxy call, the same way for every event: it fills the
// shared request fields, sends req over the target's wire within its
// timeout, and turns the answer into the response (its result still to be
// mapped by the caller), a node.Disconnect, a *node.Error, or, when there
// is no usable answer, an error wrapping ErrCallFailed that is logged here.
func call[Req proto.Message, Resp answer](ctx context.Context, t *target, method string, info *node.ProxyClientInfo, data []byte, req Req, viaGRPC grpcMethod[Req, Resp]) (Resp, error) {
	var resp, zero Resp
	if err := t.fill(req, info, data); err != nil {
		return zero, err
	}
	callCtx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	var err error
	if t.grpc != nil {
		resp, err = viaGRPC(t.grpc, t.outgoing(callCtx, info), req, t.callOpts...)
	} else {
		resp = resp.ProtoReflect().New().Interface().(Resp)
		err = t.post(callCtx, info, req, resp)
	}
	if err == nil {
		err = unbase64(resp.ProtoReflect())
	}
	if err != nil {
		if ctx.Err() == nil && (errors.Is(callCtx.Err(), context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", t.timeout, err)
		}
		return zero, t.failed(ctx, method, err)
	}
	if d := resp.GetDisconnect(); d != nil {
		return zero, node.Disconnect{Code: d.GetCode(), Reason: d.GetReason()}
	}
	if e := resp.GetError(); e != nil {
		return zero, &node.Error{Code: e.GetCode(), Message: e.GetMessage(), Temporary: e.GetTemporary()}
	}
	return resp, nil
}

// failed wraps the error of a call that got no usable answer and logs it,
// naming the config key, the endpoint and the method. A call abandoned by
// its caller (the client went away) is only logged at debug level.
func (t *target) failed(ctx context.Context, method string, err error) error {
	where := t.key
	if t.name != "" {
		where = fmt.Sprintf("%s (proxy %q)", t.key, t.name)
	}
	level := slog.LevelWarn
	if errors.Is(ctx.Err(), context.Canceled) {
		level = slog.LevelDebug
	}
	attrs := []any{"key", t.key, "endpoint", t.endpoint, "method", method, "timeout", t.timeout, "error", err}
	if t.name != "" {
		attrs = append(attrs, "proxy", t.name)
	}
	t.p.log.Log(ctx, level, "proxy call failed", attrs...)
	return fmt.Errorf("%w: %s to %s from %s: %w", ErrCallFailed, method, t.endpoint, where, err)
}
