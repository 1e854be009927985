package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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

	"github.com/rotorhq/rotor/internal/testutil/wait"
)

// Real Redis setups for tests: a standalone redis-server, a three-master
// Redis Cluster, and a master with a replica behind one redis-sentinel. Each
// server listens on a free loopback port, keeps its files in a temporary
// directory and is stopped by a t.Cleanup; the binaries come from Debian's
// redis-server and redis-sentinel packages (make deps installs them). A
// missing binary fails the test: the Redis engine is only tested against
// real servers.

// serverStartTimeout bounds how long a server may take to accept connections
// (and a cluster to agree on its slots).
const serverStartTimeout = 15 * time.Second

// RedisServer is a redis-server (or redis-sentinel) process started by a
// test. Its methods are safe for concurrent use.
type RedisServer struct {
	// Addr is host:port, on 127.0.0.1.
	Addr string
	// Port is the port of Addr.
	Port int

	t    testing.TB
	bin  string
	dir  string
	args []string
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// URL returns redis://Addr.
func (s *RedisServer) URL() string { return "redis://" + s.Addr }

// StartRedis starts a standalone redis-server on a free loopback port with
// persistence off; extra are more redis-server arguments (e.g. "--appendonly",
// "yes" to keep data across Stop and Start). It returns once the server
// answers PING and stops it when the test ends.
func StartRedis(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	bin := lookBinary(t, "redis-server", "redis-server")
	return startRedisProcess(t, bin, "redis", func(port int, dir string) []string {
		args := []string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--dir", dir,
			"--daemonize", "no",
		}
		return append(args, extra...)
	})
}

// startRedisProcess starts bin with the arguments made by args for a free
// port, retrying with another port when the chosen one was taken meanwhile.
func startRedisProcess(t testing.TB, bin, name string, args func(port int, dir string) []string) *RedisServer {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for range 3 {
		port := FreePort(t)
		s := &RedisServer{
			Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Port: port,
			t:    t,
			bin:  bin,
			dir:  dir,
			args: args(port, dir),
			log:  filepath.Join(dir, name+".log"),
		}
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
	t.Fatalf("testutil: starting %s: %v", name, lastErr)
	return nil
}

// start runs the process and waits until it answers PING.
func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, s.args...)
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
		reply, err := RedisCommand(s.Addr, "PING")
		if err == nil && reply == "PONG" {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start (log %s)", filepath.Base(s.bin), s.log)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("no PONG from %s within %v: %v", s.Addr, serverStartTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after five seconds) and waits
// for it to exit. Stopping a stopped server does nothing.
func (s *RedisServer) Stop() { s.stop(syscall.SIGTERM) }

// Kill kills the server at once (SIGKILL): nothing is saved.
func (s *RedisServer) Kill() { s.stop(syscall.SIGKILL) }

func (s *RedisServer) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	stopProcess(s.cmd, s.exited, sig)
	s.cmd, s.exited = nil, nil
}

// stopProcess signals cmd and waits for it to exit, killing it when it is
// still running five seconds later.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}, sig syscall.Signal) {
	_ = cmd.Process.Signal(sig)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Start starts a stopped server again on the same port and directory,
// failing the test if it does not come up.
func (s *RedisServer) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("testutil: restarting %s: %v", s.Addr, err)
	}
}

// Do sends one command to the server and returns its reply (see
// RedisCommand), failing the test on an error.
func (s *RedisServer) Do(args ...string) string {
	s.t.Helper()
	reply, err := RedisCommand(s.Addr, args...)
	if err != nil {
		s.t.Fatalf("testutil: redis %s %v: %v", s.Addr, args, err)
	}
	return reply
}

// RedisCluster is a Redis Cluster of three masters (no replicas) started by
// StartRedisCluster.
type RedisCluster struct {
	Nodes []*RedisServer
}

