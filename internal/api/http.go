package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/rotorhq/rotor/apiproto"
)

// DefaultMaxBodySize is the request body limit of the HTTP API when
// HTTPOptions.MaxBodySize is zero.
const DefaultMaxBodySize = 10 << 20

// ErrorModeTransport is the error mode in which API errors become HTTP
// statuses (see HTTPStatus) instead of staying in the 200 reply.
const ErrorModeTransport = "transport"

// HTTPOptions configure the HTTP adapter. The zero value serves /api and
// answers 401 to everything, since there is no key and Insecure is off.
type HTTPOptions struct {
	// Prefix is the path the API is served under (api_handler_prefix): the
	// older format at Prefix itself, methods at Prefix/<method>. Zero value:
	// "/api".
	Prefix string
	// Key is the API key (api_key) callers must present: in the X-API-Key
	// header, else as "Authorization: apikey <key>", else as the api_key
	// query parameter. When Key is empty and Insecure is off, every call is
	// refused with 401.
	Key string
	// Insecure turns the key check off (api_insecure).
	Insecure bool
	// ErrorMode "transport" (api_error_mode) maps API errors of single-method
	// calls to HTTP statuses for every request; otherwise a request opts in
	// with the header "X-Centrifugo-Error-Mode: transport". Zero value:
	// errors stay in the 200 reply.
	ErrorMode string
	// MaxBodySize limits request bodies, in bytes; bigger ones get 413.
	// Zero value: DefaultMaxBodySize (10 MiB).
	MaxBodySize int64
	// Logger receives refused requests. Zero value: the executor's logger.
	Logger *slog.Logger
}

// NewHTTPHandler returns the HTTP adapter over exec (which must not be nil).
// Mount it at both Prefix and Prefix+"/" (or at "/": it checks the prefix
// itself). Every call is a POST with a JSON body:
//
//   - POST <prefix>/<method> for publish, broadcast, subscribe, unsubscribe,
//     disconnect, presence, presence_stats, history, history_remove, info,
//     rpc, refresh, channels: the body is the request (proto field names,
//     data/info as embedded JSON, b64data/b64info as base64) and the reply is
//     {"result":{…}} or {"error":{"code":…,"message":…}} with status 200, or
//     in the transport error mode the error object with a mapped status.
//   - POST <prefix>/batch: {"commands":[{"publish":{…}},…],"parallel":bool}
//     answered with {"replies":[{"publish":{…}},{"error":{…}},…]}.
//   - POST <prefix>: the older format, newline-delimited
//     {"id":…,"method":"publish"|0,"params":{…}} commands, answered with one
//     {"id":…,"error"|"result":…} line per command.
//
// Failures outside the API itself use plain HTTP statuses: 401 for a missing
// or wrong key, 404 for an unknown path, 405 for a method other than POST,
// 413 for a body over the limit and 400 for a body that is not JSON of the
// right shape.
//
// The handler is safe for concurrent use.
func NewHTTPHandler(exec *Executor, opts HTTPOptions) http.Handler {
	h := &httpHandler{
		exec:            exec,
		prefix:          "/" + strings.Trim(opts.Prefix, "/"),
		insecure:        opts.Insecure,
		hasKey:          opts.Key != "",
		keyHash:         sha256.Sum256([]byte(opts.Key)),
		transportErrors: strings.EqualFold(opts.ErrorMode, ErrorModeTransport),
		maxBody:         opts.MaxBodySize,
		log:             opts.Logger,
	}
	if opts.Prefix == "" {
		h.prefix = "/api"
	}
	if h.prefix == "/" {
		h.prefix = ""
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodySize
	}
	if h.log == nil && exec != nil {
		h.log = exec.log
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

type httpHandler struct {
	exec            *Executor
	prefix          string // "" when served at the root
	insecure        bool
	hasKey          bool
	keyHash         [sha256.Size]byte
	transportErrors bool
	maxBody         int64
	log             *slog.Logger
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, h.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		http.NotFound(w, r)
		return
	}
	name := strings.TrimPrefix(rest, "/")
	legacy := name == "" && (rest == "" || h.prefix == "")
	if !h.authorized(r) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	var spec *methodSpec
	if !legacy && name != "batch" {
		if spec = methodsByName[name]; spec == nil {
			http.NotFound(w, r)
			return
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}

	in := getBuffer()
	defer putBuffer(in)
	if !h.readBody(w, r, in) {
		return
	}
	body := in.Bytes()

	switch {
	case legacy:
		h.serveLegacy(w, r, body)
	case spec == nil:
		h.serveBatch(w, r, body)
	default:
		h.serveMethod(w, r, spec, body)
	}
}

// authorized checks the API key. Both sides are hashed before the
// constant-time comparison so that neither the key nor its length leaks
// through timing.
func (h *httpHandler) authorized(r *http.Request) bool {
	if h.insecure {
		return true
	}
	if !h.hasKey {
		return false
	}
	key := r.Header.Get("X-API-Key")
	if key == "" {
		if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "apikey") {
			key = strings.TrimSpace(rest)
		}
	}
	if key == "" && r.URL.RawQuery != "" {
		key = r.URL.Query().Get("api_key")
	}
	if key == "" {
		return false
	}
	sum := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(sum[:], h.keyHash[:]) == 1
}

// readBody reads the request body into buf, answering 413 past the limit.
func (h *httpHandler) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) bool {
	if r.ContentLength > h.maxBody {
		http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
		return false
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.maxBody)); err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
			return false
		}
		h.log.LogAttrs(r.Context(), slog.LevelInfo, "api: reading request body failed",
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		http.Error(w, "Bad Request: unreadable body", http.StatusBadRequest)
		return false
	}
	return true
}

