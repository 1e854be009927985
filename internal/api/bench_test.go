package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/rotorhq/rotor/apiproto"
	"github.com/rotorhq/rotor/internal/node"
)

// discardWriter is a minimal http.ResponseWriter so that the benchmark
// measures the API, not the recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// nopNode answers publish at once without recording it.
type nopNode struct{ *fakeNode }

func (*nopNode) Publish(_ context.Context, _ string, _ []byte, _ node.PublishOptions) (node.PublishResult, error) {
	return node.PublishResult{Offset: 42, Epoch: "abcd"}, nil
}

func benchmarkHTTP(b *testing.B, path string, body []byte) {
	exec, err := NewExecutor(&nopNode{&fakeNode{}}, ExecutorConfig{})
	if err != nil {
		b.Fatal(err)
	}
	h := NewHTTPHandler(exec, HTTPOptions{Key: testKey})
	req, err := http.NewRequest(http.MethodPost, path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("X-API-Key", testKey)
	rd := bytes.NewReader(body)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		req.ContentLength = int64(len(body))
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

func BenchmarkHTTPPublish(b *testing.B) {
	benchmarkHTTP(b, "/api/publish",
		[]byte(`{"channel":"chat:index","data":{"text":"hello, world","user":"42","n":[1,2,3]},"tags":{"kind":"msg"}}`))
}

func BenchmarkHTTPPublishLegacy(b *testing.B) {
	benchmarkHTTP(b, "/api",
		[]byte(`{"method":"publish","params":{"channel":"chat:index","data":{"text":"hello, world","user":"42"}}}`))
}

func BenchmarkExecutorPublish(b *testing.B) {
	exec, err := NewExecutor(&nopNode{&fakeNode{}}, ExecutorConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	req := &apiproto.PublishRequest{Channel: "chat:index", Data: []byte(`{"text":"hello"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if r := exec.Publish(ctx, req); r.Error != nil {
			b.Fatal(r.Error)
		}
	}
}
