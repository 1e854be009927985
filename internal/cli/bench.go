package cli

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/rotorhq/rotor/internal/bench"
)

func (e *env) benchCommand() *cobra.Command {
	opts := bench.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "bench --scenario NAME [flags]",
		Short: "Load a running server and print one JSON summary line",
		Long: `Open client connections to a running server (speaking the client protocol
over WebSocket, JSON or Protobuf), publish through its HTTP or gRPC API, and
print one JSON line with connections, connect time, deliveries, loss and
latency percentiles. With --pid, the server's CPU time and memory are read
from /proc. With --publisher-process, publish calls are made from a child
process of this executable, as an application backend would make them.
Scenarios: connect, idle, fanout, channels, burst.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Logger = slog.New(slog.NewTextHandler(e.stderr, nil))
			_, err := bench.Run(cmd.Context(), opts, e.stdout)
			return err
		},
	}
	bench.RegisterFlags(cmd.Flags(), &opts)
	return cmd
}
