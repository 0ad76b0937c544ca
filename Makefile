# Granary's build. `make test` is what CI runs (.ci/run): it prepares every
# service the tests need (scripts/testenv.sh) and runs all tests.
GO ?= go

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: test build vet lint bench fmt

build:
	$(GO) build -o bin/granary ./cmd/granary

vet:
	@test -z "$$(gofmt -l cmd internal)" || (echo "gofmt needed:"; gofmt -l cmd internal; exit 1)
	$(GO) vet ./...

lint: vet
	$(GO) run $(STATICCHECK) ./...

test: lint
	bash scripts/testenv.sh $(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
