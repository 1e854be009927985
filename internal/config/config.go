// Package config holds Rotor's configuration: the flat keys Centrifugo v4/v5
// reads (so an existing config.json starts Rotor unchanged), their defaults,
// loading from files, environment and flags, and validation.
package config

import "time"

// Config is the whole server configuration. Every field maps to one flat key
// (the koanf tag). Zero values are never relied upon: Defaults fills every
// field that has a default, and Load starts from Defaults.
type Config struct {
	// Node.
	Name     string `koanf:"name"`      // node name; "" means hostname_port
	Engine   string `koanf:"engine"`    // memory | redis
	Broker   string `koanf:"broker"`    // "" | nats
	LogLevel string `koanf:"log_level"` // debug | info | warn | error | none
	LogFile  string `koanf:"log_file"`  // "" means stderr

	// HTTP server.
	Address         string `koanf:"address"`
	Port            int    `koanf:"port"`
	InternalAddress string `koanf:"internal_address"`
	InternalPort    int    `koanf:"internal_port"`
	TLS             bool   `koanf:"tls"`
	TLSCert         string `koanf:"tls_cert"`
	TLSKey          string `koanf:"tls_key"`
	Health          bool   `koanf:"health"`
	Prometheus      bool   `koanf:"prometheus"`
	Debug           bool   `koanf:"debug"`

	// Connection tokens.
	TokenHMACSecretKey      string `koanf:"token_hmac_secret_key"`
	TokenRSAPublicKey       string `koanf:"token_rsa_public_key"`
	TokenECDSAPublicKey     string `koanf:"token_ecdsa_public_key"`
	TokenJWKSPublicEndpoint string `koanf:"token_jwks_public_endpoint"`
	TokenAudience           string `koanf:"token_audience"`
	TokenAudienceRegex      string `koanf:"token_audience_regex"`
	TokenIssuer             string `koanf:"token_issuer"`
	TokenIssuerRegex        string `koanf:"token_issuer_regex"`
	TokenUserIDClaim        string `koanf:"token_user_id_claim"`

	// Subscription tokens (used only when SeparateSubscriptionTokenConfig).
	SeparateSubscriptionTokenConfig     bool   `koanf:"separate_subscription_token_config"`
	SubscriptionTokenHMACSecretKey      string `koanf:"subscription_token_hmac_secret_key"`
	SubscriptionTokenRSAPublicKey       string `koanf:"subscription_token_rsa_public_key"`
	SubscriptionTokenECDSAPublicKey     string `koanf:"subscription_token_ecdsa_public_key"`
	SubscriptionTokenJWKSPublicEndpoint string `koanf:"subscription_token_jwks_public_endpoint"`
	SubscriptionTokenAudience           string `koanf:"subscription_token_audience"`
	SubscriptionTokenAudienceRegex      string `koanf:"subscription_token_audience_regex"`
	SubscriptionTokenIssuer             string `koanf:"subscription_token_issuer"`
	SubscriptionTokenIssuerRegex        string `koanf:"subscription_token_issuer_regex"`
	SubscriptionTokenUserIDClaim        string `koanf:"subscription_token_user_id_claim"`

	// Client connections.
	AllowedOrigins                    []string      `koanf:"allowed_origins"`
	ClientInsecure                    bool          `koanf:"client_insecure"`
	ClientInsecureSkipTokenSignature  bool          `koanf:"client_insecure_skip_token_signature_verify"`
	AllowAnonymousConnectWithoutToken bool          `koanf:"allow_anonymous_connect_without_token"`
	DisallowAnonymousConnectionTokens bool          `koanf:"disallow_anonymous_connection_tokens"`
	ClientChannelLimit                int           `koanf:"client_channel_limit"`
	ClientUserConnectionLimit         int           `koanf:"client_user_connection_limit"`
	ClientConnectionLimit             int           `koanf:"client_connection_limit"`
	ClientConnectionRateLimit         int           `koanf:"client_connection_rate_limit"`
	ClientConcurrency                 int           `koanf:"client_concurrency"`
	ClientQueueMaxSize                int           `koanf:"client_queue_max_size"`
	ClientWriteDelay                  time.Duration `koanf:"client_write_delay"`
	ClientMaxMessagesInFrame          int           `koanf:"client_max_messages_in_frame"`
	ClientReplyWithoutQueue           bool          `koanf:"client_reply_without_queue"`
	ClientPresenceUpdateInterval      time.Duration `koanf:"client_presence_update_interval"`
	ClientExpiredCloseDelay           time.Duration `koanf:"client_expired_close_delay"`
	ClientExpiredSubCloseDelay        time.Duration `koanf:"client_expired_sub_close_delay"`
	ClientStaleCloseDelay             time.Duration `koanf:"client_stale_close_delay"`
	ClientChannelPositionCheckDelay   time.Duration `koanf:"client_channel_position_check_delay"`
	ClientHistoryMaxPublicationLimit  int           `koanf:"client_history_max_publication_limit"`
	ClientRecoveryMaxPublicationLimit int           `koanf:"client_recovery_max_publication_limit"`
	PingInterval                      time.Duration `koanf:"ping_interval"`
	PongTimeout                       time.Duration `koanf:"pong_timeout"`

	UserSubscribeToPersonal      bool   `koanf:"user_subscribe_to_personal"`
	UserPersonalChannelNamespace string `koanf:"user_personal_channel_namespace"`
	UserPersonalSingleConnection bool   `koanf:"user_personal_single_connection"`

	// Channels.
	ChannelMaxLength         int    `koanf:"channel_max_length"`
	ChannelPrivatePrefix     string `koanf:"channel_private_prefix"`
	ChannelNamespaceBoundary string `koanf:"channel_namespace_boundary"`
	ChannelUserBoundary      string `koanf:"channel_user_boundary"`
	ChannelUserSeparator     string `koanf:"channel_user_separator"`

	GlobalHistoryMetaTTL time.Duration `koanf:"global_history_meta_ttl"`
	GlobalPresenceTTL    time.Duration `koanf:"global_presence_ttl"`

	// ChannelOptions are the options of channels without a namespace (top
	// level keys such as "presence", "allow_subscribe_for_client").
	ChannelOptions `koanf:",squash"`
	Namespaces     []Namespace    `koanf:"namespaces"`
	RPCNamespaces  []RPCNamespace `koanf:"rpc_namespaces"`

	// Publish is the v3 key "publish" found in older configs (the seed has it);
	// it is read as allow_publish_for_client for channels without namespace.
	Publish bool `koanf:"publish"`

	// Server HTTP API.
	APIKey           string `koanf:"api_key"`
	APIInsecure      bool   `koanf:"api_insecure"`
	APIErrorMode     string `koanf:"api_error_mode"`
	APIHandlerPrefix string `koanf:"api_handler_prefix"`
	APIDisable       bool   `koanf:"api_disable"`

	// Server gRPC API.
	GRPCAPI           bool   `koanf:"grpc_api"`
	GRPCAPIAddress    string `koanf:"grpc_api_address"`
	GRPCAPIPort       int    `koanf:"grpc_api_port"`
	GRPCAPIKey        string `koanf:"grpc_api_key"`
	GRPCAPITLS        bool   `koanf:"grpc_api_tls"`
	GRPCAPITLSCert    string `koanf:"grpc_api_tls_cert"`
	GRPCAPITLSKey     string `koanf:"grpc_api_tls_key"`
	GRPCAPIReflection bool   `koanf:"grpc_api_reflection"`
	GRPCAPIErrorMode  string `koanf:"grpc_api_error_mode"`

	// Proxies to the application backend.
	ProxyConnectEndpoint    string        `koanf:"proxy_connect_endpoint"`
	ProxyConnectTimeout     time.Duration `koanf:"proxy_connect_timeout"`
	ProxyRefreshEndpoint    string        `koanf:"proxy_refresh_endpoint"`
	ProxyRefreshTimeout     time.Duration `koanf:"proxy_refresh_timeout"`
	ProxyRPCEndpoint        string        `koanf:"proxy_rpc_endpoint"`
	ProxyRPCTimeout         time.Duration `koanf:"proxy_rpc_timeout"`
	ProxySubscribeEndpoint  string        `koanf:"proxy_subscribe_endpoint"`
	ProxySubscribeTimeout   time.Duration `koanf:"proxy_subscribe_timeout"`
	ProxyPublishEndpoint    string        `koanf:"proxy_publish_endpoint"`
	ProxyPublishTimeout     time.Duration `koanf:"proxy_publish_timeout"`
	ProxySubRefreshEndpoint string        `koanf:"proxy_sub_refresh_endpoint"`
	ProxySubRefreshTimeout  time.Duration `koanf:"proxy_sub_refresh_timeout"`
	// ProxyConnect, ProxyRefresh and ProxyRPC are booleans found in the seed
	// config; nil means "not set" (the endpoint alone decides).
	ProxyConnect                *bool             `koanf:"proxy_connect"`
	ProxyRefresh                *bool             `koanf:"proxy_refresh"`
	ProxyRPC                    *bool             `koanf:"proxy_rpc"`
	ProxyHTTPHeaders            []string          `koanf:"proxy_http_headers"`
	ProxyGRPCMetadata           []string          `koanf:"proxy_grpc_metadata"`
	ProxyStaticHTTPHeaders      map[string]string `koanf:"proxy_static_http_headers"`
	ProxyBinaryEncoding         bool              `koanf:"proxy_binary_encoding"`
	ProxyIncludeConnectionMeta  bool              `koanf:"proxy_include_connection_meta"`
	ProxyGRPCCredentialsKey     string            `koanf:"proxy_grpc_credentials_key"`
	ProxyGRPCCredentialsValue   string            `koanf:"proxy_grpc_credentials_value"`
	ProxyGRPCTLS                bool              `koanf:"proxy_grpc_tls"`
	ProxyGRPCTLSCert            string            `koanf:"proxy_grpc_tls_cert"`
	ProxyGRPCTLSKey             string            `koanf:"proxy_grpc_tls_key"`
	ProxyGRPCTLSRootCA          string            `koanf:"proxy_grpc_tls_root_ca"`
	ProxyGRPCTLSServerName      string            `koanf:"proxy_grpc_tls_server_name"`
	ProxyGRPCTLSInsecureSkipVer bool              `koanf:"proxy_grpc_tls_insecure_skip_verify"`
	ProxyGRPCCompression        bool              `koanf:"proxy_grpc_compression"`
	Proxies                     []Proxy           `koanf:"proxies"`

	// Redis engine.
	RedisAddress            []string      `koanf:"redis_address"`
	RedisPrefix             string        `koanf:"redis_prefix"`
	RedisDB                 int           `koanf:"redis_db"`
	RedisUser               string        `koanf:"redis_user"`
	RedisPassword           string        `koanf:"redis_password"`
	RedisClientName         string        `koanf:"redis_client_name"`
	RedisTLS                bool          `koanf:"redis_tls"`
	RedisConnectTimeout     time.Duration `koanf:"redis_connect_timeout"`
	RedisIOTimeout          time.Duration `koanf:"redis_io_timeout"`
	RedisClusterAddress     []string      `koanf:"redis_cluster_address"`
	RedisSentinelAddress    []string      `koanf:"redis_sentinel_address"`
	RedisSentinelMasterName string        `koanf:"redis_sentinel_master_name"`
	RedisSentinelUser       string        `koanf:"redis_sentinel_user"`
	RedisSentinelPassword   string        `koanf:"redis_sentinel_password"`
	RedisSentinelTLS        bool          `koanf:"redis_sentinel_tls"`

	// NATS broker.
	NATSURL          string        `koanf:"nats_url"`
	NATSPrefix       string        `koanf:"nats_prefix"`
	NATSDialTimeout  time.Duration `koanf:"nats_dial_timeout"`
	NATSWriteTimeout time.Duration `koanf:"nats_write_timeout"`

	// Admin web interface (accepted for compatibility).
	Admin         bool   `koanf:"admin"`
	AdminPassword string `koanf:"admin_password"`
	AdminSecret   string `koanf:"admin_secret"`
	AdminInsecure bool   `koanf:"admin_insecure"`

	// WebSocket transport.
	WebsocketCompression        bool          `koanf:"websocket_compression"`
	WebsocketWriteTimeout       time.Duration `koanf:"websocket_write_timeout"`
	WebsocketMessageSizeLimit   int           `koanf:"websocket_message_size_limit"`
	WebsocketReadBufferSize     int           `koanf:"websocket_read_buffer_size"`
	WebsocketWriteBufferSize    int           `koanf:"websocket_write_buffer_size"`
	WebsocketUseWriteBufferPool bool          `koanf:"websocket_use_write_buffer_pool"`
	WebsocketDisable            bool          `koanf:"websocket_disable"`
	// WebsocketEngine is what reads client connections: "epoll" (no
	// goroutine per idle connection on Linux) or "gorilla".
	WebsocketEngine string `koanf:"websocket_engine"`
}

