# Every target calls a script in scripts/ (or go directly); see each script's
# header for what it does.

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/rotorhq/rotor/internal/node.Version=$(VERSION)
DEV_CONFIG ?= dev/config.json

.PHONY: all build run serve test lint fmt bench proto deps clean help

all: build

## build: compile bin/rotor
build:
	go build -ldflags "$(LDFLAGS)" -o bin/rotor ./cmd/rotor

## run: build and start Rotor (dev/ticketbooking.json) with the ticket-booking demo; prints the URL to open, Ctrl-C stops both
run:
	VERSION=$(VERSION) scripts/run.sh

## serve: build and start Rotor alone with dev/config.json
serve: build
	./bin/rotor serve -c $(DEV_CONFIG)

## test: install test dependencies, then gofmt, vet and every test
test:
	scripts/test.sh

## lint: gofmt, go vet, grep rules, golangci-lint when installed
lint:
	scripts/lint.sh

## fmt: gofmt every Go file
fmt:
	scripts/fmt.sh

## bench: run the benchmarks
bench:
	scripts/bench.sh

## proto: regenerate apiproto and proxyproto from their .proto files
proto:
	scripts/proto.sh

## deps: install what the tests need (Node.js, npm packages of tests/js, ...)
deps:
	scripts/deps.sh

## clean: remove build output
clean:
	rm -rf bin

## help: list the targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)
