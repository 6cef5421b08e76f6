//go:build !linux

package redistest

import (
	"os"
	"os/exec"
)

func setProcAttr(*exec.Cmd) {}

func terminate(cmd *exec.Cmd) {
	if cmd.Process.Signal(os.Interrupt) != nil {
		_ = cmd.Process.Kill()
	}
}

func kill(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