// ChannelOptions are the per-namespace channel options. At top level they
// apply to channels without a namespace.
type ChannelOptions struct {
	Presence                   bool          `koanf:"presence"`
	JoinLeave                  bool          `koanf:"join_leave"`
	ForcePushJoinLeave         bool          `koanf:"force_push_join_leave"`
	HistorySize                int           `koanf:"history_size"`
	HistoryTTL                 time.Duration `koanf:"history_ttl"`
	HistoryMetaTTL             time.Duration `koanf:"history_meta_ttl"`
	ForcePositioning           bool          `koanf:"force_positioning"`
	AllowPositioning           bool          `koanf:"allow_positioning"`
	ForceRecovery              bool          `koanf:"force_recovery"`
	AllowRecovery              bool          `koanf:"allow_recovery"`
	ForceRecoveryMode          string        `koanf:"force_recovery_mode"`
	AllowSubscribeForClient    bool          `koanf:"allow_subscribe_for_client"`
	AllowSubscribeForAnonymous bool          `koanf:"allow_subscribe_for_anonymous"`
	AllowPublishForClient      bool          `koanf:"allow_publish_for_client"`
	AllowPublishForSubscriber  bool          `koanf:"allow_publish_for_subscriber"`
	AllowPublishForAnonymous   bool          `koanf:"allow_publish_for_anonymous"`
	AllowPresenceForClient     bool          `koanf:"allow_presence_for_client"`
	AllowPresenceForSubscriber bool          `koanf:"allow_presence_for_subscriber"`
	AllowPresenceForAnonymous  bool          `koanf:"allow_presence_for_anonymous"`
	AllowHistoryForClient      bool          `koanf:"allow_history_for_client"`
	AllowHistoryForSubscriber  bool          `koanf:"allow_history_for_subscriber"`
	AllowHistoryForAnonymous   bool          `koanf:"allow_history_for_anonymous"`
	AllowUserLimitedChannels   bool          `koanf:"allow_user_limited_channels"`
	ChannelRegex               string        `koanf:"channel_regex"`
	ProxySubscribe             bool          `koanf:"proxy_subscribe"`
	ProxyPublish               bool          `koanf:"proxy_publish"`
	ProxySubRefresh            bool          `koanf:"proxy_sub_refresh"`
	SubscribeProxyName         string        `koanf:"subscribe_proxy_name"`
	PublishProxyName           string        `koanf:"publish_proxy_name"`
	SubRefreshProxyName        string        `koanf:"sub_refresh_proxy_name"`
	AllowedDeltaTypes          []string      `koanf:"allowed_delta_types"`
	DeltaPublish               bool          `koanf:"delta_publish"`
}

