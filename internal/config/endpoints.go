package config

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"
)

// Proxy events, as accepted by ProxyEndpoint and ProxyTimeout.
const (
	ProxyEventConnect    = "connect"
	ProxyEventRefresh    = "refresh"
	ProxyEventRPC        = "rpc"
	ProxyEventSubscribe  = "subscribe"
	ProxyEventPublish    = "publish"
	ProxyEventSubRefresh = "sub_refresh"
)

// ProxyEndpoint returns the endpoint of the proxy for event (connect,
// refresh, rpc, subscribe, publish or sub_refresh), or "" when that proxy is
// off or event is unknown.
//
// The endpoint alone turns the proxy on. The seed-compatible booleans
// proxy_connect, proxy_refresh and proxy_rpc can only turn it off: false
// with an endpoint gives ""; true without an endpoint is a Validate error.
// For subscribe, publish and sub_refresh the endpoint is used by the
// channels whose options set proxy_subscribe, proxy_publish or
// proxy_sub_refresh.
func (c *Config) ProxyEndpoint(event string) string {
	if f := c.proxyFlag(event); f != nil && !*f {
		return ""
	}
	return c.rawProxyEndpoint(event)
}

// ProxyTimeout returns proxy_<event>_timeout, 0 for an unknown event.
func (c *Config) ProxyTimeout(event string) time.Duration {
	switch event {
	case ProxyEventConnect:
		return c.ProxyConnectTimeout
	case ProxyEventRefresh:
		return c.ProxyRefreshTimeout
	case ProxyEventRPC:
		return c.ProxyRPCTimeout
	case ProxyEventSubscribe:
		return c.ProxySubscribeTimeout
	case ProxyEventPublish:
		return c.ProxyPublishTimeout
	case ProxyEventSubRefresh:
		return c.ProxySubRefreshTimeout
	}
	return 0
}

func (c *Config) rawProxyEndpoint(event string) string {
	switch event {
	case ProxyEventConnect:
		return c.ProxyConnectEndpoint
	case ProxyEventRefresh:
		return c.ProxyRefreshEndpoint
	case ProxyEventRPC:
		return c.ProxyRPCEndpoint
	case ProxyEventSubscribe:
		return c.ProxySubscribeEndpoint
	case ProxyEventPublish:
		return c.ProxyPublishEndpoint
	case ProxyEventSubRefresh:
		return c.ProxySubRefreshEndpoint
	}
	return ""
}

func (c *Config) proxyFlag(event string) *bool {
	switch event {
	case ProxyEventConnect:
		return c.ProxyConnect
	case ProxyEventRefresh:
		return c.ProxyRefresh
	case ProxyEventRPC:
		return c.ProxyRPC
	}
	return nil
}

// ResolveTimeout bounds each host lookup of CheckEndpoints.
const ResolveTimeout = 3 * time.Second

// CheckEndpoints resolves the host of every proxy endpoint in use (the
// enabled proxy_<event>_endpoint keys and each proxies[i].endpoint) and
// returns a Problem for each one that cannot be resolved, in key order.
// IP literals need no lookup; malformed endpoints are left to Validate.
// Lookups run concurrently, each bounded by ResolveTimeout and ctx.
//
// checkconfig treats these problems as errors; serve logs them and keeps
// running, since the host may become resolvable later.
func (c *Config) CheckEndpoints(ctx context.Context) []Problem {
	type target struct{ key, endpoint, host string }
	var targets []target
	add := func(key, ep string) {
		if ep == "" || checkEndpointURL(ep) != nil {
			return
		}
		u, err := url.Parse(ep)
		if err != nil {
			return
		}
		targets = append(targets, target{key, ep, u.Hostname()})
	}
	for _, ev := range proxyEvents {
		add("proxy_"+ev+"_endpoint", c.ProxyEndpoint(ev))
	}
	for i, p := range c.Proxies {
		add(fmt.Sprintf("proxies[%d].endpoint", i), p.Endpoint)
	}

	// One lookup per distinct host.
	started := make(map[string]bool)
	results := make(map[string]error) // guarded by mu until wg.Wait
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range targets {
		if started[t.host] || net.ParseIP(t.host) != nil {
			continue
		}
		started[t.host] = true
		wg.Add(1)
		go func(host string) {
			defer wg.Done()
			lctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
			defer cancel()
			_, err := net.DefaultResolver.LookupHost(lctx, host)
			mu.Lock()
			results[host] = err
			mu.Unlock()
		}(t.host)
	}
	wg.Wait()

	var ps []Problem
	for _, t := range targets {
		if err := results[t.host]; err != nil {
			ps = append(ps, Problem{Key: t.key, Message: fmt.Sprintf("host %q of %q cannot be resolved: %v", t.host, t.endpoint, err)})
		}
	}
	return ps
}
