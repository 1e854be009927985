//go:build !linux

package bench

import "os/exec"

// setChildAttrs does nothing where a child cannot follow its parent's death;
// a publisher process then stops by itself at the end of its publish loop.
func setChildAttrs(*exec.Cmd) {}
