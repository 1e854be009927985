package rotorproxy

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/rotorhq/rotor/proxyproto"
)

// The methods of proxyproto.CentrifugoProxyServer. Each converts the wire
// request to its Go type, runs it (see call), and converts the answer back.
// None returns a gRPC error: every failure is answered in-band.

var _ proxyproto.CentrifugoProxyServer = (*Server)(nil)

// Connect implements proxyproto.CentrifugoProxyServer.
func (s *Server) Connect(ctx context.Context, in *proxyproto.ConnectRequest) (*proxyproto.ConnectResponse, error) {
	return s.connect(ctx, in, grpcHeaders(ctx), wireGRPC), nil
}

// Refresh implements proxyproto.CentrifugoProxyServer.
func (s *Server) Refresh(ctx context.Context, in *proxyproto.RefreshRequest) (*proxyproto.RefreshResponse, error) {
	return s.refresh(ctx, in, grpcHeaders(ctx), wireGRPC), nil
}

// Subscribe implements proxyproto.CentrifugoProxyServer.
func (s *Server) Subscribe(ctx context.Context, in *proxyproto.SubscribeRequest) (*proxyproto.SubscribeResponse, error) {
	return s.subscribe(ctx, in, grpcHeaders(ctx), wireGRPC), nil
}

// Publish implements proxyproto.CentrifugoProxyServer.
func (s *Server) Publish(ctx context.Context, in *proxyproto.PublishRequest) (*proxyproto.PublishResponse, error) {
	return s.publish(ctx, in, grpcHeaders(ctx), wireGRPC), nil
}

// RPC implements proxyproto.CentrifugoProxyServer.
func (s *Server) RPC(ctx context.Context, in *proxyproto.RPCRequest) (*proxyproto.RPCResponse, error) {
	return s.rpc(ctx, in, grpcHeaders(ctx), wireGRPC), nil
}

// SubRefresh implements proxyproto.CentrifugoProxyServer.
func (s *Server) SubRefresh(ctx context.Context, in *proxyproto.SubRefreshRequest) (*proxyproto.SubRefreshResponse, error) {
	return s.subRefresh(ctx, in, grpcHeaders(ctx), wireGRPC), nil
}

func (s *Server) connect(ctx context.Context, in *proxyproto.ConnectRequest, hdr http.Header, wire string) *proxyproto.ConnectResponse {
	out := &proxyproto.ConnectResponse{}
	data, err := payload(in.Data, in.B64Data)
	if err != nil {
		out.Error = s.undecodable(ctx, TypeConnect, wire, err)
		return out
	}
	req := &ConnectRequest{
		Common:   common(in.Client, in.Transport, in.Protocol, in.Encoding, hdr),
		Data:     data,
		Name:     in.Name,
		Version:  in.Version,
		Channels: in.Channels,
	}
	res, perr, pdis := s.call(ctx, req, wire)
	out.Error, out.Disconnect = perr, pdis
	if r, ok := res.(*ConnectResult); ok {
		bin := isBinary(in.Encoding)
		out.Result = &proxyproto.ConnectResult{
			User:     r.User,
			ExpireAt: unixTime(r.ExpireAt),
			Channels: r.Channels,
			Meta:     r.Meta,
			Caps:     capsProto(r.Caps),
		}
		out.Result.Info, out.Result.B64Info = encodePayload(r.Info, bin)
		out.Result.Data, out.Result.B64Data = encodePayload(r.Data, bin)
		if len(r.Subs) > 0 {
			out.Result.Subs = make(map[string]*proxyproto.SubscribeOptions, len(r.Subs))
			for ch, o := range r.Subs {
				po := &proxyproto.SubscribeOptions{ExpireAt: unixTime(o.ExpireAt), Override: overrideProto(o.Override)}
				po.Info, po.B64Info = encodePayload(o.Info, bin)
				po.Data, po.B64Data = encodePayload(o.Data, bin)
				out.Result.Subs[ch] = po
			}
		}
	}
	return out
}

