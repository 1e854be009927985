package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/rotorhq/rotor/examples/ticketbooking/internal/app"
	"github.com/rotorhq/rotor/examples/ticketbooking/internal/cinema"
	"github.com/rotorhq/rotor/examples/ticketbooking/web"
)

// The browser test's settings.
const (
	// browserTTL is the reservation lifetime in the browser test: long
	// enough to see the seat taken and to pay, short enough to wait for.
	browserTTL = 6 * time.Second
	// repoRoot is the repository root from this directory.
	repoRoot = "../.."
	// outDir receives the screenshots (git-ignored).
	outDir = "testdata/out"
)

// TestBrowserThroughNginx starts Rotor (bin/rotor with
// dev/ticketbooking.json, ports changed), the demo and nginx (with
// nginx.conf, ports changed), then runs web/test/browser.mjs in headless
// Chromium against the page served through nginx: two users see each
// other's reservations live, and an expiry frees the seats on both pages.
// It fails, never skips, when Chromium, nginx, Node or the npm packages are
// missing.
func TestBrowserThroughNginx(t *testing.T) {
	tools := requireBrowserTools(t)
	rotorBin := rotorBinary(t)
	tmp := t.TempDir()

	httpLn := listen(t)
	proxyLn := listen(t)
	nginxPort := freePort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", nginxPort)

	rotor := startRotor(t, rotorBin, tmp, proxyLn.Addr().String(), origin)
	t.Logf("rotor: websocket %s, gRPC API %s", rotor.ws, rotor.grpcAPI)

	startDemo(t, app.Config{
		HTTPListener:  httpLn,
		ProxyListener: proxyLn,
		APIAddress:    rotor.grpcAPI,
		Database:      filepath.Join(tmp, "ticketbooking.db"),
		Static:        web.Static(),
		Cinema:        cinema.Config{ReservationTTL: browserTTL, BcryptCost: bcrypt.MinCost},
	})

	startNginx(t, tools.nginx, tmp, nginxPort, rotor.httpAddr, httpLn.Addr().String())

	out, err := filepath.Abs(outDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", out)
	env := append(os.Environ(),
		"TB_URL="+origin+"/",
		"TB_OUT="+out,
		fmt.Sprintf("TB_TTL_MS=%d", browserTTL.Milliseconds()),
		"CHROMIUM="+tools.chromium,
		"NO_COLOR=1",
	)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tools.node, filepath.Join("test", "browser.mjs"))
	cmd.Dir = "web"
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	if err := runLogged(t, "browser", cmd); err != nil {
		t.Fatalf("browser test: %v (its steps are in the log above; screenshots in %s)", err, out)
	}
	for _, f := range []string{"1-bob-sees-taken.png", "2-bob-sees-free.png", "3-alice-overview.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s missing: %v", f, err)
		}
	}
}

type browserTools struct {
	node, chromium, nginx string
}

// requireBrowserTools finds what the browser test needs, failing (never
// skipping) with what to run when something is missing.
func requireBrowserTools(t *testing.T) browserTools {
	t.Helper()
	var (
		tools browserTools
		errs  []string
	)
	var err error
	if tools.node, err = exec.LookPath("node"); err != nil {
		errs = append(errs, "node is not installed")
	}
	tools.chromium = os.Getenv("CHROMIUM")
	if tools.chromium == "" {
		tools.chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(tools.chromium); err != nil {
		errs = append(errs, "chromium is not installed ("+tools.chromium+")")
	}
	if tools.nginx, err = exec.LookPath("nginx"); err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
			tools.nginx = "/usr/sbin/nginx"
		} else {
			errs = append(errs, "nginx is not installed")
		}
	}
	for _, mod := range []string{"playwright-core", "centrifuge", "esbuild"} {
		if _, err := os.Stat(filepath.Join("web", "node_modules", mod, "package.json")); err != nil {
			errs = append(errs, "web/node_modules/"+mod+" is missing")
		}
	}
	if _, err := os.Stat(filepath.Join("web", "static", "app.js")); err != nil {
		errs = append(errs, "web/static/app.js is missing (npm run build in web/)")
	}
	if len(errs) > 0 {
		t.Fatalf("the browser test cannot run: %s. Run `make deps` (installs chromium, nginx, node and the npm packages), then scripts/test_demo.sh (builds the page)", strings.Join(errs, "; "))
	}
	return tools
}

