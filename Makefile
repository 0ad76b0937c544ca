# Granary's build. `make test` is what CI runs (.ci/run): it prepares every
# service the tests need (scripts/testenv.sh) and runs all tests.
GO ?= go

.PHONY: test build vet bench fmt

build:
	$(GO) build -o bin/granary ./cmd/granary

vet:
	@test -z "$$(gofmt -l cmd internal)" || (echo "gofmt needed:"; gofmt -l cmd internal; exit 1)
	$(GO) vet ./...

test: vet
	bash scripts/testenv.sh $(GO) test -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
