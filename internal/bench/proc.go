package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// defaultClockTicks is USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat. The kernel reports 100 on every architecture Go runs on
// with Linux; getconf CLK_TCK is asked once to confirm it.
const defaultClockTicks = 100

var (
	clockTicksOnce sync.Once
	clockTicks     int64 = defaultClockTicks
)

// clockTicksPerSecond returns USER_HZ from getconf CLK_TCK, falling back to
// 100 when getconf is missing or says something unexpected.
func clockTicksPerSecond() int64 {
	clockTicksOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output()
		if err != nil {
			return
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			clockTicks = n
		}
	})
	return clockTicks
}

// procStats reads a process's CPU time and resident set size from /proc.
type procStats struct {
	pid   int
	stat  string
	statm string
	tick  int64
	page  int64
}

// newProcStats checks that pid's /proc entries exist.
func newProcStats(pid int) (*procStats, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("bench: server pid %d: server CPU and RSS are read from /proc, which needs Linux (this is %s)", pid, runtime.GOOS)
	}
	p := &procStats{
		pid:   pid,
		stat:  fmt.Sprintf("/proc/%d/stat", pid),
		statm: fmt.Sprintf("/proc/%d/statm", pid),
		tick:  clockTicksPerSecond(),
		page:  int64(os.Getpagesize()),
	}
	if _, err := p.cpu(); err != nil {
		return nil, fmt.Errorf("bench: server pid %d: %w", pid, err)
	}
	if _, err := p.rss(); err != nil {
		return nil, fmt.Errorf("bench: server pid %d: %w", pid, err)
	}
	return p, nil
}

// cpu returns the user plus system CPU time the process has used, with the
// resolution of one clock tick (10 ms).
func (p *procStats) cpu() (time.Duration, error) {
	b, err := os.ReadFile(p.stat) //nolint:gosec // /proc/<pid>/stat of a numeric pid
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces; the
	// fields after its closing parenthesis start at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New(p.stat + ": no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, errors.New(p.stat + ": too few fields")
	}
	u, err1 := strconv.ParseInt(f[utime], 10, 64)
	s, err2 := strconv.ParseInt(f[stime], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%s: %w", p.stat, err)
	}
	return time.Duration((u + s) * int64(time.Second) / p.tick), nil
}

// rss returns the resident set size in bytes.
func (p *procStats) rss() (int64, error) {
	b, err := os.ReadFile(p.statm) //nolint:gosec // /proc/<pid>/statm of a numeric pid
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, errors.New(p.statm + ": too few fields")
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.statm, err)
	}
	return pages * p.page, nil
}
