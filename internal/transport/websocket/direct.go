package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rotorhq/rotor/internal/warm"
)

// DirectOptions configure a DirectListener.
type DirectOptions struct {
	// Path is the WebSocket endpoint whose handshakes are served without
	// the HTTP server. Empty: none.
	Path string
	// HeaderTimeout bounds how long a connection may take to send a
	// request line and headers.
	HeaderTimeout time.Duration
	// API, when set, serves the requests "POST <APIPrefix>…" of keep-alive
	// connections without the HTTP server (Linux; elsewhere they go to
	// the HTTP server). It must neither hijack the connection nor stream
	// its answer: the answer is written whole once it returns.
	API       http.Handler
	APIPrefix string
	// IdleTimeout closes an API connection that waits this long for its
	// next request.
	IdleTimeout time.Duration
}

// DirectListener returns a listener for an HTTP server that also serves
// the WebSocket handshakes of o.Path and the server API requests of
// o.APIPrefix itself. Handshakes are read from the accepted connections
// here and served by h: the HTTP server would start a goroutine with a
// 4 KiB reader and writer per connection and allocate another writer when
// the connection is taken over. API connections are served as described
// in direct_api.go. The other connections are handed to the HTTP server
// by Accept, their first bytes intact.
//
// Only the epoll engine is served this way; with the gorilla engine ln is
// returned as it is.
func (h *Handler) DirectListener(ln net.Listener, o DirectOptions) net.Listener {
	if h.name != EngineEpoll {
		return ln
	}
	if !directAPI || o.APIPrefix == "" {
		o.API = nil
	}
	l := &directListener{
		Listener: ln,
		h:        h,
		o:        o,
		conns:    make(chan net.Conn),
		done:     make(chan struct{}),
	}
	if o.Path != "" {
		l.prefix = "GET " + o.Path
	}
	if o.API != nil {
		l.apiStart = "POST " + o.APIPrefix
	}
	// Routers are kept warm: a burst of handshakes would otherwise start
	// a goroutine, and grow its stack, for each.
	l.routers = warm.New(maxParkedRouters, l.route)
	go l.run()
	return l
}

type directListener struct {
	net.Listener
	h      *Handler
	o      DirectOptions
	prefix string // "GET <path>"; empty when no handshakes are served
	// apiStart starts the request line of an API request: "POST <prefix>".
	apiStart string
	// api holds the API connections being served.
	api apiConns
	// conns passes the connections that are not handshakes to Accept.
	conns chan net.Conn
	done  chan struct{}
	// routers run route for each accepted connection.
	routers *warm.Pool[net.Conn]

	closeOnce sync.Once
	errMu     sync.Mutex
	err       error
}

// Accept returns the next connection that is not a handshake for the path.
func (l *directListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.errMu.Lock()
		defer l.errMu.Unlock()
		return nil, l.err
	}
}

// Close stops accepting; connections being routed are closed.
func (l *directListener) Close() error {
	err := l.Listener.Close()
	l.stop(net.ErrClosed)
	return err
}

func (l *directListener) stop(err error) {
	l.closeOnce.Do(func() {
		l.errMu.Lock()
		l.err = err
		l.errMu.Unlock()
		close(l.done)
		l.routers.Close()
		l.api.wakeIdle()
	})
}

func (l *directListener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// run accepts connections and routes each on a router goroutine. Like
// the HTTP server, it waits a little after an error that is not the
// listener's end (out of descriptors, say) rather than give up.
func (l *directListener) run() {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.stop(err)
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.h.n.Log().Error("websocket: accept failed; retrying", "error", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-l.done:
				return
			}
		}
		backoff = 0
		l.routers.Go(c)
	}
}

// maxParkedRouters bounds the routers kept waiting for connections.
const maxParkedRouters = 64

// maxHeaderBytes bounds a handshake's request line and headers, as the
// HTTP server's default (http.DefaultMaxHeaderBytes) does.
const maxHeaderBytes = http.DefaultMaxHeaderBytes

var directReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}
var directWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 512) }}

