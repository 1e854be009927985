package rotorproxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Typed handlers, one per request type. A handler answers with a result, or
// with an error: an *Error or a *Disconnect (also wrapped) for an in-band
// answer, anything else for ErrInternal.
type (
	// ConnectHandler answers connect requests (see Server.OnConnect).
	ConnectHandler func(ctx context.Context, req *ConnectRequest) (*ConnectResult, error)
	// RefreshHandler answers refresh requests (see Server.OnRefresh).
	RefreshHandler func(ctx context.Context, req *RefreshRequest) (*RefreshResult, error)
	// SubscribeHandler answers subscribe requests (see Server.OnSubscribe).
	SubscribeHandler func(ctx context.Context, req *SubscribeRequest) (*SubscribeResult, error)
	// PublishHandler answers publish requests (see Server.OnPublish).
	PublishHandler func(ctx context.Context, req *PublishRequest) (*PublishResult, error)
	// RPCHandler answers RPCs (see Server.OnRPC and Server.HandleRPC).
	RPCHandler func(ctx context.Context, req *RPCRequest) (*RPCResult, error)
	// SubRefreshHandler answers sub_refresh requests (see
	// Server.OnSubRefresh).
	SubRefreshHandler func(ctx context.Context, req *SubRefreshRequest) (*SubRefreshResult, error)
)

// Services, one interface per request type, for Server.Register: a type with
// the methods of several of them serves each of those request types.
type (
	// ConnectService is a service of connect requests.
	ConnectService interface {
		Connect(ctx context.Context, req *ConnectRequest) (*ConnectResult, error)
	}
	// RefreshService is a service of refresh requests.
	RefreshService interface {
		Refresh(ctx context.Context, req *RefreshRequest) (*RefreshResult, error)
	}
	// SubscribeService is a service of subscribe requests.
	SubscribeService interface {
		Subscribe(ctx context.Context, req *SubscribeRequest) (*SubscribeResult, error)
	}
	// PublishService is a service of publish requests.
	PublishService interface {
		Publish(ctx context.Context, req *PublishRequest) (*PublishResult, error)
	}
	// RPCService is a service of RPCs; registered, it answers the methods
	// no HandleRPC route has.
	RPCService interface {
		RPC(ctx context.Context, req *RPCRequest) (*RPCResult, error)
	}
	// SubRefreshService is a service of sub_refresh requests.
	SubRefreshService interface {
		SubRefresh(ctx context.Context, req *SubRefreshRequest) (*SubRefreshResult, error)
	}
)

// table is what calls read: the services and interceptor chains of every
// request type. A registration builds a new table and swaps it in, so a call
// loads one pointer and never takes a lock.
type table struct {
	services [numTypes]Handler
	star     []Interceptor
	typed    [numTypes][]Interceptor
	chains   [numTypes]Interceptor
	rpc      RPCHandler            // OnRPC: the fallback of the router
	routes   map[string]RPCHandler // HandleRPC
}

func (t *table) clone() *table {
	c := *t
	c.star = slices.Clip(t.star)
	for i := range c.typed {
		c.typed[i] = slices.Clip(t.typed[i])
	}
	c.routes = maps.Clone(t.routes)
	return &c
}

// build derives the chains and the RPC service from what was registered.
func (t *table) build() {
	for i := range numTypes {
		ics := append(slices.Clip(t.star), t.typed[i]...)
		t.chains[i] = chainInterceptors(ics)
	}
	switch {
	case len(t.routes) > 0:
		t.services[idxRPC] = adapt(router(t.routes, t.rpc))
	case t.rpc != nil:
		t.services[idxRPC] = adapt(t.rpc)
	default:
		t.services[idxRPC] = nil
	}
}

// update applies fn to a copy of the current table and makes it current.
func (s *Server) update(fn func(t *table) error) error {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	t := s.table.Load().clone()
	if err := fn(t); err != nil {
		return err
	}
	t.build()
	s.table.Store(t)
	return nil
}

func (s *Server) setService(i typeIndex, h Handler) {
	_ = s.update(func(t *table) error {
		t.services[i] = h
		return nil
	})
}

// OnConnect makes h the connect service; nil removes it.
func (s *Server) OnConnect(h ConnectHandler) { s.setService(idxConnect, adaptOrNil(h)) }

// OnRefresh makes h the refresh service; nil removes it.
func (s *Server) OnRefresh(h RefreshHandler) { s.setService(idxRefresh, adaptOrNil(h)) }

// OnSubscribe makes h the subscribe service; nil removes it.
func (s *Server) OnSubscribe(h SubscribeHandler) { s.setService(idxSubscribe, adaptOrNil(h)) }

// OnPublish makes h the publish service; nil removes it.
func (s *Server) OnPublish(h PublishHandler) { s.setService(idxPublish, adaptOrNil(h)) }

