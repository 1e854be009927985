package websocket

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Frame layout (RFC 6455, section 5.2): byte 0 holds FIN, RSV1-3 and the
// opcode; byte 1 the MASK bit and a 7-bit length, where 126 and 127 mean
// that a 16-bit or a 64-bit big-endian length follows; then the 4-byte
// masking key when MASK is set, then the payload.
const (
	bitFin  = 0x80
	bitsRsv = 0x70
	bitMask = 0x80

	// maxHeaderSize is the largest frame header: 2 bytes, a 64-bit length
	// and a masking key.
	maxHeaderSize = 14
	// maxServerHeaderSize is the largest header of an unmasked frame.
	maxServerHeaderSize = 10
	// maxControlPayload is the largest payload of a control frame.
	maxControlPayload = 125
)

// frameHeader is one parsed frame header.
type frameHeader struct {
	fin    bool
	rsv    byte
	op     ws.OpCode
	masked bool
	// len7 is the 7-bit length field of byte 1.
	len7 byte
	mask [4]byte
	// length is the payload length; it is -1 when the peer declared a
	// 64-bit length with the most significant bit set.
	length int64
	// size is the number of header bytes.
	size int
}

// parseStart parses the first two bytes of a frame header; p must hold
// them.
func parseStart(p []byte) frameHeader {
	return frameHeader{
		fin:    p[0]&bitFin != 0,
		rsv:    p[0] & bitsRsv,
		op:     ws.OpCode(p[0] & 0x0f),
		masked: p[1]&bitMask != 0,
		len7:   p[1] &^ bitMask,
	}
}

// parseRest completes h, parsed by parseStart from the same p, with the
// payload length, the masking key and the header size. It reports false
// when p does not hold the whole header yet.
func parseRest(p []byte, h *frameHeader) bool {
	h.size = 2
	n := int64(h.len7)
	switch n {
	case 126:
		if len(p) < 4 {
			return false
		}
		n = int64(binary.BigEndian.Uint16(p[2:4]))
		h.size = 4
	case 127:
		if len(p) < 10 {
			return false
		}
		u := binary.BigEndian.Uint64(p[2:10])
		if u > math.MaxInt64 {
			n = -1
		} else {
			n = int64(u)
		}
		h.size = 10
	}
	h.length = n
	if h.masked {
		if len(p) < h.size+4 {
			return false
		}
		copy(h.mask[:], p[h.size:h.size+4])
		h.size += 4
	}
	return true
}

// headerProblems lists what is wrong in the first two bytes of a client
// frame (as parsed by parseStart), in the words gorilla/websocket uses in its close frames, joined
// with ", "; fragmented tells whether a fragmented message is open.
func headerProblems(h *frameHeader, fragmented bool) string {
	var errs []string
	if h.rsv&0x40 != 0 {
		errs = append(errs, "RSV1 set")
	}
	if h.rsv&0x20 != 0 {
		errs = append(errs, "RSV2 set")
	}
	if h.rsv&0x10 != 0 {
		errs = append(errs, "RSV3 set")
	}
	switch h.op {
	case ws.OpClose, ws.OpPing, ws.OpPong:
		if h.len7 > maxControlPayload {
			errs = append(errs, "len > 125 for control")
		}
		if !h.fin {
			errs = append(errs, "FIN not set on control")
		}
	case ws.OpText, ws.OpBinary:
		if fragmented {
			errs = append(errs, "data before FIN")
		}
	case ws.OpContinuation:
		if !fragmented {
			errs = append(errs, "continuation after FIN")
		}
	default:
		errs = append(errs, "bad opcode "+strconv.Itoa(int(h.op)))
	}
	if !h.masked {
		errs = append(errs, "bad MASK")
	}
	return strings.Join(errs, ", ")
}

// putServerHeader writes the header of an unmasked final frame with
// opcode op and a payload of n bytes into b and returns its size.
func putServerHeader(b *[maxServerHeaderSize]byte, op ws.OpCode, n int) int {
	b[0] = bitFin | byte(op)
	switch {
	case n < 126:
		b[1] = byte(n)
		return 2
	case n <= math.MaxUint16:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:4], uint16(n))
		return 4
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:10], uint64(n))
		return 10
	}
}

// Close codes (RFC 6455, section 7.4.1) used here.
const (
	closeProtocolError = 1002
	closeNoStatus      = 1005
	closeMessageTooBig = 1009
)

// validCloseCode reports whether a peer may send code in a close frame;
// the list is the one gorilla/websocket accepts.
func validCloseCode(code int) bool {
	switch code {
	case 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013:
		return true
	}
	return code >= 3000 && code <= 4999
}

// appendClosePayload appends the payload of a close frame: the code and
// the reason, or nothing for 1005 (which must not be sent).
func appendClosePayload(b []byte, code int, reason string) []byte {
	if code == closeNoStatus {
		return b
	}
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...)
}

// parseClosePayload returns the code and reason of a close frame payload:
// 1005 and "" when it holds no code. problem is not empty when the code or
// the reason is invalid, and says why.
func parseClosePayload(p []byte) (code int, reason string, problem string) {
	if len(p) < 2 {
		return closeNoStatus, "", ""
	}
	code = int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return code, "", "bad close code " + strconv.Itoa(code)
	}
	if !utf8.Valid(p[2:]) {
		return code, "", "invalid utf8 payload in close frame"
	}
	return code, string(p[2:]), ""
}

// handshakeProblem checks an upgrade request the way gorilla/websocket
// does before it takes the connection over, and returns the HTTP status and
// message gorilla answers with; status is 0 when the request is fine.
func handshakeProblem(r *http.Request) (status int, msg string) {
	const badHandshake = "websocket: the client is not using the websocket protocol: "
	switch {
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return http.StatusBadRequest, badHandshake + "'upgrade' token not found in 'Connection' header"
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return http.StatusBadRequest, badHandshake + "'websocket' token not found in 'Upgrade' header"
	case r.Method != http.MethodGet:
		return http.StatusMethodNotAllowed, badHandshake + "request method is not GET"
	case !headerHasToken(r.Header, "Sec-Websocket-Version", "13"):
		return http.StatusBadRequest, "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header"
	case !validChallengeKey(r.Header.Get("Sec-Websocket-Key")):
		return http.StatusBadRequest, "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length"
	}
	return 0, ""
}

// headerHasToken reports whether a comma-separated list in one of the
// values of header key holds token (case-insensitively).
func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(f, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// validChallengeKey reports whether key is the base64 form of 16 bytes.
func validChallengeKey(key string) bool {
	if key == "" {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16
}