// malformed answers 400 to a body that is not JSON of the expected shape.
func (h *httpHandler) malformed(w http.ResponseWriter, r *http.Request, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "api: malformed request body",
		slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	http.Error(w, "Bad Request: malformed JSON", http.StatusBadRequest)
}

func (h *httpHandler) transportMode(r *http.Request) bool {
	return h.transportErrors || strings.EqualFold(r.Header.Get("X-Centrifugo-Error-Mode"), ErrorModeTransport)
}

func (h *httpHandler) serveMethod(w http.ResponseWriter, r *http.Request, spec *methodSpec, body []byte) {
	cmd := &apiproto.Command{}
	if err := spec.decode(body, cmd); err != nil {
		h.malformed(w, r, err)
		return
	}
	rep := h.exec.command(r.Context(), cmd)
	out := getSlice()
	defer putSlice(out)
	if rep.Error != nil && h.transportMode(r) {
		*out = appendError((*out)[:0], rep.Error)
		writeJSON(w, HTTPStatus(rep.Error), *out)
		return
	}
	*out = appendResponse((*out)[:0], rep)
	writeJSON(w, http.StatusOK, *out)
}

func (h *httpHandler) serveBatch(w http.ResponseWriter, r *http.Request, body []byte) {
	var req jsonBatchRequest
	if err := unmarshalParams(body, &req); err != nil {
		h.malformed(w, r, err)
		return
	}
	resp := h.exec.Batch(r.Context(), req.proto())
	out := getSlice()
	defer putSlice(out)
	*out = appendBatchResponse((*out)[:0], resp)
	writeJSON(w, http.StatusOK, *out)
}

// serveLegacy serves the older format. All lines are decoded before any
// command runs, so a malformed body (400) has no side effects; commands then
// run in order.
func (h *httpHandler) serveLegacy(w http.ResponseWriter, r *http.Request, body []byte) {
	var cmds []jsonLegacyCommand
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		var c jsonLegacyCommand
		if err := dec.Decode(&c); err == io.EOF {
			break
		} else if err != nil {
			h.malformed(w, r, err)
			return
		}
		cmds = append(cmds, c)
	}
	if len(cmds) == 0 {
		h.malformed(w, r, errors.New("no commands"))
		return
	}
	out := getSlice()
	defer putSlice(out)
	b := (*out)[:0]
	for i := range cmds {
		if i > 0 {
			b = append(b, '\n')
		}
		b = appendLegacyReply(b, h.legacyCommand(r.Context(), &cmds[i]))
	}
	*out = b
	writeJSON(w, http.StatusOK, b)
}

func (h *httpHandler) legacyCommand(ctx context.Context, c *jsonLegacyCommand) *apiproto.Reply {
	typ := apiproto.Command_MethodType(c.Method)
	cmd, err := commandFromParams(typ, c.Params)
	if err != nil {
		return &apiproto.Reply{Id: c.ID, Error: h.exec.paramsError(ctx, typ, err)}
	}
	cmd.Id = c.ID
	return h.exec.command(ctx, cmd)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Request and reply buffers are pooled; buffers grown past maxPooledBuffer
// (by a rare large body) are left to the garbage collector instead.
const maxPooledBuffer = 64 << 10

var (
	bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	slicePool  = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
)

func getSlice() *[]byte { return slicePool.Get().(*[]byte) }

func putSlice(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		*b = (*b)[:0]
		slicePool.Put(b)
	}
}

func getBuffer() *bytes.Buffer {
	b := bufferPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		bufferPool.Put(b)
	}
}
