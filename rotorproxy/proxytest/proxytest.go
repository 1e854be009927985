package proxytest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/rotorhq/rotor/proxyproto"
	"github.com/rotorhq/rotor/rotorproxy"
)

// DefaultTimeout is the deadline of calls made without one: the default
// proxy timeout of Rotor and Centrifugo.
const DefaultTimeout = time.Second

// DefaultClient is the client id of requests that have none.
const DefaultClient = "proxytest-client"

// errEmpty is returned for a response with neither result, error nor
// disconnect, which a rotorproxy.Server never gives.
var errEmpty = errors.New("proxytest: response has no result, error or disconnect")

// Do calls the service of req's type and returns its result, whose type
// matches req's (*rotorproxy.ConnectRequest gives *rotorproxy.ConnectResult
// and so on).
func Do(ctx context.Context, srv *rotorproxy.Server, req rotorproxy.Request) (rotorproxy.Result, error) {
	var (
		res rotorproxy.Result
		err error
	)
	switch r := req.(type) {
	case *rotorproxy.ConnectRequest:
		res, err = nonNil(Connect(ctx, srv, r))
	case *rotorproxy.RefreshRequest:
		res, err = nonNil(Refresh(ctx, srv, r))
	case *rotorproxy.SubscribeRequest:
		res, err = nonNil(Subscribe(ctx, srv, r))
	case *rotorproxy.PublishRequest:
		res, err = nonNil(Publish(ctx, srv, r))
	case *rotorproxy.RPCRequest:
		res, err = nonNil(RPC(ctx, srv, r))
	case *rotorproxy.SubRefreshRequest:
		res, err = nonNil(SubRefresh(ctx, srv, r))
	default:
		err = fmt.Errorf("proxytest: unknown request type %T", req)
	}
	return res, err
}

func nonNil[R rotorproxy.Result](r R, err error) (rotorproxy.Result, error) {
	var zero R
	if any(r) == any(zero) {
		return nil, err
	}
	return r, err
}

// Connect calls the connect service of srv with req.
func Connect(ctx context.Context, srv *rotorproxy.Server, req *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
	c := fill(req.Common)
	bin := c.Encoding == "binary"
	in := &proxyproto.ConnectRequest{
		Client: c.Client, Transport: c.Transport, Protocol: c.Protocol, Encoding: c.Encoding,
		Name: req.Name, Version: req.Version, Channels: req.Channels,
	}
	in.Data, in.B64Data = encode(req.Data, bin)
	r, err := call(ctx, c.Headers, in, srv.Connect)
	if err != nil {
		return nil, err
	}
	res := &rotorproxy.ConnectResult{
		User:     r.User,
		ExpireAt: fromUnix(r.ExpireAt),
		Channels: r.Channels,
		Meta:     r.Meta,
		Caps:     caps(r.Caps),
	}
	if res.Info, err = decode(r.Info, r.B64Info); err != nil {
		return nil, err
	}
	if res.Data, err = decode(r.Data, r.B64Data); err != nil {
		return nil, err
	}
	if len(r.Subs) > 0 {
		res.Subs = make(map[string]rotorproxy.SubscribeOptions, len(r.Subs))
		for ch, o := range r.Subs {
			so := rotorproxy.SubscribeOptions{ExpireAt: fromUnix(o.GetExpireAt()), Override: override(o.GetOverride())}
			if so.Info, err = decode(o.GetInfo(), o.GetB64Info()); err != nil {
				return nil, err
			}
			if so.Data, err = decode(o.GetData(), o.GetB64Data()); err != nil {
				return nil, err
			}
			res.Subs[ch] = so
		}
	}
	return res, nil
}

