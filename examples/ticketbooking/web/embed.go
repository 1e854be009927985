// Package web holds the demo's page: static/index.html, its stylesheet, and
// static/app.js, the bundle esbuild makes of src/ and the centrifuge npm
// package (npm run build).
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static returns the page's files, index.html at the root.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
