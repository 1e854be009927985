package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/rotorhq/rotor/apiproto"
	"github.com/rotorhq/rotor/internal/config"
)

// GRPCErrorModeHeader is the metadata key with which one call asks for the
// transport error mode ("x-centrifugo-error-mode: transport").
const GRPCErrorModeHeader = "x-centrifugo-error-mode"

// healthServicePrefix starts the full method names of the standard health
// service, which answers without the API key so that load balancers can
// probe it.
const healthServicePrefix = "/grpc.health.v1.Health/"

// GRPCOptions configure the gRPC adapter. The zero value serves the API in
// plain text, open to every caller, with errors in-band and no reflection.
type GRPCOptions struct {
	// Key is the API key (grpc_api_key) callers must send as the metadata
	// "authorization: apikey <key>" (the scheme is case-insensitive). A
	// missing or wrong key is answered with codes.Unauthenticated; the health
	// service is exempt. Zero value: no key, the API is open.
	Key string
	// TLSCert and TLSKey are paths to PEM files with the server certificate
	// (chain) and its private key (grpc_api_tls_cert, grpc_api_tls_key).
	// Set both or neither. Zero value: plain text.
	TLSCert, TLSKey string
	// Reflection registers the gRPC reflection service (grpc_api_reflection),
	// for tools such as grpcurl. It requires the key like the API does.
	// Zero value: off.
	Reflection bool
	// ErrorMode "transport" (grpc_api_error_mode) answers API errors of
	// single-method calls with a gRPC status (see GRPCCode) for every call;
	// otherwise a call opts in with the metadata
	// "x-centrifugo-error-mode: transport". Batch replies always keep their
	// errors in-band. Zero value: errors stay in the response with status OK.
	ErrorMode string
	// MaxRecvMsgSize limits incoming messages, in bytes; bigger ones are
	// refused with codes.ResourceExhausted. Zero value: gRPC's default
	// (4 MiB).
	MaxRecvMsgSize int
	// Logger receives refused calls and recovered panics. Zero value: the
	// executor's logger.
	Logger *slog.Logger
}