// OnSubRefresh makes h the sub_refresh service; nil removes it.
func (s *Server) OnSubRefresh(h SubRefreshHandler) { s.setService(idxSubRefresh, adaptOrNil(h)) }

// OnRPC makes h the RPC service; nil removes it. With routes registered by
// HandleRPC, h answers only the calls of methods no route has, in place of
// ErrMethodNotFound: that is how to answer unknown methods differently.
func (s *Server) OnRPC(h RPCHandler) {
	_ = s.update(func(t *table) error {
		t.rpc = h
		return nil
	})
}

// HandleRPC routes RPCs of method (matched exactly) to h. Calls of methods
// without a route go to the OnRPC handler if there is one, else are answered
// with ErrMethodNotFound (404). Interceptors of "rpc" run before routing, for
// every method. It fails for an empty method, a nil handler, or a method
// that has a route already.
func (s *Server) HandleRPC(method string, h RPCHandler) error {
	if method == "" {
		return errors.New("rotorproxy: HandleRPC: empty method name")
	}
	if h == nil {
		return fmt.Errorf("rotorproxy: HandleRPC(%q): nil handler", method)
	}
	return s.update(func(t *table) error {
		if _, dup := t.routes[method]; dup {
			return fmt.Errorf("rotorproxy: HandleRPC(%q): method has a handler already", method)
		}
		if t.routes == nil {
			t.routes = make(map[string]RPCHandler)
		}
		t.routes[method] = h
		return nil
	})
}

// Register registers each service for every request type whose service
// interface (ConnectService, RefreshService, SubscribeService,
// PublishService, RPCService, SubRefreshService) it implements, replacing
// what was registered for those types; an RPCService is registered as by
// OnRPC. It fails, registering nothing, when a service implements none of
// them.
func (s *Server) Register(services ...any) error {
	var errs []error
	for _, svc := range services {
		if !isService(svc) {
			errs = append(errs, fmt.Errorf("rotorproxy: Register: %T implements no service interface", svc))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return s.update(func(t *table) error {
		for _, svc := range services {
			if v, ok := svc.(ConnectService); ok {
				t.services[idxConnect] = adapt(v.Connect)
			}
			if v, ok := svc.(RefreshService); ok {
				t.services[idxRefresh] = adapt(v.Refresh)
			}
			if v, ok := svc.(SubscribeService); ok {
				t.services[idxSubscribe] = adapt(v.Subscribe)
			}
			if v, ok := svc.(PublishService); ok {
				t.services[idxPublish] = adapt(v.Publish)
			}
			if v, ok := svc.(RPCService); ok {
				t.rpc = v.RPC
			}
			if v, ok := svc.(SubRefreshService); ok {
				t.services[idxSubRefresh] = adapt(v.SubRefresh)
			}
		}
		return nil
	})
}

func isService(svc any) bool {
	switch svc.(type) {
	case ConnectService, RefreshService, SubscribeService, PublishService, RPCService, SubRefreshService:
		return true
	}
	return false
}

// Use appends interceptors to those of a request type: "connect",
// "refresh", "subscribe", "publish", "rpc", "sub_refresh" (or "subrefresh",
// the RoadRunner plugin's name), or "*" (AllTypes) for every type.
//
// For a request, the "*" interceptors run first (outermost), then those of
// its type, each list in the order of registration; the first one registered
// is the first to run and the last to see the result. An unknown type name,
// or a nil interceptor, is an error and registers nothing.
func (s *Server) Use(typ string, ics ...Interceptor) error {
	idx, ok := parseType(typ)
	if !ok && typ != AllTypes {
		return fmt.Errorf("rotorproxy: Use: unknown request type %q (want connect, refresh, subscribe, publish, rpc, sub_refresh or *)", typ)
	}
	for i, ic := range ics {
		if ic == nil {
			return fmt.Errorf("rotorproxy: Use(%q): interceptor %d is nil", typ, i)
		}
	}
	return s.update(func(t *table) error {
		if typ == AllTypes {
			t.star = append(t.star, ics...)
		} else {
			t.typed[idx] = append(t.typed[idx], ics...)
		}
		return nil
	})
}

// adapt makes a Handler of a typed handler.
func adapt[Q Request, R Result](h func(context.Context, Q) (R, error)) Handler {
	return func(ctx context.Context, req Request) (Result, error) {
		q, ok := req.(Q)
		if !ok {
			return nil, fmt.Errorf("rotorproxy: an interceptor passed a %T to the %s service", req, typeNameOf[Q]())
		}
		res, err := h(ctx, q)
		var zero R
		if any(res) == any(zero) { // a nil pointer must not become a non-nil Result
			return nil, err
		}
		return res, err
	}
}

func adaptOrNil[Q Request, R Result](h func(context.Context, Q) (R, error)) Handler {
	if h == nil {
		return nil
	}
	return adapt(h)
}

func typeNameOf[Q Request]() RequestType {
	var q Q
	return q.Type() // Type methods do not read their receiver
}
