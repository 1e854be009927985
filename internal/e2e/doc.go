// Package e2e holds the end-to-end acceptance tests of the core server: real
// client SDKs (centrifuge-go in-process, centrifuge-js under Node) against a
// server started with testutil.RunServer, over JSON and Protobuf.
//
// The JavaScript side lives in tests/js; its dependencies are installed by
// `make deps`. The tests fail (never skip) when Node or those dependencies
// are missing.
package e2e
