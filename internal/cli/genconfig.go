package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/config"
)

func (e *env) genConfigCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "genconfig [-c FILE]",
		Short: "Write a new config file with random secrets",
		Long: `Write a new config file with a random token_hmac_secret_key, api_key,
admin_password and admin_secret, and an empty allowed_origins. The format
follows the file extension: .json, .yaml, .yml or .toml. An existing file
is kept unless --force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, _ := configPath(cmd.Flags())
			return e.genConfig(path, force)
		},
	}
	cmd.Flags().StringP("config", "c", defaultConfigFile, "file to write")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite the file if it exists")
	return cmd
}

func (e *env) genConfig(path string, force bool) error {
	if err := checkFormat(path); err != nil {
		e.errorf("%v\n", err)
		return failed
	}
	data, err := generateConfig(config.FormatOf(path))
	if err != nil {
		e.errorf("%s: %v\n", path, err)
		return failed
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	// The file holds secrets: readable by its owner only.
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			e.errorf("%s already exists; use --force to overwrite it\n", path)
		} else {
			e.errorf("%v\n", err)
		}
		return failed
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		e.errorf("%v\n", err)
		return failed
	}
	if err := f.Close(); err != nil {
		e.errorf("%v\n", err)
		return failed
	}
	e.printf("config %s written\n", path)
	return nil
}

// generateConfig returns a minimal config with fresh random secrets in
// format ("json", "yaml" or "toml").
func generateConfig(format string) ([]byte, error) {
	m := map[string]any{
		"token_hmac_secret_key": randomHex(32),
		"admin_password":        randomHex(16),
		"admin_secret":          randomHex(32),
		"api_key":               randomHex(32),
		"allowed_origins":       []string{},
	}
	switch format {
	case "yaml":
		return yaml.Parser().Marshal(m)
	case "toml":
		return toml.Parser().Marshal(m)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// randomHex returns n random bytes from crypto/rand as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b)
}
