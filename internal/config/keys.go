package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// keyField describes one flat key of a config struct.
type keyField struct {
	key   string
	typ   reflect.Type
	index []int // reflect field index path, through squashed structs
}

// schema is the set of keys one struct type reads.
type schema struct {
	fields []keyField
	byKey  map[string]keyField
}

var (
	durationType = reflect.TypeOf(time.Duration(0))

	configSchema       = newSchema(reflect.TypeOf(Config{}))
	namespaceSchema    = newSchema(reflect.TypeOf(Namespace{}))
	rpcNamespaceSchema = newSchema(reflect.TypeOf(RPCNamespace{}))
	proxySchema        = newSchema(reflect.TypeOf(Proxy{}))
)

func newSchema(t reflect.Type) *schema {
	s := &schema{byKey: make(map[string]keyField)}
	s.walk(t, nil)
	return s
}

func (s *schema) walk(t reflect.Type, index []int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		if tag == "" || tag == "-" {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "squash" {
			s.walk(f.Type, idx)
			continue
		}
		kf := keyField{key: name, typ: f.Type, index: idx}
		s.fields = append(s.fields, kf)
		s.byKey[name] = kf
	}
}

// Keys returns every flat key Load reads at the top level of a config, in
// the order of the Config struct.
func Keys() []string {
	out := make([]string, len(configSchema.fields))
	for i, f := range configSchema.fields {
		out[i] = f.key
	}
	return out
}

// IsKey reports whether key is a top-level config key.
func IsKey(key string) bool {
	_, ok := configSchema.byKey[key]
	return ok
}

// toMap turns a struct of a known schema into a flat map of its non-nil
// values keyed by koanf tag. It is how Defaults enters the koanf tree.
func (s *schema) toMap(v reflect.Value) map[string]any {
	m := make(map[string]any, len(s.fields))
	for _, f := range s.fields {
		fv := v.FieldByIndex(f.index)
		switch fv.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			if fv.IsNil() {
				continue
			}
		}
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct {
			var sub *schema
			switch fv.Type().Elem() {
			case reflect.TypeOf(Namespace{}):
				sub = namespaceSchema
			case reflect.TypeOf(RPCNamespace{}):
				sub = rpcNamespaceSchema
			case reflect.TypeOf(Proxy{}):
				sub = proxySchema
			}
			if sub != nil {
				items := make([]any, fv.Len())
				for i := range items {
					items[i] = sub.toMap(fv.Index(i))
				}
				m[f.key] = items
				continue
			}
		}
		if fv.Kind() == reflect.Slice {
			// Copy, so that the koanf tree never aliases the caller's slice.
			c := reflect.MakeSlice(fv.Type(), fv.Len(), fv.Len())
			reflect.Copy(c, fv)
			m[f.key] = c.Interface()
			continue
		}
		m[f.key] = fv.Interface()
	}
	return m
}

// renamedKeys are keys of older Centrifugo versions, with what to write
// instead, so a warning can say so.
var renamedKeys = map[string]string{
	"secret":                      `use "token_hmac_secret_key"`,
	"anonymous":                   `use "allow_subscribe_for_anonymous"`,
	"history_recover":             `use "force_recovery"`,
	"history_lifetime":            `use "history_ttl"`,
	"presence_ttl":                `use "global_presence_ttl"`,
	"client_anonymous":            `use "allow_anonymous_connect_without_token"`,
	"subscribe_to_publish":        `use "allow_publish_for_subscriber"`,
	"presence_disable_for_client": `use "allow_presence_for_client" (the meaning is inverted)`,
	"history_disable_for_client":  `use "allow_history_for_client" (the meaning is inverted)`,
	"redis_host":                  `use "redis_address" ("host:port")`,
	"redis_port":                  `use "redis_address" ("host:port")`,
	"redis_url":                   `use "redis_address"`,
	"redis_master_name":           `use "redis_sentinel_master_name"`,
	"redis_sentinels":             `use "redis_sentinel_address"`,
}