func (s *Server) refresh(ctx context.Context, in *proxyproto.RefreshRequest, hdr http.Header, wire string) *proxyproto.RefreshResponse {
	out := &proxyproto.RefreshResponse{}
	req := &RefreshRequest{
		Common: common(in.Client, in.Transport, in.Protocol, in.Encoding, hdr),
		User:   in.User,
		Meta:   in.Meta,
	}
	res, perr, pdis := s.call(ctx, req, wire)
	out.Error, out.Disconnect = perr, pdis
	if r, ok := res.(*RefreshResult); ok {
		out.Result = &proxyproto.RefreshResult{
			Expired:  r.Expired,
			ExpireAt: unixTime(r.ExpireAt),
			Meta:     r.Meta,
			Caps:     capsProto(r.Caps),
		}
		out.Result.Info, out.Result.B64Info = encodePayload(r.Info, isBinary(in.Encoding))
	}
	return out
}

func (s *Server) subscribe(ctx context.Context, in *proxyproto.SubscribeRequest, hdr http.Header, wire string) *proxyproto.SubscribeResponse {
	out := &proxyproto.SubscribeResponse{}
	data, err := payload(in.Data, in.B64Data)
	if err != nil {
		out.Error = s.undecodable(ctx, TypeSubscribe, wire, err)
		return out
	}
	req := &SubscribeRequest{
		Common:  common(in.Client, in.Transport, in.Protocol, in.Encoding, hdr),
		User:    in.User,
		Channel: in.Channel,
		Token:   in.Token,
		Meta:    in.Meta,
		Data:    data,
	}
	res, perr, pdis := s.call(ctx, req, wire)
	out.Error, out.Disconnect = perr, pdis
	if r, ok := res.(*SubscribeResult); ok {
		bin := isBinary(in.Encoding)
		out.Result = &proxyproto.SubscribeResult{
			ExpireAt: unixTime(r.ExpireAt),
			Override: overrideProto(r.Override),
			Allow:    r.Allow,
		}
		out.Result.Info, out.Result.B64Info = encodePayload(r.Info, bin)
		out.Result.Data, out.Result.B64Data = encodePayload(r.Data, bin)
	}
	return out
}

func (s *Server) publish(ctx context.Context, in *proxyproto.PublishRequest, hdr http.Header, wire string) *proxyproto.PublishResponse {
	out := &proxyproto.PublishResponse{}
	data, err := payload(in.Data, in.B64Data)
	if err != nil {
		out.Error = s.undecodable(ctx, TypePublish, wire, err)
		return out
	}
	req := &PublishRequest{
		Common:  common(in.Client, in.Transport, in.Protocol, in.Encoding, hdr),
		User:    in.User,
		Channel: in.Channel,
		Data:    data,
		Meta:    in.Meta,
	}
	res, perr, pdis := s.call(ctx, req, wire)
	out.Error, out.Disconnect = perr, pdis
	if r, ok := res.(*PublishResult); ok {
		out.Result = &proxyproto.PublishResult{SkipHistory: r.SkipHistory}
		out.Result.Data, out.Result.B64Data = encodePayload(r.Data, isBinary(in.Encoding))
	}
	return out
}

func (s *Server) rpc(ctx context.Context, in *proxyproto.RPCRequest, hdr http.Header, wire string) *proxyproto.RPCResponse {
	out := &proxyproto.RPCResponse{}
	data, err := payload(in.Data, in.B64Data)
	if err != nil {
		out.Error = s.undecodable(ctx, TypeRPC, wire, err)
		return out
	}
	req := &RPCRequest{
		Common: common(in.Client, in.Transport, in.Protocol, in.Encoding, hdr),
		User:   in.User,
		Method: in.Method,
		Data:   data,
		Meta:   in.Meta,
	}
	res, perr, pdis := s.call(ctx, req, wire)
	out.Error, out.Disconnect = perr, pdis
	if r, ok := res.(*RPCResult); ok {
		out.Result = &proxyproto.RPCResult{}
		out.Result.Data, out.Result.B64Data = encodePayload(r.Data, isBinary(in.Encoding))
	}
	return out
}

