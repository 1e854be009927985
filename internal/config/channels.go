package config

import "strings"

// NamespaceName returns the namespace of channel: the text before the first
// namespace boundary once the private prefix is stripped, "" when there is
// no boundary.
func (c *Config) NamespaceName(channel string) string {
	ch := strings.TrimPrefix(channel, c.ChannelPrivatePrefix)
	if c.ChannelNamespaceBoundary == "" {
		return ""
	}
	if i := strings.Index(ch, c.ChannelNamespaceBoundary); i >= 0 {
		return ch[:i]
	}
	return ""
}

// ChannelOptionsFor returns the options of channel's namespace. ok is false
// when channel names a namespace that is not configured.
func (c *Config) ChannelOptionsFor(channel string) (opts ChannelOptions, ok bool) {
	name := c.NamespaceName(channel)
	if name == "" {
		return c.ChannelOptions, true
	}
	for i := range c.Namespaces {
		if c.Namespaces[i].Name == name {
			return c.Namespaces[i].ChannelOptions, true
		}
	}
	return ChannelOptions{}, false
}

// IsPrivateChannel reports whether channel starts with the private prefix
// ("$" by default): subscribing to it always needs a subscription token.
func (c *Config) IsPrivateChannel(channel string) bool {
	return c.ChannelPrivatePrefix != "" && strings.HasPrefix(channel, c.ChannelPrivatePrefix)
}

// ChannelUsers returns the users a user-limited channel ("news#42,43") is
// limited to, and whether channel is user-limited at all.
func (c *Config) ChannelUsers(channel string) ([]string, bool) {
	if c.ChannelUserBoundary == "" {
		return nil, false
	}
	i := strings.LastIndex(channel, c.ChannelUserBoundary)
	if i < 0 {
		return nil, false
	}
	rest := channel[i+len(c.ChannelUserBoundary):]
	if rest == "" {
		return nil, true
	}
	return strings.Split(rest, c.ChannelUserSeparator), true
}

// UserAllowedInChannel reports whether user may subscribe to a user-limited
// channel without any other permission.
func (c *Config) UserAllowedInChannel(channel, user string) bool {
	users, ok := c.ChannelUsers(channel)
	if !ok || user == "" {
		return false
	}
	for _, u := range users {
		if u == user {
			return true
		}
	}
	return false
}