// Namespace is a named set of channel options; a channel "ns:rest" belongs to
// namespace "ns".
type Namespace struct {
	Name           string `koanf:"name"`
	ChannelOptions `koanf:",squash"`
}

// RPCNamespace routes RPC methods "ns:method" to a named proxy.
type RPCNamespace struct {
	Name         string `koanf:"name"`
	ProxyRPC     bool   `koanf:"proxy_rpc"`
	RPCProxyName string `koanf:"rpc_proxy_name"`
}

// Proxy is a named proxy from the "proxies" list.
type Proxy struct {
	Name                  string            `koanf:"name"`
	Endpoint              string            `koanf:"endpoint"`
	Timeout               time.Duration     `koanf:"timeout"`
	HTTPHeaders           []string          `koanf:"http_headers"`
	GRPCMetadata          []string          `koanf:"grpc_metadata"`
	StaticHTTPHeaders     map[string]string `koanf:"static_http_headers"`
	BinaryEncoding        bool              `koanf:"binary_encoding"`
	IncludeConnectionMeta bool              `koanf:"include_connection_meta"`
	GRPCCredentialsKey    string            `koanf:"grpc_credentials_key"`
	GRPCCredentialsValue  string            `koanf:"grpc_credentials_value"`
	GRPCCompression       bool              `koanf:"grpc_compression"`
}

