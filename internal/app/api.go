package app

import "net/http"

// mountAPI serves the HTTP server API on mux.
func mountAPI(mux *http.ServeMux, a *App) {}
