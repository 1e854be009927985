package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NATSServer is a nats-server process started by StartNATS. Its methods are
// safe for concurrent use.
type NATSServer struct {
	// URL is nats://127.0.0.1:port.
	URL string
	// Addr is host:port of URL.
	Addr string

	t   testing.TB
	bin string
	dir string
	log string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartNATS starts a nats-server (Debian package nats-server; make deps
// installs it) on a free loopback port and returns once it greets clients.
// The server is stopped when the test ends.
func StartNATS(t testing.TB) *NATSServer {
	t.Helper()
	bin := lookBinary(t, "nats-server", "nats-server")
	dir := t.TempDir()
	var lastErr error
	for range 3 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		s := &NATSServer{URL: "nats://" + addr, Addr: addr, t: t, bin: bin, dir: dir, log: filepath.Join(dir, "nats.log")}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(func() {
				s.Stop()
				if t.Failed() {
					logTail(t, s.log)
				}
			})
			return s
		}
	}
	t.Fatalf("testutil: starting nats-server: %v", lastErr)
	return nil
}

func (s *NATSServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "-a", host, "-p", port)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(serverStartTimeout)
	for {
		err := natsGreets(s.Addr)
		if err == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("nats-server exited at start (log %s)", s.log)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("nats-server at %s not ready within %v: %v", s.Addr, serverStartTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// natsGreets reports whether a server at addr sends its INFO line.
func natsGreets(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, redisDialTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(redisDialTimeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	return nil
}

// Stop stops the server and waits for it to exit; stopping a stopped server
// does nothing.
func (s *NATSServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	stopProcess(s.cmd, s.exited, syscall.SIGTERM)
	s.cmd, s.exited = nil, nil
}

// Start starts a stopped server again on the same port, failing the test if
// it does not come up.
func (s *NATSServer) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("testutil: restarting nats-server at %s: %v", s.Addr, err)
	}
}
