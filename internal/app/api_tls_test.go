package app

import (
	"testing"

	"github.com/rotorhq/rotor/internal/config"
)

// The gRPC API uses the certificate files only when grpc_api_tls is on.
func TestGRPCTLSFollowsTheKey(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.GRPCAPITLSCert, cfg.GRPCAPITLSKey = "cert.pem", "key.pem"
	if cert, key := grpcTLSFiles(&cfg); cert != "" || key != "" {
		t.Fatalf("grpc_api_tls off: files %q %q, want none", cert, key)
	}
	cfg.GRPCAPITLS = true
	if cert, key := grpcTLSFiles(&cfg); cert != "cert.pem" || key != "key.pem" {
		t.Fatalf("grpc_api_tls on: files %q %q, want cert.pem key.pem", cert, key)
	}
}
