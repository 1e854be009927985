// Package cli is Rotor's command line: serve (also the bare "rotor -c
// config.json", so Rotor is a drop-in for "centrifugo -c config.json"),
// checkconfig, genconfig, gentoken, gensubtoken, checktoken, checksubtoken
// and version.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/app"
	"github.com/rotorhq/rotor/internal/config"
)

// Execute runs the command line args (without the program name) and returns
// the process exit code: 0 on success, 1 on any failure.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return execute(ctx, &env{stdout: stdout, stderr: stderr, run: app.Run}, args)
}

// NewRootCommand returns the rotor command tree writing to stdout and
// stderr. Its RunE functions return *ExitError to ask for an exit code
// after having printed their own messages.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	return newRoot(&env{stdout: stdout, stderr: stderr, run: app.Run})
}

// ExitError carries an exit code out of a command that has already printed
// why it failed.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// failed is the error a command returns after printing its own message.
var failed = &ExitError{Code: 1}

// env is what the commands depend on from the outside, replaceable in tests.
type env struct {
	stdout, stderr io.Writer
	// environ is the environment for config loading; nil means the process
	// environment.
	environ []string
	// run serves until ctx is done; app.Run outside tests.
	run func(ctx context.Context, cfg config.Config, log *slog.Logger) error
}

func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.stdout, format, args...) }

func (e *env) errorf(format string, args ...any) { fmt.Fprintf(e.stderr, format, args...) }

func execute(ctx context.Context, e *env, args []string) int {
	root := newRoot(e)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	// Usage errors from flag or argument parsing.
	e.errorf("Error: %v\nRun '%s --help' for usage.\n", err, root.CommandPath())
	return 1
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "rotor",
		Short: "Rotor is a real-time messaging server compatible with Centrifugo v5",
		Long: `Rotor is a real-time messaging server compatible with Centrifugo v5.

Run "rotor -c config.json" (or "rotor serve -c config.json") to start the
server. Settings come from the config file, then CENTRIFUGO_<KEY> and
ROTOR_<KEY> environment variables, then flags: later sources win.`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return e.serve(cmd) },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	addServeFlags(root)

	serve := &cobra.Command{
		Use:   "serve",
		Short: "Start the server (the default command)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return e.serve(cmd) },
	}
	addServeFlags(serve)

	root.AddCommand(
		serve,
		e.checkConfigCommand(),
		e.genConfigCommand(),
		e.genTokenCommand(),
		e.genSubTokenCommand(),
		e.checkTokenCommand(),
		e.checkSubTokenCommand(),
		e.versionCommand(),
		e.benchCommand(),
	)
	return root
}

// goVersion is the Go release the binary was built with, without the "go"
// prefix ("1.26.8").
func goVersion() string { return strings.TrimPrefix(runtime.Version(), "go") }
