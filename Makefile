# minilab: build, start and test the lab. See README.md.
GO       ?= go
BIN      := bin/minilab
KUBECTL_DIRS := /usr/lib/google-cloud-sdk/bin

.PHONY: build up down status test test-unit bench clean generate

build:
	$(GO) build -o $(BIN) ./cmd/minilab

# Start the default lab in the background (needs root for the network parts).
up: build
	./$(BIN) up

down: build
	./$(BIN) down

status: build
	./$(BIN) status

# Every test: unit tests, the real-kubectl API tests and, as root, the
# integration tests that build labs in network namespaces.
test: build
	PATH="$$PATH:$(KUBECTL_DIRS)" $(GO) test -count=1 -timeout 15m ./...

test-unit:
	$(GO) test -count=1 -short ./...

bench:
	PATH="$$PATH:$(KUBECTL_DIRS)" $(GO) test -run '^$$' -bench . -benchtime 2s ./...

# Regenerate the OpenAPI definitions after a k8s.io/api upgrade.
generate:
	$(GO) generate ./apiserver/openapi

clean:
	rm -rf bin