// Addrs returns the host:port of every node.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// StartRedisCluster starts three redis-server nodes in cluster mode, splits
// the 16384 slots between them and returns once every node reports
// cluster_state:ok.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	const masters = 3
	bin := lookBinary(t, "redis-server", "redis-server")
	c := &RedisCluster{}
	busPorts := make([]int, masters)
	for i := range masters {
		busPort := FreePort(t)
		busPorts[i] = busPort
		n := startRedisProcess(t, bin, fmt.Sprintf("cluster-node-%d", i), func(port int, dir string) []string {
			return []string{
				"--port", strconv.Itoa(port),
				"--bind", "127.0.0.1",
				"--cluster-enabled", "yes",
				"--cluster-port", strconv.Itoa(busPort),
				"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
				"--cluster-node-timeout", "5000",
				"--save", "",
				"--appendonly", "no",
				"--dir", dir,
				"--daemonize", "no",
			}
		})
		c.Nodes = append(c.Nodes, n)
	}
	const slots = 16384
	for i, n := range c.Nodes {
		from, to := i*slots/masters, (i+1)*slots/masters
		args := []string{"CLUSTER", "ADDSLOTS"}
		for s := from; s < to; s++ {
			args = append(args, strconv.Itoa(s))
		}
		n.Do(args...)
	}
	for _, n := range c.Nodes[1:] {
		n.Do("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(c.Nodes[0].Port), strconv.Itoa(busPorts[0]))
	}
	wait.CheckFor(t, serverStartTimeout, 50*time.Millisecond, func() error {
		for _, n := range c.Nodes {
			info, err := RedisCommand(n.Addr, "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return fmt.Errorf("node %s: %s", n.Addr, strings.ReplaceAll(info, "\r\n", " "))
			}
		}
		return nil
	})
	return c
}

// RedisSentinel is a master, its replica and one redis-sentinel monitoring
// them, started by StartRedisSentinel.
type RedisSentinel struct {
	Master   *RedisServer
	Replica  *RedisServer
	Sentinel *RedisServer
	// MasterName is the name the sentinel monitors the master under.
	MasterName string
}

// StartRedisSentinel starts a master, a replica of it and a sentinel that
// monitors the master as "rotor-master", and returns once the sentinel
// reports the master and the replica is in sync.
func StartRedisSentinel(t testing.TB) *RedisSentinel {
	t.Helper()
	sentinelBin := lookBinary(t, "redis-sentinel", "redis-sentinel")
	rs := &RedisSentinel{MasterName: "rotor-master"}
	rs.Master = StartRedis(t, "--repl-diskless-sync-delay", "0")
	rs.Replica = StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(rs.Master.Port))
	rs.Sentinel = startRedisProcess(t, sentinelBin, "sentinel", func(port int, dir string) []string {
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", port))
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\n"+
			"sentinel down-after-milliseconds %s 2000\nsentinel failover-timeout %s 5000\n",
			port, dir, rs.MasterName, rs.Master.Port, rs.MasterName, rs.MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatalf("testutil: writing sentinel config: %v", err)
		}
		return []string{conf}
	})
	wait.CheckFor(t, serverStartTimeout, 50*time.Millisecond, func() error {
		addr, err := RedisCommand(rs.Sentinel.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", rs.MasterName)
		if err != nil {
			return err
		}
		if addr != "127.0.0.1 "+strconv.Itoa(rs.Master.Port) {
			return fmt.Errorf("sentinel reports master %q", addr)
		}
		info, err := RedisCommand(rs.Replica.Addr, "INFO", "replication")
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return errors.New("replica not in sync yet")
		}
		return nil
	})
	return rs
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lookBinary returns the path of name, failing the test with how to install
// it when it is not on PATH.
func lookBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("testutil: %s is not installed (Debian package %s): run `make deps`", name, pkg)
	}
	return p
}

// logTail logs the end of a server's log file.
func logTail(t testing.TB, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	t.Logf("testutil: end of %s:\n%s", filepath.Base(path), b)
}

// redisDialTimeout bounds connecting to and talking with a test server.
const redisDialTimeout = 2 * time.Second

// RedisCommand sends one command to the Redis server (or sentinel) at addr
// on a new connection and returns its reply as text: a status or bulk
// string as is, an integer in decimal, an array as its elements joined by
// spaces (nested arrays flattened), a nil reply as "". An error reply is
// returned as an error.
func RedisCommand(addr string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, redisDialTimeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(redisDialTimeout))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	return readRESP(bufio.NewReader(conn))
}

func readRESP(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := readRESP(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, " "), nil
	default:
		return "", fmt.Errorf("unexpected reply %q", line)
	}
}