// NewGRPCServer returns a gRPC server carrying the CentrifugoApi service
// over exec, the standard health service (grpc.health.v1.Health, SERVING
// for "" and for the API service) and, when asked, reflection. Methods of
// Centrifugo PRO and any other unknown method answer codes.Unimplemented.
// The caller serves it on a listener (Serve) and stops it (GracefulStop).
//
// It fails when exec is nil, when only one of TLSCert and TLSKey is set or a
// TLS file cannot be read or parsed (the error names the config key), when
// ErrorMode is neither empty nor "transport", or when MaxRecvMsgSize is
// negative.
func NewGRPCServer(exec *Executor, opts GRPCOptions) (*grpc.Server, error) {
	if exec == nil {
		return nil, errors.New("api: NewGRPCServer: nil executor")
	}
	if opts.ErrorMode != "" && !strings.EqualFold(opts.ErrorMode, ErrorModeTransport) {
		return nil, fmt.Errorf("api: grpc_api_error_mode %q: must be empty or %q", opts.ErrorMode, ErrorModeTransport)
	}
	if opts.MaxRecvMsgSize < 0 {
		return nil, fmt.Errorf("api: NewGRPCServer: negative MaxRecvMsgSize %d", opts.MaxRecvMsgSize)
	}
	log := opts.Logger
	if log == nil {
		log = exec.log
	}
	svc := &grpcService{
		exec:            exec,
		transportErrors: opts.ErrorMode != "",
	}
	g := &grpcGuard{log: log, hasKey: opts.Key != "", keyHash: sha256.Sum256([]byte(opts.Key))}

	serverOpts := []grpc.ServerOption{
		// The guard against panics runs outermost so that it also covers
		// the key check.
		grpc.ChainUnaryInterceptor(g.recoverUnary, g.authUnary),
		grpc.ChainStreamInterceptor(g.recoverStream, g.authStream),
	}
	if opts.MaxRecvMsgSize > 0 {
		serverOpts = append(serverOpts, grpc.MaxRecvMsgSize(opts.MaxRecvMsgSize))
	}
	if opts.TLSCert != "" || opts.TLSKey != "" {
		creds, err := serverTLS(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return nil, err
		}
		serverOpts = append(serverOpts, grpc.Creds(creds))
	}

	srv := grpc.NewServer(serverOpts...)
	apiproto.RegisterCentrifugoApiServer(srv, svc)
	hs := health.NewServer() // "" starts SERVING
	hs.SetServingStatus(apiproto.CentrifugoApi_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	if opts.Reflection {
		reflection.Register(srv)
	}
	return srv, nil
}

// serverTLS loads the certificate and key files, naming the config key of
// whichever is missing or unreadable.
func serverTLS(certFile, keyFile string) (credentials.TransportCredentials, error) {
	cert, err := config.LoadKeyPair("grpc_api_tls_cert", certFile, "grpc_api_tls_key", keyFile)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// grpcGuard holds the interceptors: key check and panic recovery.
type grpcGuard struct {
	log     *slog.Logger
	hasKey  bool
	keyHash [sha256.Size]byte
}

// errInvalidKey answers a call without the right API key.
var errInvalidKey = status.Error(codes.Unauthenticated, "invalid API key")

func (g *grpcGuard) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := g.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (g *grpcGuard) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := g.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// authorize checks the "authorization: apikey <key>" metadata when a key is
// configured. Both sides are hashed before the constant-time comparison so
// that neither the key nor its length leaks through timing.
func (g *grpcGuard) authorize(ctx context.Context, method string) error {
	if !g.hasKey || strings.HasPrefix(method, healthServicePrefix) {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		scheme, key, ok := strings.Cut(strings.TrimSpace(v), " ")
		if !ok || !strings.EqualFold(scheme, "apikey") {
			continue
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
		if subtle.ConstantTimeCompare(sum[:], g.keyHash[:]) == 1 {
			return nil
		}
	}
	if g.log.Enabled(ctx, slog.LevelInfo) {
		g.log.LogAttrs(ctx, slog.LevelInfo, "api: grpc call refused: invalid API key", slog.String("method", method))
	}
	return errInvalidKey
}

func (g *grpcGuard) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer g.recoverPanic(ctx, info.FullMethod, &err)
	return handler(ctx, req)
}

func (g *grpcGuard) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer g.recoverPanic(ss.Context(), info.FullMethod, &err)
	return handler(srv, ss)
}

// recoverPanic, deferred by the interceptors, turns a panic below them into
// codes.Internal with a log line, so that one broken call neither kills the
// process nor leaks its text to the caller.
func (g *grpcGuard) recoverPanic(ctx context.Context, method string, errp *error) {
	if r := recover(); r != nil {
		g.log.LogAttrs(ctx, slog.LevelError, "api: grpc panic", slog.String("method", method),
			slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		*errp = status.Error(codes.Internal, "internal server error")
	}
}

// grpcService implements apiproto.CentrifugoApiServer over an Executor.
type grpcService struct {
	// Embedded by value: methods added to the service later (and Centrifugo
	// PRO methods, should the schema grow them) answer Unimplemented.
	apiproto.UnimplementedCentrifugoApiServer

	exec            *Executor
	transportErrors bool
}

var _ apiproto.CentrifugoApiServer = (*grpcService)(nil)

// transportMode reports whether API errors of this call become gRPC
// statuses: by configuration, or by the call's metadata.
func (s *grpcService) transportMode(ctx context.Context) bool {
	if s.transportErrors {
		return true
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get(GRPCErrorModeHeader) {
		if strings.EqualFold(strings.TrimSpace(v), ErrorModeTransport) {
			return true
		}
	}
	return false
}

// answer returns resp, or in the transport error mode the status its API
// error e maps to.
func answer[R any](ctx context.Context, s *grpcService, resp *R, e *apiproto.Error) (*R, error) {
	if e != nil && s.transportMode(ctx) {
		return nil, status.Error(GRPCCode(e), e.GetMessage())
	}
	return resp, nil
}

// Batch keeps its replies' errors in-band in every error mode: each command
// has its own outcome, and a status would drop the others.
func (s *grpcService) Batch(ctx context.Context, req *apiproto.BatchRequest) (*apiproto.BatchResponse, error) {
	return s.exec.Batch(ctx, req), nil
}

func (s *grpcService) Publish(ctx context.Context, req *apiproto.PublishRequest) (*apiproto.PublishResponse, error) {
	r := s.exec.Publish(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) Broadcast(ctx context.Context, req *apiproto.BroadcastRequest) (*apiproto.BroadcastResponse, error) {
	r := s.exec.Broadcast(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) Subscribe(ctx context.Context, req *apiproto.SubscribeRequest) (*apiproto.SubscribeResponse, error) {
	r := s.exec.Subscribe(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) Unsubscribe(ctx context.Context, req *apiproto.UnsubscribeRequest) (*apiproto.UnsubscribeResponse, error) {
	r := s.exec.Unsubscribe(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) Disconnect(ctx context.Context, req *apiproto.DisconnectRequest) (*apiproto.DisconnectResponse, error) {
	r := s.exec.Disconnect(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) Presence(ctx context.Context, req *apiproto.PresenceRequest) (*apiproto.PresenceResponse, error) {
	r := s.exec.Presence(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) PresenceStats(ctx context.Context, req *apiproto.PresenceStatsRequest) (*apiproto.PresenceStatsResponse, error) {
	r := s.exec.PresenceStats(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) History(ctx context.Context, req *apiproto.HistoryRequest) (*apiproto.HistoryResponse, error) {
	r := s.exec.History(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) HistoryRemove(ctx context.Context, req *apiproto.HistoryRemoveRequest) (*apiproto.HistoryRemoveResponse, error) {
	r := s.exec.HistoryRemove(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) Info(ctx context.Context, req *apiproto.InfoRequest) (*apiproto.InfoResponse, error) {
	r := s.exec.Info(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) RPC(ctx context.Context, req *apiproto.RPCRequest) (*apiproto.RPCResponse, error) {
	r := s.exec.RPC(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) Refresh(ctx context.Context, req *apiproto.RefreshRequest) (*apiproto.RefreshResponse, error) {
	r := s.exec.Refresh(ctx, req)
	return answer(ctx, s, r, r.Error)
}

func (s *grpcService) Channels(ctx context.Context, req *apiproto.ChannelsRequest) (*apiproto.ChannelsResponse, error) {
	r := s.exec.Channels(ctx, req)
	return answer(ctx, s, r, r.Error)
}
