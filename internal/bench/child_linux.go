//go:build linux

package bench

import (
	"os/exec"
	"syscall"
)

// setChildAttrs has the kernel kill the publisher process when this process
// dies without killing it (for instance on SIGKILL).
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
