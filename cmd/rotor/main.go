// Command rotor is the Rotor real-time messaging server and its tools.
package main

import (
	"context"
	"os"

	"github.com/rotorhq/rotor/internal/cli"
)

func main() {
	os.Exit(cli.Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
