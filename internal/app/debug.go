package app

import (
	"net/http"
	"net/http/pprof"
)

// mountPprof serves Go's profiling endpoints at /debug/pprof/ (the debug
// option) on the internal handler, next to the APIs and /health.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
