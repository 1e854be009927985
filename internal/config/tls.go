package config

import (
	"crypto/tls"
	"fmt"
	"os"
)

// LoadKeyPair reads a PEM certificate (chain) and its private key for a
// server. Errors name the config keys the files came from (certKey,
// keyKey), so that an operator knows which setting to fix.
func LoadKeyPair(certKey, certFile, keyKey, keyFile string) (tls.Certificate, error) {
	switch {
	case certFile == "":
		return tls.Certificate{}, fmt.Errorf("%s is set but %s is empty: set both or neither", keyKey, certKey)
	case keyFile == "":
		return tls.Certificate{}, fmt.Errorf("%s is set but %s is empty: set both or neither", certKey, keyKey)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", certKey, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", keyKey, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s %q and %s %q: %w", certKey, certFile, keyKey, keyFile, err)
	}
	return cert, nil
}
