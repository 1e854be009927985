package rotorproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/rotorhq/rotor/proxyproto"
)

// maxReplyMargin: a call is answered this long (or a tenth of the time left,
// when less) before the caller's deadline, so that an answer to a handler
// that overran still reaches the caller before it gives up; an answer sent
// at the deadline itself would arrive after it.
const maxReplyMargin = 100 * time.Millisecond

// Wire names for Info.Wire.
const (
	wireGRPC = "grpc"
	wireHTTP = "http"
)

// call runs req through the interceptors and the service of its type and
// returns what to answer: a result, or the error or disconnect of the reply.
// Whatever the handlers do, it returns by the call's deadline (the caller's,
// less a margin, or the handler timeout): the chain runs in its own
// goroutine, and a panic, an empty answer, a foreign error or a missed
// deadline becomes ErrInternal and a log line.
func (s *Server) call(ctx context.Context, req Request, wire string) (Result, *proxyproto.Error, *proxyproto.Disconnect) {
	res, err := s.run(ctx, req, wire)
	if err == nil {
		return res, nil, nil
	}
	perr, pdis, internal := replyOf(err)
	if internal {
		s.logFailure(ctx, req, wire, "handler failed", slog.String("error", err.Error()))
	}
	return nil, perr, pdis
}

// outcome is what the goroutine of a call hands back.
type outcome struct {
	res   Result
	err   error
	panic any
	stack []byte
}

func (s *Server) run(ctx context.Context, req Request, wire string) (Result, error) {
	idx, _ := parseType(string(req.Type()))
	t := s.table.Load()
	final := t.services[idx]
	if final == nil {
		final = s.notImplemented(idx)
	}
	chain := t.chains[idx]
	info := &Info{Type: req.Type(), Wire: wire}

	hctx, cancel := s.budget(ctx)
	defer cancel()
	start := time.Now()

	done := make(chan outcome, 1)
	s.calls.add()
	go func() {
		defer s.calls.done()
		var o outcome
		defer func() {
			if p := recover(); p != nil {
				o = outcome{panic: p, stack: debug.Stack()}
			}
			done <- o
		}()
		if chain == nil {
			o.res, o.err = final(hctx, req)
		} else {
			o.res, o.err = chain(hctx, req, info, final)
		}
	}()

	var o outcome
	select {
	case o = <-done:
	case <-hctx.Done():
		select {
		case o = <-done: // finished at the same moment: use its answer
		default:
			reason := "handler did not answer before the deadline"
			if errors.Is(ctx.Err(), context.Canceled) {
				reason = "caller went away before the handler answered"
			}
			s.logFailure(ctx, req, wire, reason, slog.Duration("elapsed", time.Since(start)))
			return nil, ErrInternal
		}
	}
	switch {
	case o.panic != nil:
		s.logFailure(ctx, req, wire, "handler panicked",
			slog.String("panic", fmt.Sprint(o.panic)), slog.String("stack", string(o.stack)))
		return nil, ErrInternal
	case o.err != nil:
		return nil, o.err
	case o.res == nil:
		s.logFailure(ctx, req, wire, errEmptyReply.Error())
		return nil, ErrInternal
	case o.res.Type() != req.Type():
		s.logFailure(ctx, req, wire, "handler answered with a result of another type",
			slog.String("result", fmt.Sprintf("%T", o.res)))
		return nil, ErrInternal
	}
	return o.res, nil
}

// budget gives the handlers of a call their context: the caller's, ending
// a margin before the caller's deadline, and within the handler timeout.
func (s *Server) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.opts.handlerTimeout
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		left -= min(left/10, maxReplyMargin)
		if d <= 0 || left < d {
			d = left
		}
	}
	if d <= 0 {
		if _, ok := ctx.Deadline(); !ok {
			return context.WithCancel(ctx) // no bound configured, none given
		}
	}
	return context.WithTimeout(ctx, d)
}

// notImplemented is the final handler of a type without a service: it
// answers ErrNotImplemented and logs a warning the first time.
func (s *Server) notImplemented(idx typeIndex) Handler {
	return func(ctx context.Context, req Request) (Result, error) {
		if !s.warn[idx].Swap(true) {
			s.opts.log.LogAttrs(ctx, slog.LevelWarn, "rotorproxy: no service registered for a request type the node sends; answering 501 not implemented",
				slog.String("type", string(typeNames[idx])))
		}
		return nil, ErrNotImplemented
	}
}

func (s *Server) logFailure(ctx context.Context, req Request, wire, msg string, attrs ...slog.Attr) {
	base := []slog.Attr{
		slog.String("type", string(req.Type())),
		slog.String("wire", wire),
		slog.String("client", req.Base().Client),
	}
	if r, ok := req.(*RPCRequest); ok {
		base = append(base, slog.String("method", r.Method))
	}
	s.opts.log.LogAttrs(ctx, slog.LevelError, "rotorproxy: "+msg+"; answered 100 internal server error", append(base, attrs...)...)
}

// tracker counts running handler goroutines so that Shutdown can wait for
// them. Unlike a sync.WaitGroup it may gain members while someone waits (HTTP
// calls go on while the gRPC server shuts down).
type tracker struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0; nil while n is 0
}

func (t *tracker) add() {
	t.mu.Lock()
	if t.n == 0 {
		t.zero = make(chan struct{})
	}
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 {
		close(t.zero)
		t.zero = nil
	}
	t.mu.Unlock()
}

// wait returns once no handler runs, or with ctx's error.
func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	ch := t.zero
	t.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