// Defaults returns the configuration every key starts from. It is the only
// place defaults are written down.
func Defaults() Config {
	return Config{
		Engine:   "memory",
		LogLevel: "info",
		Port:     8000,

		ClientChannelLimit:                128,
		ClientQueueMaxSize:                1 << 20,
		ClientMaxMessagesInFrame:          64,
		ClientPresenceUpdateInterval:      27 * time.Second,
		ClientExpiredCloseDelay:           25 * time.Second,
		ClientExpiredSubCloseDelay:        25 * time.Second,
		ClientStaleCloseDelay:             10 * time.Second,
		ClientChannelPositionCheckDelay:   40 * time.Second,
		ClientHistoryMaxPublicationLimit:  300,
		ClientRecoveryMaxPublicationLimit: 300,
		PingInterval:                      25 * time.Second,
		PongTimeout:                       8 * time.Second,

		ChannelMaxLength:         255,
		ChannelPrivatePrefix:     "$",
		ChannelNamespaceBoundary: ":",
		ChannelUserBoundary:      "#",
		ChannelUserSeparator:     ",",

		GlobalHistoryMetaTTL: 720 * time.Hour,
		GlobalPresenceTTL:    60 * time.Second,

		APIHandlerPrefix: "/api",

		GRPCAPIPort: 10000,

		ProxyConnectTimeout:    time.Second,
		ProxyRefreshTimeout:    time.Second,
		ProxyRPCTimeout:        time.Second,
		ProxySubscribeTimeout:  time.Second,
		ProxyPublishTimeout:    time.Second,
		ProxySubRefreshTimeout: time.Second,

		RedisAddress:        []string{"redis://127.0.0.1:6379"},
		RedisPrefix:         "rotor",
		RedisConnectTimeout: time.Second,
		RedisIOTimeout:      4 * time.Second,

		NATSURL:          "nats://127.0.0.1:4222",
		NATSPrefix:       "rotor",
		NATSDialTimeout:  time.Second,
		NATSWriteTimeout: time.Second,

		WebsocketWriteTimeout:     time.Second,
		WebsocketMessageSizeLimit: 65536,
		WebsocketEngine:           "epoll",
	}
}