// Refresh calls the refresh service of srv with req.
func Refresh(ctx context.Context, srv *rotorproxy.Server, req *rotorproxy.RefreshRequest) (*rotorproxy.RefreshResult, error) {
	c := fill(req.Common)
	in := &proxyproto.RefreshRequest{
		Client: c.Client, Transport: c.Transport, Protocol: c.Protocol, Encoding: c.Encoding,
		User: req.User, Meta: req.Meta,
	}
	r, err := call(ctx, c.Headers, in, srv.Refresh)
	if err != nil {
		return nil, err
	}
	res := &rotorproxy.RefreshResult{Expired: r.Expired, ExpireAt: fromUnix(r.ExpireAt), Meta: r.Meta, Caps: caps(r.Caps)}
	if res.Info, err = decode(r.Info, r.B64Info); err != nil {
		return nil, err
	}
	return res, nil
}

// Subscribe calls the subscribe service of srv with req.
func Subscribe(ctx context.Context, srv *rotorproxy.Server, req *rotorproxy.SubscribeRequest) (*rotorproxy.SubscribeResult, error) {
	c := fill(req.Common)
	in := &proxyproto.SubscribeRequest{
		Client: c.Client, Transport: c.Transport, Protocol: c.Protocol, Encoding: c.Encoding,
		User: req.User, Channel: req.Channel, Token: req.Token, Meta: req.Meta,
	}
	in.Data, in.B64Data = encode(req.Data, c.Encoding == "binary")
	r, err := call(ctx, c.Headers, in, srv.Subscribe)
	if err != nil {
		return nil, err
	}
	res := &rotorproxy.SubscribeResult{ExpireAt: fromUnix(r.ExpireAt), Override: override(r.Override), Allow: r.Allow}
	if res.Info, err = decode(r.Info, r.B64Info); err != nil {
		return nil, err
	}
	if res.Data, err = decode(r.Data, r.B64Data); err != nil {
		return nil, err
	}
	return res, nil
}

// Publish calls the publish service of srv with req.
func Publish(ctx context.Context, srv *rotorproxy.Server, req *rotorproxy.PublishRequest) (*rotorproxy.PublishResult, error) {
	c := fill(req.Common)
	in := &proxyproto.PublishRequest{
		Client: c.Client, Transport: c.Transport, Protocol: c.Protocol, Encoding: c.Encoding,
		User: req.User, Channel: req.Channel, Meta: req.Meta,
	}
	in.Data, in.B64Data = encode(req.Data, c.Encoding == "binary")
	r, err := call(ctx, c.Headers, in, srv.Publish)
	if err != nil {
		return nil, err
	}
	res := &rotorproxy.PublishResult{SkipHistory: r.SkipHistory}
	if res.Data, err = decode(r.Data, r.B64Data); err != nil {
		return nil, err
	}
	return res, nil
}

// RPC calls the RPC service of srv with req.
func RPC(ctx context.Context, srv *rotorproxy.Server, req *rotorproxy.RPCRequest) (*rotorproxy.RPCResult, error) {
	c := fill(req.Common)
	in := &proxyproto.RPCRequest{
		Client: c.Client, Transport: c.Transport, Protocol: c.Protocol, Encoding: c.Encoding,
		User: req.User, Method: req.Method, Meta: req.Meta,
	}
	in.Data, in.B64Data = encode(req.Data, c.Encoding == "binary")
	r, err := call(ctx, c.Headers, in, srv.RPC)
	if err != nil {
		return nil, err
	}
	res := &rotorproxy.RPCResult{}
	if res.Data, err = decode(r.Data, r.B64Data); err != nil {
		return nil, err
	}
	return res, nil
}