// rotorBinary returns $ROTOR_BIN, or builds Rotor from the repository.
func rotorBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("ROTOR_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("ROTOR_BIN: %v", err)
		}
		return abs
	}
	bin := filepath.Join(t.TempDir(), "rotor")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/rotor")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building rotor: %v\n%s", err, out)
	}
	return bin
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// freePort returns a loopback port that was free a moment ago, for a
// program that must be told its port (nginx).
func freePort(t *testing.T) int {
	t.Helper()
	ln := listen(t)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type rotorProc struct {
	ws, httpAddr, grpcAPI string
}

// servingLine is the line Rotor logs once it listens; its addresses tell
// the ports it picked.
var servingLine = regexp.MustCompile(`msg="rotor is serving".*websocket=ws://([^/ ]+)/\S*.*grpc_api=(\S+)`)

// startRotor runs Rotor with dev/ticketbooking.json, its ports made free
// ones, its proxies pointed at proxyAddr and origin allowed.
func startRotor(t *testing.T, bin, dir, proxyAddr, origin string) rotorProc {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "dev", "ticketbooking.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("dev/ticketbooking.json: %v", err)
	}
	for _, key := range []string{"proxy_connect_endpoint", "proxy_subscribe_endpoint", "proxy_rpc_endpoint"} {
		if _, ok := cfg[key]; !ok {
			t.Fatalf("dev/ticketbooking.json has no %s", key)
		}
		cfg[key] = "grpc://" + proxyAddr
	}
	cfg["address"] = "127.0.0.1"
	cfg["port"] = 0
	cfg["grpc_api_port"] = 0
	cfg["allowed_origins"] = []string{origin}
	raw, err = json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rotor.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	cmd := exec.CommandContext(ctx, bin, "serve", "-c", path)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	found := make(chan rotorProc, 1)
	lines := startLogged(t, "rotor", cmd, func(line string) {
		if m := servingLine.FindStringSubmatch(line); m != nil {
			select {
			case found <- rotorProc{ws: "ws://" + m[1] + "/connection/websocket", httpAddr: m[1], grpcAPI: m[2]}:
			default:
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		<-lines
	})
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case p := <-found:
		return p
	case <-lines:
		t.Fatal("rotor exited before serving (its log is above)")
	case <-timer.C:
		t.Fatal("rotor did not log that it serves within 30 s")
	}
	return rotorProc{}
}

// startDemo runs the demo in this process until the test ends.
func startDemo(t *testing.T, cfg app.Config) {
	t.Helper()
	cfg.Log = slog.New(slog.NewTextHandler(&testWriter{t: t, prefix: "demo: "}, nil))
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	waitHTTP(t, "http://"+cfg.HTTPListener.Addr().String()+"/healthz", done)
}

// startNginx runs nginx with nginx.conf, its ports replaced: it listens on
// port and sends /connection to Rotor at rotorAddr, the rest to the demo at
// demoAddr.
func startNginx(t *testing.T, bin, dir string, port int, rotorAddr, demoAddr string) {
	t.Helper()
	raw, err := os.ReadFile("nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for _, r := range []struct{ old, new string }{
		{"listen 8088;", fmt.Sprintf("listen 127.0.0.1:%d;", port)},
		{"http://127.0.0.1:8000/", "http://" + rotorAddr + "/"},
		{"http://127.0.0.1:8080;", "http://" + demoAddr + ";"},
	} {
		if n := strings.Count(conf, r.old); n != 1 {
			t.Fatalf("nginx.conf: %q appears %d times, want once", r.old, n)
		}
		conf = strings.Replace(conf, r.old, r.new, 1)
	}
	site := filepath.Join(dir, "ticketbooking.conf")
	if err := os.WriteFile(site, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// A whole nginx configuration around it: in the foreground, one
	// process (no workers switching to another user), every path inside dir.
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, site)
	mainPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainPath, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	cmd := exec.CommandContext(ctx, bin, "-c", mainPath, "-p", dir+"/", "-e", filepath.Join(dir, "error.log"))
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	lines := startLogged(t, "nginx", cmd, nil)
	t.Cleanup(func() {
		cancel()
		<-lines
		if t.Failed() {
			for _, f := range []string{"error.log", "access.log"} {
				if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
					t.Logf("nginx %s:\n%s", f, b)
				}
			}
		}
	})
	exited := make(chan error, 1)
	go func() {
		<-lines
		exited <- errors.New("nginx exited")
	}()
	// Through nginx to the demo: proves both the listener and the proxying.
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), exited)
}

// waitHTTP polls url until it answers 200, failing when done delivers
// first or after 20 s.
func waitHTTP(t *testing.T, url string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("waiting for %s: the server stopped: %v", url, err)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within 20 s: %v", url, last)
}

// startLogged starts cmd with its output logged line by line (each line also
// given to onLine), and returns a channel closed once it exited and its
// output is read.
func startLogged(t *testing.T, name string, cmd *exec.Cmd, onLine func(string)) <-chan struct{} {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log(name + ": " + sc.Text())
			if onLine != nil {
				onLine(sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		err := cmd.Wait()
		_ = pw.CloseWithError(io.EOF)
		wg.Wait()
		if err != nil && cmd.ProcessState != nil && !cmd.ProcessState.Exited() {
			err = nil // ended by our signal
		}
		if err != nil {
			t.Logf("%s: %v", name, err)
		}
		close(done)
	}()
	return done
}

// runLogged runs cmd to the end with its output logged line by line.
func runLogged(t *testing.T, name string, cmd *exec.Cmd) error {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log(name + ": " + sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	_ = pw.Close()
	wg.Wait()
	return err
}

// testWriter logs each write (a slog record) to the test.
type testWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
