package config

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryKey keeps docs/config.md in step with the Config struct.
func TestDocsListEveryKey(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Skipf("docs not available: %v", err)
	}
	for _, s := range []*schema{configSchema, namespaceSchema, rpcNamespaceSchema, proxySchema} {
		for _, f := range s.fields {
			if !strings.Contains(string(doc), "| `"+f.key+"` |") {
				t.Errorf("docs/config.md has no table row for %q", f.key)
			}
		}
	}
}