// SubRefresh calls the sub_refresh service of srv with req.
func SubRefresh(ctx context.Context, srv *rotorproxy.Server, req *rotorproxy.SubRefreshRequest) (*rotorproxy.SubRefreshResult, error) {
	c := fill(req.Common)
	in := &proxyproto.SubRefreshRequest{
		Client: c.Client, Transport: c.Transport, Protocol: c.Protocol, Encoding: c.Encoding,
		User: req.User, Channel: req.Channel, Meta: req.Meta,
	}
	r, err := call(ctx, c.Headers, in, srv.SubRefresh)
	if err != nil {
		return nil, err
	}
	res := &rotorproxy.SubRefreshResult{Expired: r.Expired, ExpireAt: fromUnix(r.ExpireAt)}
	if res.Info, err = decode(r.Info, r.B64Info); err != nil {
		return nil, err
	}
	return res, nil
}

// fill returns c with the defaults of empty fields.
func fill(c rotorproxy.Common) rotorproxy.Common {
	if c.Client == "" {
		c.Client = DefaultClient
	}
	if c.Transport == "" {
		c.Transport = "websocket"
	}
	if c.Protocol == "" {
		c.Protocol = "json"
	}
	if c.Encoding == "" {
		c.Encoding = "json"
	}
	return c
}

// callContext gives ctx the default deadline when it has none and the
// headers as incoming gRPC metadata, as the gRPC server would.
// response is what every unary proxy response offers.
type response[R any] interface {
	GetResult() *R
	GetError() *proxyproto.Error
	GetDisconnect() *proxyproto.Disconnect
}

// call runs one proxy method the way a node would (headers as incoming
// metadata, a deadline) and returns its result, or its in-band error or
// disconnect as an error, or errEmpty when it has none of the three.
func call[In, R any, Out response[R]](ctx context.Context, hdr http.Header, in In, method func(context.Context, In) (Out, error)) (*R, error) {
	ctx, cancel := callContext(ctx, hdr)
	defer cancel()
	out, err := method(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := replyError(out.GetError(), out.GetDisconnect()); err != nil {
		return nil, err
	}
	r := out.GetResult()
	if r == nil {
		return nil, errEmpty
	}
	return r, nil
}

func callContext(ctx context.Context, hdr http.Header) (context.Context, context.CancelFunc) {
	md := metadata.MD{}
	for k, v := range hdr {
		md[strings.ToLower(k)] = append([]string(nil), v...)
	}
	ctx = metadata.NewIncomingContext(ctx, md)
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

func replyError(e *proxyproto.Error, d *proxyproto.Disconnect) error {
	if d != nil {
		return &rotorproxy.Disconnect{Code: d.Code, Reason: d.Reason}
	}
	if e != nil {
		return &rotorproxy.Error{Code: e.Code, Message: e.Message, Temporary: e.Temporary}
	}
	return nil
}

func encode(b []byte, binary bool) ([]byte, string) {
	if binary && len(b) > 0 {
		return nil, base64.StdEncoding.EncodeToString(b)
	}
	return b, ""
}

func decode(b []byte, b64 string) ([]byte, error) {
	if b64 == "" {
		return b, nil
	}
	out, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("proxytest: result payload: %w", err)
	}
	return out, nil
}

func fromUnix(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

func caps(in []*proxyproto.ChannelsCapability) []rotorproxy.ChannelsCapability {
	if len(in) == 0 {
		return nil
	}
	out := make([]rotorproxy.ChannelsCapability, len(in))
	for i, c := range in {
		out[i] = rotorproxy.ChannelsCapability{Channels: c.Channels, Allow: c.Allow, Match: c.Match}
	}
	return out
}

func override(o *proxyproto.SubscribeOptionOverride) *rotorproxy.SubscribeOverride {
	if o == nil {
		return nil
	}
	b := func(v *proxyproto.BoolValue) *bool {
		if v == nil {
			return nil
		}
		return rotorproxy.Bool(v.Value)
	}
	return &rotorproxy.SubscribeOverride{
		Presence:           b(o.Presence),
		JoinLeave:          b(o.JoinLeave),
		ForceRecovery:      b(o.ForceRecovery),
		ForcePositioning:   b(o.ForcePositioning),
		ForcePushJoinLeave: b(o.ForcePushJoinLeave),
	}
}