// route reads the start of c's first request: a handshake for the path is
// served here, an API request starts the connection's API loop
// (serveAPI), anything else goes to the HTTP server.
func (l *directListener) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(l.o.HeaderTimeout))
	// The request line and headers are bounded as by the HTTP server;
	// after the handshake the connection is read directly, not through br.
	lr := &io.LimitedReader{R: c, N: maxHeaderBytes}
	br := directReaders.Get().(*bufio.Reader)
	br.Reset(lr)
	defer func() {
		br.Reset(nil)
		directReaders.Put(br)
	}()
	ours, err := l.isHandshake(br)
	if err != nil {
		_ = c.Close()
		return
	}
	if !ours {
		tc, ok := c.(*net.TCPConn)
		if ok && l.o.API != nil {
			api, err := l.waitAPIRequest(br)
			if err != nil {
				_ = c.Close()
				return
			}
			if api {
				l.serveAPI(tc, bytes.Clone(peekBuffered(br)))
				return
			}
		}
		_ = c.SetReadDeadline(time.Time{})
		l.handOver(c, peekBuffered(br))
		return
	}
	req, err := http.ReadRequest(br)
	if err != nil {
		status := http.StatusBadRequest
		if lr.N == 0 {
			status = http.StatusRequestHeaderFieldsTooLarge
		}
		text := strconv.Itoa(status) + " " + http.StatusText(status)
		answer(c, status, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, []byte(text))
		return
	}
	req.RemoteAddr = c.RemoteAddr().String()
	w := &directResponse{c: c, br: br}
	l.h.ServeHTTP(w, req)
	w.finish()
}

// isHandshake reads until it can tell whether the request line starts
// with "GET <path>" followed by a space or a query.
func (l *directListener) isHandshake(br *bufio.Reader) (bool, error) {
	if l.prefix == "" {
		return false, nil
	}
	want := len(l.prefix) + 1
	for n := 1; ; {
		if _, err := br.Peek(n); err != nil {
			return false, err
		}
		// Judge all that has arrived; wait for more only when needed.
		b, _ := br.Peek(br.Buffered())
		if len(b) >= want {
			next := b[len(l.prefix)]
			return string(b[:len(l.prefix)]) == l.prefix && (next == ' ' || next == '?'), nil
		}
		if string(b) != l.prefix[:len(b)] {
			return false, nil
		}
		n = len(b) + 1
	}
}

// prefixedConn is a connection whose first bytes were read already.
type prefixedConn struct {
	net.Conn
	head []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// directResponse is the http.ResponseWriter of a handshake served from a
// DirectListener: it takes the connection over (Hijack) or keeps a refusal
// to write, with Connection: close, in finish.
type directResponse struct {
	bufferedResponse
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	hijacked bool
}

// bufferedResponse keeps what a handler answers, to be written whole
// once it returns.
type bufferedResponse struct {
	header http.Header
	status int
	body   []byte
}

func (w *bufferedResponse) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header, 2)
	}
	return w.header
}

func (w *bufferedResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferedResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}

// Hijack hands the connection over with the reader that holds what the
// client sent behind its headers; the reader and writer go back to their
// pools in finish, once the handshake is served.
func (w *directResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	_ = w.c.SetDeadline(time.Time{})
	w.bw = directWriters.Get().(*bufio.Writer)
	w.bw.Reset(w.c)
	return w.c, bufio.NewReadWriter(w.br, w.bw), nil
}

// finish writes a refusal and closes the connection, or, after a Hijack,
// returns the writer to its pool.
func (w *directResponse) finish() {
	if w.hijacked {
		w.bw.Reset(nil)
		directWriters.Put(w.bw)
		return
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	answer(w.c, w.status, w.header, w.body)
}

// answer writes a response with Connection: close and closes c.
func answer(c net.Conn, status int, header http.Header, body []byte) {
	resp := &http.Response{
		StatusCode:    status,
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Close:         true,
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	_ = c.SetWriteDeadline(time.Now().Add(closeWait))
	_ = resp.Write(c)
	closeAfterAnswer(c)
}

// closeAfterAnswer closes c once the client had time to read the answer
// just written: closing with unread bytes from the client pending would
// reset the connection, and the client could lose the answer. As the HTTP
// server does, it shuts the sending side, then reads and drops what comes
// for a moment before closing.
func closeAfterAnswer(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
		_ = tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.Copy(io.Discard, io.LimitReader(tc, 256<<10))
	}
	_ = c.Close()
}
