package bench

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/rotorhq/rotor/apiproto"
)

// grpcPublisher publishes through the gRPC server API, over one plaintext
// HTTP/2 connection that multiplexes the concurrent calls.
type grpcPublisher struct {
	cc     *grpc.ClientConn
	client apiproto.CentrifugoApiClient
	addr   string
	md     metadata.MD // nil without a key
	size   int
	opts   *Options
}

var _ publisher = (*grpcPublisher)(nil)

func newGRPCPublisher(o *Options) (*grpcPublisher, error) {
	cc, err := grpc.NewClient(o.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("bench: grpc api %s: %w", o.GRPCAddr, err)
	}
	p := &grpcPublisher{
		cc:     cc,
		client: apiproto.NewCentrifugoApiClient(cc),
		addr:   o.GRPCAddr,
		size:   o.PayloadSize,
		opts:   o,
	}
	if o.GRPCKey != "" {
		p.md = metadata.Pairs("authorization", "apikey "+o.GRPCKey)
	}
	return p, nil
}

func (p *grpcPublisher) target() string { return p.addr }

// publish calls Publish and checks the in-band error.
func (p *grpcPublisher) publish(ctx context.Context, buf []byte, channel string, t, seq int64) ([]byte, error) {
	buf = appendPayload(buf[:0], t, seq, p.size)
	ctx, cancel := context.WithTimeout(ctx, p.opts.PublishTimeout)
	defer cancel()
	if p.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, p.md)
	}
	resp, err := p.client.Publish(ctx, &apiproto.PublishRequest{Channel: channel, Data: buf})
	if err != nil {
		return buf, err
	}
	if e := resp.GetError(); e != nil {
		return buf, fmt.Errorf("API error %d %s", e.GetCode(), e.GetMessage())
	}
	return buf, nil
}

func (p *grpcPublisher) close() { _ = p.cc.Close() }
