package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/auth"
	"github.com/rotorhq/rotor/internal/config"
	"github.com/rotorhq/rotor/internal/node"
)

// defaultTokenTTL is the lifetime of generated tokens: 7 days, in seconds.
const defaultTokenTTL = 7 * 24 * 60 * 60

// tokenConfig loads the config of a token command from its -c flag (file
// and environment, no flag overrides).
func (e *env) tokenConfig(cmd *cobra.Command) (config.Config, bool) {
	path, explicit := configPath(cmd.Flags())
	cfg, _, err := e.loadConfig(nil, path, explicit)
	if err != nil {
		e.printLoadError(err)
		return config.Config{}, false
	}
	return cfg, true
}

func userText(user string) string {
	if user == "" {
		return "anonymous user"
	}
	return "user " + strconv.Quote(user)
}

func ttlText(ttl time.Duration) string {
	if ttl == 0 {
		return "without expiration TTL"
	}
	return "with expiration TTL " + ttl.String()
}

func expireText(expireAt int64) string {
	if expireAt == 0 {
		return "without expiration"
	}
	return "with expiration " + time.Unix(expireAt, 0).UTC().Format(time.RFC3339)
}

func (e *env) genTokenCommand() *cobra.Command {
	var (
		user string
		ttl  int64
	)
	cmd := &cobra.Command{
		Use:   "gentoken [-u USER] [-t TTL] [-c FILE]",
		Short: "Generate a connection token (HS256, token_hmac_secret_key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl < 0 {
				e.errorf("--ttl must be 0 (never expires) or a number of seconds\n")
				return failed
			}
			cfg, ok := e.tokenConfig(cmd)
			if !ok {
				return failed
			}
			d := time.Duration(ttl) * time.Second
			token, err := auth.GenerateConnectToken(&cfg, user, d)
			if err != nil {
				e.errorf("%v\n", err)
				return failed
			}
			e.printf("HMAC SHA-256 JWT for %s %s:\n%s\n", userText(user), ttlText(d), token)
			return nil
		},
	}
	cmd.Flags().StringP("config", "c", defaultConfigFile, "config file with token_hmac_secret_key")
	cmd.Flags().StringVarP(&user, "user", "u", "", "user ID (empty means anonymous)")
	cmd.Flags().Int64VarP(&ttl, "ttl", "t", defaultTokenTTL, "token lifetime in seconds; 0 means it never expires")
	return cmd
}

func (e *env) genSubTokenCommand() *cobra.Command {
	var (
		user, channel string
		ttl           int64
	)
	cmd := &cobra.Command{
		Use:   "gensubtoken -s CHANNEL [-u USER] [-t TTL] [-c FILE]",
		Short: "Generate a subscription token (HS256)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if channel == "" {
				e.errorf("--channel (-s) is required\n")
				return failed
			}
			if ttl < 0 {
				e.errorf("--ttl must be 0 (never expires) or a number of seconds\n")
				return failed
			}
			cfg, ok := e.tokenConfig(cmd)
			if !ok {
				return failed
			}
			d := time.Duration(ttl) * time.Second
			token, err := auth.GenerateSubscriptionToken(&cfg, user, channel, d)
			if err != nil {
				e.errorf("%v\n", err)
				return failed
			}
			e.printf("HMAC SHA-256 JWT for %s and channel %q %s:\n%s\n", userText(user), channel, ttlText(d), token)
			return nil
		},
	}
	cmd.Flags().StringP("config", "c", defaultConfigFile, "config file with the token secret")
	cmd.Flags().StringVarP(&user, "user", "u", "", "user ID (empty means anonymous)")
	cmd.Flags().StringVarP(&channel, "channel", "s", "", "channel")
	cmd.Flags().Int64VarP(&ttl, "ttl", "t", defaultTokenTTL, "token lifetime in seconds; 0 means it never expires")
	return cmd
}

func (e *env) checkTokenCommand() *cobra.Command {
	return e.verifyCommand("checktoken", "Verify a connection token against the config",
		func(ctx context.Context, v *auth.Verifier, token string) (string, error) {
			t, err := v.VerifyConnectToken(ctx, token)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("valid token for %s %s", userText(t.UserID), expireText(t.ExpireAt)), nil
		})
}

func (e *env) checkSubTokenCommand() *cobra.Command {
	return e.verifyCommand("checksubtoken", "Verify a subscription token against the config",
		func(ctx context.Context, v *auth.Verifier, token string) (string, error) {
			t, err := v.VerifySubscriptionToken(ctx, token)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("valid subscription token for %s and channel %q %s", userText(t.UserID), t.Channel, expireText(t.ExpireAt)), nil
		})
}

// verifyCommand builds a command that checks the token given as its argument
// with verify and prints what verify describes.
func (e *env) verifyCommand(name, short string, verify func(context.Context, *auth.Verifier, string) (string, error)) *cobra.Command {
	cmd := &cobra.Command{
		Use:   name + " TOKEN [-c FILE]",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ok := e.tokenConfig(cmd)
			if !ok {
				return failed
			}
			v, err := auth.NewVerifier(&cfg)
			if err != nil {
				e.errorf("%v\n", err)
				return failed
			}
			defer v.Close()
			msg, err := verify(checkContext(cmd), v, args[0])
			if err != nil {
				e.errorf("invalid token: %v\n", err)
				return failed
			}
			e.printf("%s\n", msg)
			return nil
		},
	}
	cmd.Flags().StringP("config", "c", defaultConfigFile, "config file with the token keys")
	return cmd
}

func (e *env) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			e.printf("%s\n", versionText())
		},
	}
}

// versionText is "Rotor <version> (Go <go version>)".
func versionText() string {
	return fmt.Sprintf("Rotor %s (Go %s)", node.Version, goVersion())
}
