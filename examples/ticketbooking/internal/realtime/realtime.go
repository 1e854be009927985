// Package realtime answers the proxy calls that Rotor (or Centrifugo) makes
// for the demo's pages: who a connecting page is, which channels it may
// subscribe to, and the RPCs the page calls over its connection. It is the
// Go counterpart of the Spiral demo's centrifugo.php:
//
//	services:      connect, subscribe, rpc
//	interceptors:  '*'       => telemetry (times and logs every call)
//	               connect   => auth (authToken in the connect data → user id)
//	               subscribe => auth (the connection's user → user id)
//	               rpc       => auth (the connection's user → user id)
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/rotorhq/rotor/rotorproxy"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/cinema"
)

// AttrUserID is the attribute the auth interceptor sets to the user id (an
// int64) of a signed-in client; anonymous clients have none.
const AttrUserID = "user_id"

// UserID returns the user id the auth interceptor attached to req, 0 for an
// anonymous client.
func UserID(req rotorproxy.Request) int64 {
	id, _ := req.Attribute(AttrUserID).(int64)
	return id
}

// Authenticator resolves session tokens; *cinema.Service is one.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (cinema.User, error)
}

// Cinema is what the RPCs read; *cinema.Service is one.
type Cinema interface {
	Schedule(ctx context.Context) ([]cinema.Screening, error)
	SeatMap(ctx context.Context, screeningID, userID int64) (cinema.SeatMap, error)
	Tickets(ctx context.Context, userID int64) ([]cinema.Reservation, error)
}

// NewServer returns a proxy server with the demo's services and
// interceptors; the caller serves it (Serve, or WithListener among opts).
func NewServer(app *cinema.Service, log *slog.Logger, opts ...rotorproxy.Option) (*rotorproxy.Server, error) {
	if log == nil {
		log = slog.Default()
	}
	srv, err := rotorproxy.New(append([]rotorproxy.Option{rotorproxy.WithLogger(log)}, opts...)...)
	if err != nil {
		return nil, err
	}
	if err := Register(srv, app, app, log); err != nil {
		return nil, err
	}
	return srv, nil
}

// Register adds the demo's services, RPC routes and interceptors to srv.
func Register(srv *rotorproxy.Server, auth Authenticator, app Cinema, log *slog.Logger) error {
	srv.OnConnect(Connect)
	srv.OnSubscribe(Subscribe)
	// Methods no route knows are answered in the data, as the Spiral demo
	// does, rather than with the SDK's 404 error reply.
	srv.OnRPC(func(ctx context.Context, req *rotorproxy.RPCRequest) (*rotorproxy.RPCResult, error) {
		return appError(404, "Not found")
	})
	rpcs := RPCs{App: app}
	err := errors.Join(
		srv.HandleRPC("cinema.schedule", rotorproxy.RPCJSON(rpcs.Schedule)),
		srv.HandleRPC("cinema.screening", rpcs.Screening),
		srv.HandleRPC("user.tickets", rpcs.Tickets),
	)
	if err != nil {
		return err
	}
	ai := Auth(auth)
	for _, typ := range []string{"connect", "subscribe", "rpc"} {
		if err := srv.Use(typ, ai); err != nil {
			return err
		}
	}
	return srv.Use(rotorproxy.AllTypes, Telemetry(log))
}

// Auth is the auth interceptor. For a connect request it reads authToken
// from the connect data: no token connects anonymously, a token of a live
// session attaches its user's id, any other token is refused with 101
// unauthorized (the page then drops it and connects anonymously). For the
// requests of a connection (subscribe, rpc) the node tells the user it
// accepted at connect time, which becomes the attribute the same way.
func Auth(auth Authenticator) rotorproxy.Interceptor {
	return func(ctx context.Context, req rotorproxy.Request, info *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
		var user string
		switch r := req.(type) {
		case *rotorproxy.ConnectRequest:
			var d struct {
				AuthToken string `json:"authToken"`
			}
			if err := r.Bind(&d); err != nil {
				return nil, err // 107 bad request
			}
			if d.AuthToken == "" {
				return next(ctx, req)
			}
			u, err := auth.Authenticate(ctx, d.AuthToken)
			if errors.Is(err, cinema.ErrUnauthorized) {
				return nil, rotorproxy.ErrUnauthorized
			}
			if err != nil {
				return nil, err // 100, logged by the SDK
			}
			return next(ctx, req.WithAttribute(AttrUserID, u.ID))
		case *rotorproxy.SubscribeRequest:
			user = r.User
		case *rotorproxy.RPCRequest:
			user = r.User
		case *rotorproxy.RefreshRequest:
			user = r.User
		case *rotorproxy.PublishRequest:
			user = r.User
		case *rotorproxy.SubRefreshRequest:
			user = r.User
		}
		if user == "" {
			return next(ctx, req)
		}
		id, err := strconv.ParseInt(user, 10, 64)
		if err != nil || id <= 0 {
			return nil, rotorproxy.ErrPermissionDenied // not a user this backend connected
		}
		return next(ctx, req.WithAttribute(AttrUserID, id))
	}
}

