package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/rotorhq/rotor/internal/config"
)

// Config configures an Engine.
type Config struct {
	// Shards are independent Redis setups; channels are spread over them by
	// consistent hashing of the channel name, so every node must list the
	// same shards in the same order. At least one is required.
	Shards []ShardConfig
	// Prefix starts every Redis key and PUB/SUB channel name of the engine.
	// Zero value means "rotor".
	Prefix string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// ShardConfig is one Redis setup: a standalone server (Address), a master
// found through Sentinels (SentinelAddresses), or a Redis Cluster
// (ClusterAddresses). Exactly one of the three must be set.
type ShardConfig struct {
	// Address of a standalone server: host:port, or a redis://, rediss://
	// or unix:// URL, whose user, password and database (path "/2" or
	// "?db=2") override User, Password and DB.
	Address string
	// ClusterAddresses are seed nodes of a Redis Cluster (host:port or
	// URLs). Keys of one channel share a {hash tag}.
	ClusterAddresses []string
	// SentinelAddresses are Sentinels monitoring SentinelMasterName.
	SentinelAddresses  []string
	SentinelMasterName string
	// SentinelUser and SentinelPassword authenticate to the Sentinels;
	// SentinelTLS connects to them over TLS.
	SentinelUser     string
	SentinelPassword string
	SentinelTLS      bool

	// DB is the database number; Redis Cluster has only 0.
	DB int
	// User and Password authenticate to Redis (ACL user, or password only).
	User     string
	Password string
	// ClientName names the connections (CLIENT SETNAME); "" sets none.
	ClientName string
	// TLS connects to Redis over TLS.
	TLS bool
	// ConnectTimeout bounds dialling a connection. Zero value means 1s.
	ConnectTimeout time.Duration
	// IOTimeout bounds each call (a publish, a history read...) and is the
	// read/write timeout of the connections, so calls fail fast while Redis
	// is unreachable. Zero value means 4s.
	IOTimeout time.Duration
}

const (
	defaultPrefix         = "rotor"
	defaultConnectTimeout = time.Second
	defaultIOTimeout      = 4 * time.Second
)

// FromConfig maps the redis_* keys of a validated configuration to a
// Config. redis_cluster_address wins over redis_sentinel_address, which
// wins over redis_address (whose default is always set). Each
// redis_address entry is a shard; each redis_cluster_address entry is the
// seed list (comma-separated) of one cluster, and several clusters are
// shards too; the Sentinels of redis_sentinel_address make one shard.
func FromConfig(c *config.Config, log *slog.Logger) (Config, error) {
	base := ShardConfig{
		DB:             c.RedisDB,
		User:           c.RedisUser,
		Password:       c.RedisPassword,
		ClientName:     c.RedisClientName,
		TLS:            c.RedisTLS,
		ConnectTimeout: c.RedisConnectTimeout,
		IOTimeout:      c.RedisIOTimeout,
	}
	cfg := Config{Prefix: c.RedisPrefix, Logger: log}
	switch {
	case len(c.RedisClusterAddress) > 0:
		for _, entry := range c.RedisClusterAddress {
			sc := base
			for _, a := range strings.Split(entry, ",") {
				if a = strings.TrimSpace(a); a != "" {
					sc.ClusterAddresses = append(sc.ClusterAddresses, a)
				}
			}
			cfg.Shards = append(cfg.Shards, sc)
		}
	case len(c.RedisSentinelAddress) > 0:
		sc := base
		sc.SentinelAddresses = append([]string(nil), c.RedisSentinelAddress...)
		sc.SentinelMasterName = c.RedisSentinelMasterName
		sc.SentinelUser = c.RedisSentinelUser
		sc.SentinelPassword = c.RedisSentinelPassword
		sc.SentinelTLS = c.RedisSentinelTLS
		cfg.Shards = append(cfg.Shards, sc)
	default:
		for _, a := range c.RedisAddress {
			sc := base
			sc.Address = a
			cfg.Shards = append(cfg.Shards, sc)
		}
	}
	if len(cfg.Shards) == 0 {
		return Config{}, errors.New("redis: no redis_address, redis_cluster_address or redis_sentinel_address")
	}
	return cfg, nil
}

// clientOption builds the rueidis options of a shard.
func (sc ShardConfig) clientOption() (rueidis.ClientOption, error) {
	connectTimeout := orDefault(sc.ConnectTimeout, defaultConnectTimeout)
	ioTimeout := orDefault(sc.IOTimeout, defaultIOTimeout)
	opt := rueidis.ClientOption{
		Username:         sc.User,
		Password:         sc.Password,
		SelectDB:         sc.DB,
		ClientName:       sc.ClientName,
		Dialer:           net.Dialer{Timeout: connectTimeout, KeepAlive: ioTimeout},
		ConnWriteTimeout: ioTimeout,
		// Keys are never read with client-side caching.
		DisableCache: true,
	}
	set := 0
	if sc.Address != "" {
		set++
	}
	if len(sc.ClusterAddresses) > 0 {
		set++
	}
	if len(sc.SentinelAddresses) > 0 {
		set++
	}
	if set != 1 {
		return opt, errors.New("exactly one of Address, ClusterAddresses and SentinelAddresses must be set")
	}
	switch {
	case sc.Address != "":
		if err := applyAddress(&opt, sc.Address); err != nil {
			return opt, err
		}
		opt.ForceSingleClient = true
	case len(sc.ClusterAddresses) > 0:
		for _, a := range sc.ClusterAddresses {
			if err := applyAddress(&opt, a); err != nil {
				return opt, err
			}
		}
		if opt.SelectDB != 0 {
			return opt, fmt.Errorf("redis_db %d: Redis Cluster has only database 0", opt.SelectDB)
		}
		opt.ShuffleInit = true
	default:
		if sc.SentinelMasterName == "" {
			return opt, errors.New("SentinelMasterName is required with SentinelAddresses")
		}
		for _, a := range sc.SentinelAddresses {
			host, err := hostPort(a)
			if err != nil {
				return opt, err
			}
			opt.InitAddress = append(opt.InitAddress, host)
		}
		opt.Sentinel = rueidis.SentinelOption{
			MasterSet: sc.SentinelMasterName,
			Username:  sc.SentinelUser,
			Password:  sc.SentinelPassword,
			Dialer:    net.Dialer{Timeout: connectTimeout, KeepAlive: ioTimeout},
			// Reconcile with the Sentinels now and then in case a
			// +switch-master event was missed.
			TopologyRefreshInterval: 5 * time.Second,
		}
		if sc.SentinelTLS {
			opt.Sentinel.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	if sc.TLS && opt.TLSConfig == nil {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return opt, nil
}

// applyAddress adds a host:port or URL address to opt.InitAddress, taking
// credentials, database and TLS from a URL.
func applyAddress(opt *rueidis.ClientOption, addr string) error {
	if !strings.Contains(addr, "://") {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("address %q: must be host:port or a redis://, rediss:// or unix:// URL", addr)
		}
		opt.InitAddress = append(opt.InitAddress, addr)
		return nil
	}
	u, err := rueidis.ParseURL(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	opt.InitAddress = append(opt.InitAddress, u.InitAddress...)
	if u.Username != "" {
		opt.Username = u.Username
	}
	if u.Password != "" {
		opt.Password = u.Password
	}
	if u.SelectDB != 0 {
		opt.SelectDB = u.SelectDB
	}
	if u.TLSConfig != nil {
		opt.TLSConfig = u.TLSConfig
	}
	if u.DialCtxFn != nil {
		opt.DialCtxFn = u.DialCtxFn // unix sockets
	}
	return nil
}

// hostPort returns host:port of an address given as host:port or URL.
func hostPort(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", fmt.Errorf("address %q: must be host:port or a redis:// URL", addr)
		}
		return addr, nil
	}
	u, err := rueidis.ParseURL(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if len(u.InitAddress) == 0 {
		return "", fmt.Errorf("address %q: no host", addr)
	}
	return u.InitAddress[0], nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
