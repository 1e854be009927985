package app

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/rotorhq/rotor/internal/api"
)

// mountAPI serves the HTTP server API on mux under api_handler_prefix.
func mountAPI(mux *http.ServeMux, a *App) error {
	exec, err := api.NewExecutor(a.n, api.ExecutorConfig{Logger: a.log})
	if err != nil {
		return fmt.Errorf("app: http api: %w", err)
	}
	prefix := "/" + strings.Trim(a.cfg.APIHandlerPrefix, "/")
	h := api.NewHTTPHandler(exec, api.HTTPOptions{
		Prefix:    prefix,
		Key:       a.cfg.APIKey,
		Insecure:  a.cfg.APIInsecure,
		ErrorMode: a.cfg.APIErrorMode,
		Logger:    a.log,
	})
	mux.Handle(prefix, h)
	mux.Handle(prefix+"/", h)
	if a.cfg.APIKey == "" && !a.cfg.APIInsecure {
		a.log.Warn("http api: api_key is empty and api_insecure is off, every API call will be refused")
	}
	return nil
}
