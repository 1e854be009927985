package node

import (
	"encoding/binary"
	"sync"

	"github.com/centrifugal/protocol"
)

// maxBatch is how many queued messages one frame carries at most.
const maxBatch = 64

// writer is a client's outgoing queue. enqueue never blocks: it appends to a
// slice bounded in bytes and, when no flush is running, starts one. An idle
// connection therefore holds no writer goroutine. Frames are written with no
// lock held.
type writer struct {
	mu       sync.Mutex
	queue    [][]byte
	size     int
	maxSize  int
	flushing bool
	closed   bool

	proto protocol.Type
	write func(frame []byte) error
	// onError is called (once, from the flush goroutine) when a write fails.
	onError func(err error)
	frame   []byte
}

func newWriter(proto protocol.Type, maxSize int, write func([]byte) error, onError func(error)) *writer {
	return &writer{proto: proto, maxSize: maxSize, write: write, onError: onError}
}

// enqueue queues an encoded reply. It reports false when the queue would
// exceed its byte bound (the caller disconnects the client as slow) or the
// writer is closed.
func (w *writer) enqueue(msg []byte) bool {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return false
	}
	if w.size+len(msg) > w.maxSize {
		w.mu.Unlock()
		return false
	}
	w.queue = append(w.queue, msg)
	w.size += len(msg)
	start := !w.flushing
	w.flushing = true
	w.mu.Unlock()
	if start {
		go w.flush()
	}
	return true
}

func (w *writer) flush() {
	var batch [][]byte
	for {
		w.mu.Lock()
		if w.closed || len(w.queue) == 0 {
			w.flushing = false
			w.queue = w.queue[:0:0]
			w.mu.Unlock()
			return
		}
		n := len(w.queue)
		if n > maxBatch {
			n = maxBatch
		}
		batch = append(batch[:0], w.queue[:n]...)
		rest := copy(w.queue, w.queue[n:])
		for i := rest; i < len(w.queue); i++ {
			w.queue[i] = nil
		}
		w.queue = w.queue[:rest]
		for _, m := range batch {
			w.size -= len(m)
		}
		w.mu.Unlock()

		w.frame = appendFrame(w.frame[:0], w.proto, batch)
		err := w.write(w.frame)
		if cap(w.frame) > 64<<10 {
			w.frame = nil
		}
		clear(batch)
		if err != nil {
			w.mu.Lock()
			w.closed = true
			w.flushing = false
			w.queue = nil
			w.mu.Unlock()
			w.onError(err)
			return
		}
	}
}

// close drops what is queued and refuses further messages.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.queue = nil
	w.size = 0
	w.mu.Unlock()
}

// appendFrame joins encoded replies into one transport frame: JSON replies
// separated by newlines, Protobuf replies each prefixed by its varint length.
func appendFrame(dst []byte, proto protocol.Type, msgs [][]byte) []byte {
	if proto == protocol.TypeProtobuf {
		for _, m := range msgs {
			dst = binary.AppendUvarint(dst, uint64(len(m)))
			dst = append(dst, m...)
		}
		return dst
	}
	for i, m := range msgs {
		if i > 0 {
			dst = append(dst, '\n')
		}
		dst = append(dst, m...)
	}
	return dst
}
