package memory_test

import (
	"testing"

	"github.com/rotorhq/rotor/internal/broker/brokertest"
	"github.com/rotorhq/rotor/internal/broker/memory"
	"github.com/rotorhq/rotor/internal/node"
)

func TestContract(t *testing.T) {
	t.Parallel()
	brokertest.Run(t, func(t *testing.T) (node.Broker, node.PresenceManager) {
		b := memory.New()
		return b, b
	})
}