func (s *Server) subRefresh(ctx context.Context, in *proxyproto.SubRefreshRequest, hdr http.Header, wire string) *proxyproto.SubRefreshResponse {
	out := &proxyproto.SubRefreshResponse{}
	req := &SubRefreshRequest{
		Common:  common(in.Client, in.Transport, in.Protocol, in.Encoding, hdr),
		User:    in.User,
		Channel: in.Channel,
		Meta:    in.Meta,
	}
	res, perr, pdis := s.call(ctx, req, wire)
	out.Error, out.Disconnect = perr, pdis
	if r, ok := res.(*SubRefreshResult); ok {
		out.Result = &proxyproto.SubRefreshResult{Expired: r.Expired, ExpireAt: unixTime(r.ExpireAt)}
		out.Result.Info, out.Result.B64Info = encodePayload(r.Info, isBinary(in.Encoding))
	}
	return out
}

// undecodable logs a request whose payload could not be decoded and returns
// the internal error it is answered with.
func (s *Server) undecodable(ctx context.Context, typ RequestType, wire string, err error) *proxyproto.Error {
	s.opts.log.LogAttrs(ctx, slog.LevelError, "rotorproxy: undecodable request; answered 100 internal server error",
		slog.String("type", string(typ)), slog.String("wire", wire), slog.String("error", err.Error()))
	return internalError()
}

func common(client, transport, protocol, encoding string, hdr http.Header) Common {
	if hdr == nil {
		hdr = http.Header{}
	}
	return Common{Client: client, Transport: transport, Protocol: protocol, Encoding: encoding, Headers: hdr}
}

// grpcHeaders turns the metadata of a gRPC call into headers with canonical
// names; gRPC's pseudo-headers (":authority") are left out.
func grpcHeaders(ctx context.Context) http.Header {
	md, _ := metadata.FromIncomingContext(ctx)
	h := make(http.Header, len(md))
	for k, v := range md {
		if strings.HasPrefix(k, ":") {
			continue
		}
		h[http.CanonicalHeaderKey(k)] = v
	}
	return h
}

// payload returns the bytes of a data field: b64 decoded when set (binary
// encoding), else data as it is.
func payload(data []byte, b64 string) ([]byte, error) {
	if b64 == "" {
		return data, nil
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("b64data: %w", err)
	}
	return b, nil
}

// encodePayload places a result payload in the bytes field, or in its b64
// twin when the request came in binary encoding.
func encodePayload(b []byte, binary bool) ([]byte, string) {
	if len(b) == 0 {
		return nil, ""
	}
	if binary {
		return nil, base64.StdEncoding.EncodeToString(b)
	}
	return b, ""
}

func isBinary(encoding string) bool { return encoding == "binary" }

func unixTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func capsProto(caps []ChannelsCapability) []*proxyproto.ChannelsCapability {
	if len(caps) == 0 {
		return nil
	}
	out := make([]*proxyproto.ChannelsCapability, len(caps))
	for i, c := range caps {
		out[i] = &proxyproto.ChannelsCapability{Channels: c.Channels, Allow: c.Allow, Match: c.Match}
	}
	return out
}

func overrideProto(o *SubscribeOverride) *proxyproto.SubscribeOptionOverride {
	if o == nil {
		return nil
	}
	b := func(v *bool) *proxyproto.BoolValue {
		if v == nil {
			return nil
		}
		return &proxyproto.BoolValue{Value: *v}
	}
	return &proxyproto.SubscribeOptionOverride{
		Presence:           b(o.Presence),
		JoinLeave:          b(o.JoinLeave),
		ForceRecovery:      b(o.ForceRecovery),
		ForcePositioning:   b(o.ForcePositioning),
		ForcePushJoinLeave: b(o.ForcePushJoinLeave),
	}
}
