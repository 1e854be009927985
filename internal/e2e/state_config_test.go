package e2e

import (
	"time"

	"github.com/rotorhq/rotor/internal/config"
)

// recoveryJSConfig: namespace "rec" keeps 100 publications for 300 s with
// force_recovery, and is open to subscribers.
func recoveryJSConfig(c *config.Config) {
	c.Namespaces = append(c.Namespaces, config.Namespace{
		Name: "rec",
		ChannelOptions: config.ChannelOptions{
			AllowSubscribeForClient: true,
			HistorySize:             100,
			HistoryTTL:              300 * time.Second,
			ForceRecovery:           true,
		},
	})
}

// presenceJSConfig: namespace "room" keeps presence, join/leave events and
// 100 publications for 300 s; presence and history are for subscribers.
func presenceJSConfig(c *config.Config) {
	c.Namespaces = append(c.Namespaces, config.Namespace{
		Name: "room",
		ChannelOptions: config.ChannelOptions{
			AllowSubscribeForClient:    true,
			Presence:                   true,
			JoinLeave:                  true,
			AllowPresenceForSubscriber: true,
			AllowHistoryForSubscriber:  true,
			HistorySize:                100,
			HistoryTTL:                 300 * time.Second,
		},
	})
}
