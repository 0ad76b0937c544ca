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

# The packages with concurrent code (the HTTP API, the scheduling loop and its
# SIGKILL test, the stores, the job service, the ledger) run under the race
# detector; the rest without it (-race makes them 2-40x slower; the simulated
# demo day of control/workload took 500 s under it).
RACE_PKGS = ./internal/api/... ./internal/control ./internal/jobs/... ./internal/store/... ./internal/inventory/...

test: lint
	bash scripts/testenv.sh bash -c 'set -e; race="$$($(GO) list $(RACE_PKGS))"; \
		$(GO) test -count=1 $$($(GO) list ./... | grep -vxF "$$race"); \
		$(GO) test -race -count=1 $$race'

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
