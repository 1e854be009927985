package node

// Node is one Rotor server: it owns the hub of connections and channels and
// talks to the broker. Its methods are safe for concurrent use.
type Node struct {
}
