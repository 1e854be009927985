package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The server API's keep-alive connections are served here rather than by
// the HTTP server when the listener is a DirectListener with
// DirectOptions.API. Requests "POST <APIPrefix>…" are parsed with
// http.ReadRequest and answered by the same handler, one after another on
// the connection's goroutine; the socket is read and written with
// non-blocking system calls the scheduler does not see (readNonblock).
// The HTTP server would, for each request, start a goroutine that watches
// the connection for a close, move deadlines three times and read the
// socket through the runtime's poller: with publish calls a millisecond
// apart, about a fifth of the server's CPU per publish (docs/PERFORMANCE.md).
// Anything else that arrives on the connection (another path, another
// method) goes to the HTTP server with the connection, its bytes intact.

// maxDrainBytes is how much of a request body the handler left unread is
// read and dropped to keep the connection; past that it is closed, as the
// HTTP server does.
const maxDrainBytes = 256 << 10

// apiConn is a keep-alive connection served by serveAPI.
type apiConn struct {
	c  *net.TCPConn
	rc syscall.RawConn
	// idle is set while the connection waits for a request: Close wakes
	// those waits so that they end.
	idle atomic.Bool
	// limit bounds the bytes read for a request's line and headers; it is
	// lifted for the body.
	limit int64
	// rd is the read in progress: rc.Read calls readFn.
	rd     []byte
	rn     int
	rerr   error
	readFn func(fd uintptr) bool
}

// apiConns are the connections serveAPI serves, for Close.
type apiConns struct {
	mu    sync.Mutex
	conns map[*apiConn]struct{}
}

func (s *apiConns) add(ac *apiConn) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = make(map[*apiConn]struct{})
	}
	s.conns[ac] = struct{}{}
	s.mu.Unlock()
}

func (s *apiConns) remove(ac *apiConn) {
	s.mu.Lock()
	delete(s.conns, ac)
	s.mu.Unlock()
}

// wakeIdle ends the waits of the connections waiting for a request; those
// serving one close after their answer.
func (s *apiConns) wakeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ac := range s.conns {
		if ac.idle.Load() {
			_ = ac.c.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

// Read reads what the socket holds, waiting in the runtime's poller (and
// its read deadline) when it holds nothing.
func (ac *apiConn) Read(p []byte) (int, error) {
	if ac.limit <= 0 {
		return 0, errHeadersTooLarge
	}
	if int64(len(p)) > ac.limit {
		p = p[:ac.limit]
	}
	ac.rd, ac.rn, ac.rerr = p, 0, nil
	err := ac.rc.Read(ac.readFn)
	ac.rd = nil
	if err != nil {
		return 0, err
	}
	if ac.rerr != nil {
		return 0, ac.rerr
	}
	if ac.rn == 0 {
		return 0, io.EOF
	}
	ac.limit -= int64(ac.rn)
	return ac.rn, nil
}

func (ac *apiConn) readOnce(fd uintptr) bool {
	for {
		n, err := readNonblock(fd, ac.rd)
		switch err {
		case nil:
			ac.rn = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait for the socket in the poller
		}
		ac.rerr = err
		return true
	}
}

// write writes b, straight to the socket while it takes it, through the
// poller for the rest.
func (ac *apiConn) write(b []byte) error {
	n, err := writeNoWait(ac.rc, b)
	if err != nil || n == len(b) {
		return err
	}
	_ = ac.c.SetWriteDeadline(time.Now().Add(closeWait))
	_, err = ac.c.Write(b[n:])
	_ = ac.c.SetWriteDeadline(time.Time{})
	return err
}

var errHeadersTooLarge = errors.New("request headers too large")

// isAPIRequest reports whether the request line in b starts with
// "POST <prefix>"; ok is false when b is too short to tell.
func (l *directListener) isAPIRequest(b []byte) (api, ok bool) {
	want := l.apiStart
	if len(b) < len(want) {
		return false, string(b) != want[:len(b)]
	}
	return string(b[:len(want)]) == want, true
}

// serveAPI serves the keep-alive connection c, head being the bytes read
// from it already, until the client closes it, sends something that
// is not an API request (handed to the HTTP server), stays idle past
// IdleTimeout, or the listener closes.
func (l *directListener) serveAPI(c *net.TCPConn, head []byte) {
	rc, err := c.SyscallConn()
	if err != nil {
		_ = c.Close()
		return
	}
	ac := &apiConn{c: c, rc: rc, limit: math.MaxInt64}
	ac.readFn = ac.readOnce
	l.api.add(ac)
	defer l.api.remove(ac)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(head), ac), readBufferSize)
	var out bytes.Buffer
	for {
		// Wait for the next request. The deadline is set before the
		// connection counts as idle, so that Close's wake-up comes after
		// it.
		if br.Buffered() == 0 {
			_ = c.SetReadDeadline(time.Now().Add(l.o.IdleTimeout))
		}
		ac.idle.Store(true)
		if l.closed() {
			_ = c.Close()
			return
		}
		if _, err := br.Peek(1); err != nil {
			_ = c.Close()
			return
		}
		ac.idle.Store(false)
		if !bytes.Contains(peekBuffered(br), []byte("\r\n\r\n")) {
			// The headers are not all here: they get HeaderTimeout.
			_ = c.SetReadDeadline(time.Now().Add(l.o.HeaderTimeout))
		}
		api, err := l.waitAPIRequest(br)
		if err != nil {
			_ = c.Close()
			return
		}
		if !api {
			_ = c.SetReadDeadline(time.Time{})
			l.handOver(c, peekBuffered(br))
			return
		}
		ac.limit = maxHeaderBytes
		req, err := http.ReadRequest(br)
		ac.limit = math.MaxInt64
		if err != nil {
			refuseRequest(c, err)
			return
		}
		// The body is read without a deadline, as by the HTTP server
		// (ReadTimeout 0); the idle one no longer applies.
		_ = c.SetReadDeadline(time.Time{})
		keep, err := l.serveAPIRequest(ac, req, &out)
		if err != nil || !keep {
			if err == nil {
				closeAfterAnswer(c)
			} else {
				_ = c.Close()
			}
			return
		}
	}
}

