// Package proxy asks the application backend to decide about client actions:
// connect, refresh, subscribe, publish, rpc and sub_refresh. It implements
// node.Proxy over the CentrifugoProxy protocol of package proxyproto, so any
// backend written for Centrifugo v5 (the RoadRunner plugin among them) serves
// Rotor unchanged.
//
// The scheme of an endpoint chooses the wire:
//
//   - grpc://host:port: a unary gRPC call to
//     /centrifugal.centrifugo.proxy.CentrifugoProxy/<Method> over one pooled
//     connection per endpoint, shared by every event and named proxy that
//     uses it.
//   - http://… or https://…: a POST of the request as JSON (the proto field
//     names; bytes fields as embedded JSON, or base64 in the b64* twins with
//     proxy_binary_encoding), answered by {"result"|"error"|"disconnect": …}
//     with status 200.
//
// Routing follows the configuration: connect and refresh use
// proxy_connect_endpoint and proxy_refresh_endpoint; subscribe, publish and
// sub_refresh are enabled per namespace (proxy_subscribe, proxy_publish,
// proxy_sub_refresh) and go to the named proxy in *_proxy_name, or else to
// the global proxy_<event>_endpoint; rpc goes to proxy_rpc_endpoint, except
// methods "ns:method" whose namespace is listed in rpc_namespaces, which that
// item routes.
//
// Each call is bounded by its proxy's timeout. An answer becomes a result, a
// *node.Error (the backend's error, code and message as given), or a
// node.Disconnect (the backend's disconnect). A call without an answer
// (transport failure, timeout, HTTP status other than 200, undecodable body)
// returns an error wrapping ErrCallFailed, logged once at warn level with the
// config key, the endpoint and the method; the node answers it with error
// 100, temporary.
package proxy
