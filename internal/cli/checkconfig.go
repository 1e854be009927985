package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/config"
)

func (e *env) checkConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "checkconfig [-c FILE]",
		Short: "Check a config file and exit",
		Long: `Check a config file the way serve would use it (with the environment
applied) and exit: 0 when it is valid, 1 otherwise. Unresolvable proxy
endpoint hosts count as errors here, while serve only warns about them.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, _ := configPath(cmd.Flags())
			if len(args) == 1 {
				path = args[0]
			}
			return e.checkConfig(cmd, path)
		},
	}
	cmd.Flags().StringP("config", "c", defaultConfigFile, "config file to check")
	return cmd
}

func (e *env) checkConfig(cmd *cobra.Command, path string) error {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			e.errorf("%s: file not found\n", path)
		} else {
			e.errorf("%s: %v\n", path, err)
		}
		return failed
	}
	cfg, warnings, err := config.Load(config.LoadOptions{File: path, Environ: e.environ})
	if err != nil {
		e.printLoadError(err)
		return failed
	}
	for _, w := range warnings {
		e.errorf("warning: %s\n", w)
	}
	ps := cfg.Problems()
	ps = append(ps, cfg.CheckEndpoints(checkContext(cmd))...)
	if len(ps) > 0 {
		for _, p := range ps {
			e.errorf("%s: %s\n", path, p.Error())
		}
		return failed
	}
	e.printf("config %s is valid\n", path)
	return nil
}

// checkFormat fails unless path has an extension genconfig can write.
func checkFormat(path string) error {
	if config.FormatOf(path) == "" {
		return fmt.Errorf("%s: unknown format; use a .json, .yaml, .yml or .toml file name", path)
	}
	return nil
}
