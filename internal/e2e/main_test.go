package e2e

import (
	"flag"
	"os"
	"testing"
)

// defaultParallel is how many tests of this package run at once unless
// -parallel is given. The tests mostly wait on the network, so more of them
// than there are CPUs (go test's default) keeps the package fast on small
// machines.
const defaultParallel = "8"

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.parallel" {
			explicit = true
		}
	})
	if !explicit {
		if err := flag.Set("test.parallel", defaultParallel); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
