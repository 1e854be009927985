package rotorproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path"

	"google.golang.org/protobuf/proto"

	"github.com/rotorhq/rotor/proxyproto"

	"github.com/rotorhq/rotor/wirejson"
)

// httpRoute runs one request type over HTTP: decode the body, call, answer.
type httpRoute func(s *Server, ctx context.Context, body []byte, hdr http.Header) (proto.Message, error)

func route[In proto.Message, Out proto.Message](newIn func() In, fn func(*Server, context.Context, In, http.Header, string) Out) httpRoute {
	return func(s *Server, ctx context.Context, body []byte, hdr http.Header) (proto.Message, error) {
		in := newIn()
		if err := wirejson.Unmarshal(body, in); err != nil {
			return nil, err
		}
		return fn(s, ctx, in, hdr, wireHTTP), nil
	}
}

// httpRoutes maps the last element of the request path to its route.
var httpRoutes = map[string]httpRoute{
	"connect":     route(func() *proxyproto.ConnectRequest { return new(proxyproto.ConnectRequest) }, (*Server).connect),
	"refresh":     route(func() *proxyproto.RefreshRequest { return new(proxyproto.RefreshRequest) }, (*Server).refresh),
	"subscribe":   route(func() *proxyproto.SubscribeRequest { return new(proxyproto.SubscribeRequest) }, (*Server).subscribe),
	"publish":     route(func() *proxyproto.PublishRequest { return new(proxyproto.PublishRequest) }, (*Server).publish),
	"rpc":         route(func() *proxyproto.RPCRequest { return new(proxyproto.RPCRequest) }, (*Server).rpc),
	"sub_refresh": route(func() *proxyproto.SubRefreshRequest { return new(proxyproto.SubRefreshRequest) }, (*Server).subRefresh),
	"subrefresh":  route(func() *proxyproto.SubRefreshRequest { return new(proxyproto.SubRefreshRequest) }, (*Server).subRefresh),
}

// internalReplyJSON is the answer when an answer cannot be encoded.
const internalReplyJSON = `{"error":{"code":100,"message":"internal server error","temporary":true}}`

// HTTPHandler returns the handler of the HTTP proxy: point the node's
// proxy_<event>_endpoint keys at it. The request type is the last element of
// the path, so the handler may be mounted under any prefix:
//
//	/connect  /refresh  /subscribe  /publish  /rpc  /sub_refresh (or /subrefresh)
//
// (with "proxy_connect_endpoint": "http://backend:9000/centrifugo/connect",
// mount it at "/centrifugo/"). Each is a POST of the request as JSON (proto
// field names; data and info embedded JSON, b64* fields base64), answered
// 200 with {"result":…}, {"error":…} or {"disconnect":…}, running the same
// services and interceptors as gRPC. The client's headers the node forwards
// become Common.Headers. Other paths get 404, other methods 405, bodies that
// are not JSON 400, and bodies over the size limit 413.
func (s *Server) HTTPHandler() http.Handler { return httpHandler{s} }

type httpHandler struct{ s *Server }

func (h httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := httpRoutes[path.Base(r.URL.Path)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.s.opts.maxBodySize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the request body failed", http.StatusBadRequest)
		return
	}
	out, err := rt(h.s, r.Context(), body, r.Header.Clone())
	if err != nil {
		h.s.opts.log.LogAttrs(r.Context(), slog.LevelWarn, "rotorproxy: malformed HTTP proxy request",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		http.Error(w, "malformed request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	b, err := wirejson.Marshal(out)
	if err != nil {
		h.s.opts.log.LogAttrs(r.Context(), slog.LevelError, "rotorproxy: answer cannot be written as JSON; answered 100 internal server error",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		b = []byte(internalReplyJSON)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
