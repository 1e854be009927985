package rotorproxy

import "context"

// Handler handles one request: the service registered for its type, or the
// rest of an interceptor chain.
type Handler func(ctx context.Context, req Request) (Result, error)

// Info describes the call an interceptor runs in.
type Info struct {
	// Type is the request type.
	Type RequestType
	// Wire is how the request arrived: "grpc" or "http".
	Wire string
}

// Interceptor runs around the handling of a request. It may
//
//   - enrich the request: next(ctx, req.WithAttribute("user_id", id));
//   - refuse it: return nil and an error (an *Error or a *Disconnect for an
//     in-band answer) without calling next;
//   - wrap it: time or trace next, or change what it returns.
//
// The result it returns must be of the request's type (or nil with an
// error). Interceptors are registered with Server.Use; they run under the
// same guard as services, so an interceptor that panics or overruns the
// deadline is answered like a handler that does.
type Interceptor func(ctx context.Context, req Request, info *Info, next Handler) (Result, error)

// chainInterceptors makes one interceptor of ics in which ics[0] is the
// outermost: it runs first, and its next runs ics[1], and so on, the last
// one's next being the handler. Zero interceptors give nil and one gives it
// as is, so that neither case costs a wrapping call (as grpc-go's
// chainUnaryInterceptors).
func chainInterceptors(ics []Interceptor) Interceptor {
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	return func(ctx context.Context, req Request, info *Info, final Handler) (Result, error) {
		return ics[0](ctx, req, info, chainedHandler(ics, 0, info, final))
	}
}

// chainedHandler is the next of ics[cur]: ics[cur+1] with its own next, or
// final after the last one.
func chainedHandler(ics []Interceptor, cur int, info *Info, final Handler) Handler {
	if cur == len(ics)-1 {
		return final
	}
	return func(ctx context.Context, req Request) (Result, error) {
		return ics[cur+1](ctx, req, info, chainedHandler(ics, cur+1, info, final))
	}
}