// unsupportedKeys are Centrifugo v4/v5 keys that Rotor does not implement.
// They are reported as such rather than as typos.
var unsupportedKeys = map[string]bool{
	"api_external": true, "admin_external": true, "admin_handler_prefix": true,
	"admin_web_path": true, "admin_web_proxy_address": true,
	"health_handler_prefix": true, "prometheus_handler_prefix": true, "debug_handler_prefix": true,
	"swagger": true, "swagger_handler_prefix": true,
	"http_stream": true, "http_stream_handler_prefix": true, "http_stream_max_request_body_size": true,
	"sse": true, "sse_handler_prefix": true, "sse_max_request_body_size": true,
	"uni_websocket": true, "uni_websocket_handler_prefix": true, "uni_sse": true, "uni_sse_handler_prefix": true,
	"uni_http_stream": true, "uni_http_stream_handler_prefix": true, "uni_grpc": true, "uni_grpc_port": true,
	"uni_grpc_address": true, "webtransport": true, "http3": true,
	"sockjs": true, "sockjs_handler_prefix": true, "sockjs_url": true, "sockjs_heartbeat_delay": true,
	"sockjs_disable": true, "websocket_handler_prefix": true,
	"consumers": true, "granular_proxy_mode": true, "proxy_http_status_code_transforms": true,
	"proxy_subscribe_stream_endpoint": true, "proxy_subscribe_stream_timeout": true,
	"proxy_subscribe_stream": true, "proxy_subscribe_stream_bidirectional": true,
	"subscribe_stream_proxy_name": true, "proxy_cache_endpoint": true,
	"redis_use_lists": true, "redis_force_resp2": true, "redis_cluster_addresses": true,
	"nats_allow_wildcards": true, "nats_raw_mode": true,
	"tarantool_address": true, "tarantool_mode": true, "tarantool_user": true, "tarantool_password": true,
	"opentelemetry": true, "opentelemetry_api": true, "opentelemetry_consuming": true,
	"graphite": true, "graphite_host": true, "graphite_port": true, "graphite_prefix": true,
	"graphite_interval": true, "graphite_tags": true,
	"usage_stats_disable": true, "pid_file": true, "shutdown_timeout": true, "shutdown_termination_delay": true,
	"tls_autocert": true, "tls_autocert_host_whitelist": true, "tls_autocert_cache_dir": true,
	"tls_autocert_email": true, "tls_autocert_http": true, "tls_autocert_http_addr": true,
	"tls_external": true, "tls_cert_pem": true, "tls_key_pem": true, "tls_root_ca": true,
	"tls_client_ca": true, "tls_client_ca_pem": true,
	"client_connection_limit_check": true, "channel_proxy_subscribe_stream": true,
	"global_redis_presence_user_mapping": true, "redis_presence_hash_field_ttl": true,
	"redis_presence_user_mapping": true, "redis_presence_ttl": true,
	"websocket_join_push_messages": true, "client_connect_include_server_time": true,
	"node_info_metrics_aggregate_interval": true, "log_handler": true,
}

// unknownKeyMessage explains why key is not read and what to write instead.
func unknownKeyMessage(key string, known *schema) string {
	if hint, ok := renamedKeys[key]; ok {
		return "key of an older Centrifugo version, ignored; " + hint
	}
	if unsupportedKeys[key] {
		return "Centrifugo key that Rotor does not support, ignored"
	}
	if s := suggest(key, known); s != "" {
		return fmt.Sprintf("unknown key, ignored; did you mean %q?", s)
	}
	return "unknown key, ignored"
}

// suggest returns the known key closest to key, if it is close enough to
// be a likely typo.
func suggest(key string, known *schema) string {
	best, bestD := "", 0
	for _, f := range known.fields {
		d := editDistance(key, f.key)
		if best == "" || d < bestD || (d == bestD && f.key < best) {
			best, bestD = f.key, d
		}
	}
	limit := 2
	if len(key) >= 12 {
		limit = 3
	}
	if best == "" || bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 1 << 20 // not worth comparing; never a suggestion
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkKeys reports every key of raw (one source's values) that s does not
// read, and descends into namespaces, rpc_namespaces and proxies items.
// path prefixes the reported keys ("namespaces[0]." for an item).
func checkKeys(source, path string, raw map[string]any, s *schema, warn func(Warning)) {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := s.byKey[k]; !ok {
			warn(Warning{Source: source, Key: path + k, Message: unknownKeyMessage(k, s)})
			continue
		}
		var sub *schema
		switch {
		case s == configSchema && k == "namespaces":
			sub = namespaceSchema
		case s == configSchema && k == "rpc_namespaces":
			sub = rpcNamespaceSchema
		case s == configSchema && k == "proxies":
			sub = proxySchema
		default:
			continue
		}
		items, ok := raw[k].([]any)
		if !ok {
			continue // the type check reports it
		}
		for i, it := range items {
			if m, ok := it.(map[string]any); ok {
				checkKeys(source, fmt.Sprintf("%s%s[%d].", path, k, i), m, sub, warn)
			}
		}
	}
}