// waitAPIRequest reads until it can tell whether the next request is an
// API request.
func (l *directListener) waitAPIRequest(br *bufio.Reader) (bool, error) {
	for n := 1; ; n++ {
		if _, err := br.Peek(n); err != nil {
			return false, err
		}
		if api, ok := l.isAPIRequest(peekBuffered(br)); ok {
			return api, nil
		}
		n = br.Buffered()
	}
}

func peekBuffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// handOver gives c to the HTTP server with the bytes read from it that
// the server has not seen.
func (l *directListener) handOver(c net.Conn, buffered []byte) {
	pc := &prefixedConn{Conn: c, head: bytes.Clone(buffered)}
	select {
	case l.conns <- pc:
	case <-l.done:
		_ = c.Close()
	}
}

// refuseRequest answers a request that could not be read, as the HTTP
// server does, and closes c.
func refuseRequest(c net.Conn, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, errHeadersTooLarge) {
		status = http.StatusRequestHeaderFieldsTooLarge
	}
	text := strconv.Itoa(status) + " " + http.StatusText(status)
	answer(c, status, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, []byte(text))
}

// serveAPIRequest runs the handler for req and writes its answer; keep
// tells whether the connection may serve another request.
func (l *directListener) serveAPIRequest(ac *apiConn, req *http.Request, out *bytes.Buffer) (keep bool, err error) {
	req.RemoteAddr = ac.c.RemoteAddr().String()
	keep = !req.Close
	w := &apiResponse{}
	var cont *continueReader
	switch expect := req.Header.Get("Expect"); {
	case expect == "":
	case strings.EqualFold(expect, "100-continue") && req.ProtoAtLeast(1, 1):
		cont = &continueReader{r: req.Body, ac: ac}
		req.Body = cont
	default:
		w.status = http.StatusExpectationFailed
		keep = false
	}
	if w.status == 0 && !l.runHandler(w, req) {
		return false, errHandlerPanicked
	}
	switch {
	case cont != nil && !cont.sent:
		// The client still waits to send the body it announced: the
		// connection ends with the answer.
		keep = false
	case keep:
		// What the handler left of the body is read and dropped, up to a
		// bound, so that the next request starts where it should.
		if n, err := io.CopyN(io.Discard, req.Body, maxDrainBytes+1); n > maxDrainBytes || (err != nil && err != io.EOF) {
			keep = false
		}
	}
	if l.closed() {
		keep = false
	}
	out.Reset()
	w.writeTo(out, req, keep)
	return keep, ac.write(out.Bytes())
}

var errHandlerPanicked = errors.New("api handler panicked")

// runHandler calls the API handler, recovering a panic as the HTTP server
// does: logged, the connection closed without an answer.
func (l *directListener) runHandler(w *apiResponse, req *http.Request) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
			if p != http.ErrAbortHandler {
				l.h.n.Log().Error("api handler panicked", "path", req.URL.Path, "panic", fmt.Sprint(p))
			}
		}
	}()
	l.o.API.ServeHTTP(w, req)
	return true
}

// continueReader sends "100 Continue" before the first read of a body the
// client waits to send.
type continueReader struct {
	r    io.ReadCloser
	ac   *apiConn
	sent bool
}

func (r *continueReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		if err := r.ac.write([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
			return 0, err
		}
	}
	return r.r.Read(p)
}

func (r *continueReader) Close() error { return r.r.Close() }

// apiResponse is the http.ResponseWriter of an API request: the answer is
// written whole, with its length, once the handler returns.
type apiResponse struct{ bufferedResponse }

// writeTo writes the response to req: status line, headers (the length,
// a date and, when the connection ends, Connection: close added) and body.
func (w *apiResponse) writeTo(out *bytes.Buffer, req *http.Request, keep bool) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	h := w.Header()
	bodyAllowed := w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified
	if !bodyAllowed {
		w.body = nil
	}
	fmt.Fprintf(out, "HTTP/1.1 %03d %s\r\n", w.status, http.StatusText(w.status))
	if bodyAllowed {
		if h.Get("Content-Type") == "" && len(w.body) > 0 {
			h.Set("Content-Type", http.DetectContentType(w.body))
		}
		h.Set("Content-Length", strconv.Itoa(len(w.body)))
	}
	h.Del("Transfer-Encoding")
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	if keep {
		h.Del("Connection")
		if !req.ProtoAtLeast(1, 1) {
			h.Set("Connection", "keep-alive")
		}
	} else {
		h.Set("Connection", "close")
	}
	_ = h.Write(out)
	out.WriteString("\r\n")
	out.Write(w.body)
}
