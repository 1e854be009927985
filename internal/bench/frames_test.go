package bench

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// serverFrame encodes an unmasked frame as a server sends it.
func serverFrame(t *testing.T, fin bool, op ws.OpCode, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.NewFrame(op, fin, p)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// feedConn returns a conn whose messages are collected in *got and whose
// writes go to the returned peer.
func feedConn(t *testing.T) (*conn, *[]string, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	got := new([]string)
	c := &conn{nc: a}
	c.onMessage = func(msg []byte) error {
		*got = append(*got, string(msg))
		return nil
	}
	return c, got, b
}

func TestFeedSplitsAndJoinsFrames(t *testing.T) {
	c, got, _ := feedConn(t)
	long := strings.Repeat("x", 70000) // a 64-bit length
	mid := strings.Repeat("y", 300)    // a 16-bit length
	var stream []byte
	stream = append(stream, serverFrame(t, true, ws.OpText, []byte("one"))...)
	stream = append(stream, serverFrame(t, true, ws.OpBinary, []byte(mid))...)
	stream = append(stream, serverFrame(t, false, ws.OpText, []byte("fr"))...)
	stream = append(stream, serverFrame(t, false, ws.OpContinuation, []byte("ag"))...)
	stream = append(stream, serverFrame(t, true, ws.OpContinuation, []byte("ment"))...)
	stream = append(stream, serverFrame(t, true, ws.OpText, []byte(long))...)
	want := []string{"one", mid, "fragment", long}

	// Whatever the read sizes, the same messages come out, and nothing is
	// left over at the end.
	for _, step := range []int{1, 2, 3, 7, 100, 4096, len(stream)} {
		*got = nil
		for i := 0; i < len(stream); i += step {
			if err := c.feed(stream[i:min(i+step, len(stream))]); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		if len(*got) != len(want) {
			t.Fatalf("step %d: %d messages, want %d", step, len(*got), len(want))
		}
		for i := range want {
			if (*got)[i] != want[i] {
				t.Fatalf("step %d: message %d is %.20q (%d bytes), want %.20q (%d bytes)",
					step, i, (*got)[i], len((*got)[i]), want[i], len(want[i]))
			}
		}
		if len(c.in) != 0 || c.frag != nil {
			t.Fatalf("step %d: %d bytes left, fragment %q", step, len(c.in), c.frag)
		}
	}
}

func TestFeedCloseAndProtocolErrors(t *testing.T) {
	c, _, _ := feedConn(t)
	err := c.feed(serverFrame(t, true, ws.OpClose, ws.NewCloseFrameBody(3500, "invalid token")))
	var ce *closeError
	if !errors.As(err, &ce) || ce.code != 3500 || ce.reason != "invalid token" {
		t.Fatalf("close frame: err = %v", err)
	}

	masked := ws.MaskFrame(ws.NewTextFrame([]byte("hi")))
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, masked); err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"masked":       b.Bytes(),
		"reserved":     {0x80 | 0x40 | byte(ws.OpText), 0},
		"opcode":       {0x80 | 0x3, 0},
		"continuation": serverFrame(t, true, ws.OpContinuation, []byte("x")),
		"oversized":    {0x80 | byte(ws.OpBinary), 127, 0, 0, 0, 0, 0x10, 0, 0, 0},
	}
	for name, frame := range bad {
		c, _, _ := feedConn(t)
		if err := c.feed(frame); err == nil {
			t.Errorf("%s frame: no error", name)
		}
	}
}

func TestFeedAnswersPings(t *testing.T) {
	c, got, peer := feedConn(t)
	done := make(chan error, 1)
	go func() {
		done <- c.feed(serverFrame(t, true, ws.OpPing, []byte("are you there")))
	}()
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ws.ReadFrame(peer)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !f.Header.Masked || f.Header.OpCode != ws.OpPong {
		t.Fatalf("answer: %+v", f.Header)
	}
	ws.Cipher(f.Payload, f.Header.Mask, 0)
	if string(f.Payload) != "are you there" || len(*got) != 0 {
		t.Fatalf("pong payload %q, messages %q", f.Payload, *got)
	}
}