// Telemetry is the "*" interceptor: it times every call and logs it with
// its type, client, user, channel or method, and outcome.
func Telemetry(log *slog.Logger) rotorproxy.Interceptor {
	return func(ctx context.Context, req rotorproxy.Request, info *rotorproxy.Info, next rotorproxy.Handler) (rotorproxy.Result, error) {
		start := time.Now()
		res, err := next(ctx, req)
		attrs := []any{
			"type", string(info.Type), "wire", info.Wire, "client", req.Base().Client,
		}
		switch r := req.(type) {
		case *rotorproxy.SubscribeRequest:
			attrs = append(attrs, "channel", r.Channel)
		case *rotorproxy.RPCRequest:
			attrs = append(attrs, "method", r.Method)
		}
		// The user is known after the auth interceptor, which runs inside
		// this one: read it from the result or the request.
		if c, ok := res.(*rotorproxy.ConnectResult); ok {
			attrs = append(attrs, "user", c.User)
		} else if u := requestUser(req); u != "" {
			attrs = append(attrs, "user", u)
		}
		attrs = append(attrs, "took", time.Since(start))
		var (
			perr *rotorproxy.Error
			disc *rotorproxy.Disconnect
		)
		switch {
		case err == nil:
			log.InfoContext(ctx, "proxy call", append(attrs, "outcome", "ok")...)
		case errors.As(err, &perr):
			log.InfoContext(ctx, "proxy call", append(attrs, "outcome", "error", "code", perr.Code, "error", perr.Message)...)
		case errors.As(err, &disc):
			log.InfoContext(ctx, "proxy call", append(attrs, "outcome", "disconnect", "code", disc.Code, "reason", disc.Reason)...)
		default:
			log.WarnContext(ctx, "proxy call", append(attrs, "outcome", "internal error", "error", err)...)
		}
		return res, err
	}
}

func requestUser(req rotorproxy.Request) string {
	switch r := req.(type) {
	case *rotorproxy.SubscribeRequest:
		return r.User
	case *rotorproxy.RPCRequest:
		return r.User
	case *rotorproxy.RefreshRequest:
		return r.User
	case *rotorproxy.PublishRequest:
		return r.User
	case *rotorproxy.SubRefreshRequest:
		return r.User
	}
	return ""
}

// Connect is the connect service: everyone may connect, signed-in clients
// as their user, the others anonymously.
func Connect(ctx context.Context, req *rotorproxy.ConnectRequest) (*rotorproxy.ConnectResult, error) {
	res := &rotorproxy.ConnectResult{}
	if id := UserID(req); id != 0 {
		res.User = strconv.FormatInt(id, 10)
	}
	return res, nil
}

// Subscribe is the subscribe service: anyone may subscribe to the public
// channel and to screening.<id> channels; user#<id> only the user <id>.
// Other channels are refused.
func Subscribe(ctx context.Context, req *rotorproxy.SubscribeRequest) (*rotorproxy.SubscribeResult, error) {
	ch := req.Channel
	switch {
	case ch == cinema.PublicChannel:
		return &rotorproxy.SubscribeResult{}, nil
	case strings.HasPrefix(ch, cinema.ScreeningChannelPrefix):
		if _, ok := parseID(strings.TrimPrefix(ch, cinema.ScreeningChannelPrefix)); ok {
			return &rotorproxy.SubscribeResult{}, nil
		}
	case strings.HasPrefix(ch, cinema.UserChannelPrefix):
		owner, ok := parseID(strings.TrimPrefix(ch, cinema.UserChannelPrefix))
		if ok && owner == UserID(req) {
			return &rotorproxy.SubscribeResult{}, nil
		}
	}
	return nil, rotorproxy.ErrPermissionDenied
}

func parseID(s string) (int64, bool) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != s {
		return 0, false
	}
	return id, true
}

// AppError is the application-level error the RPCs answer in their data, as
// the Spiral demo's RPC service does: {"error": "...", "code": 401}. The
// RPC itself succeeds; the page checks for it.
type AppError struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

func appError(code int, msg string) (*rotorproxy.RPCResult, error) {
	data, err := json.Marshal(AppError{Error: msg, Code: code})
	if err != nil {
		return nil, err
	}
	return &rotorproxy.RPCResult{Data: data}, nil
}

// RPCs are the RPC methods of the page.
type RPCs struct {
	App Cinema
}

// Schedule answers cinema.schedule: the screenings to come.
func (r RPCs) Schedule(ctx context.Context, req *rotorproxy.RPCRequest, _ struct{}) ([]cinema.Screening, error) {
	return r.App.Schedule(ctx)
}

// Screening answers cinema.screening {"id": 3}: the seat map, with the
// caller's own reservations in it.
func (r RPCs) Screening(ctx context.Context, req *rotorproxy.RPCRequest) (*rotorproxy.RPCResult, error) {
	var in struct {
		ID int64 `json:"id"`
	}
	if err := req.Bind(&in); err != nil {
		return nil, err
	}
	if in.ID <= 0 {
		return appError(400, "id is required")
	}
	m, err := r.App.SeatMap(ctx, in.ID, UserID(req))
	if errors.Is(err, cinema.ErrNotFound) {
		return appError(404, "Not found")
	}
	if err != nil {
		return nil, err
	}
	return jsonResult(m)
}

// Tickets answers user.tickets: the caller's reservations and tickets, or
// {"error": "Unauthorized", "code": 401} for an anonymous caller.
func (r RPCs) Tickets(ctx context.Context, req *rotorproxy.RPCRequest) (*rotorproxy.RPCResult, error) {
	id := UserID(req)
	if id == 0 {
		return appError(401, "Unauthorized")
	}
	list, err := r.App.Tickets(ctx, id)
	if err != nil {
		return nil, err
	}
	return jsonResult(list)
}

func jsonResult(v any) (*rotorproxy.RPCResult, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return &rotorproxy.RPCResult{Data: data}, nil
}
