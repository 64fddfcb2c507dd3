# wpsfn — build, test, benchmark and package.
# `make test` is the command CI runs (through .ci/run); `make run` starts the
# whole application locally (emulator + functions + chat page).

GO        ?= go
TOOLS     := $(CURDIR)/.tools/bin
RIE_VER   := v0.0.0-20261030222936-bef5c4ba774d
FUZZTIME  ?= 2m
BIN       := bin
DIST      := dist
FUNCTIONS := connect message broadcast broadcast-schedule negotiate
LDFLAGS   := -s -w

export PATH := $(TOOLS):$(PATH)

.PHONY: all test test-deps vet fmt-check gotest fuzz bench bench-rest bench-go run \
        build package-lambda package-azure deploy-gcp clean

all: build

## ---- test -------------------------------------------------------------------

test: test-deps vet fmt-check gotest

# Real peers: Microsoft's npm SDKs, ws and playwright-core (test/package.json),
# and the AWS Lambda Runtime Interface Emulator (built from source into .tools).
test-deps: test/node_modules/.installed $(TOOLS)/aws-lambda-rie

test/node_modules/.installed: test/package.json test/package-lock.json
	cd test && npm ci --no-audit --no-fund
	touch $@

$(TOOLS)/aws-lambda-rie:
	GOBIN=$(TOOLS) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VER)

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './test/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# -race over everything; the conformance, end-to-end and fuzz seed corpora are
# ordinary tests and run here too.
gotest:
	$(GO) test -race -count=1 -timeout 15m ./...

# Each fuzz target for FUZZTIME (default 2m): make fuzz FUZZTIME=10m
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

## ---- benchmarks ---------------------------------------------------------------

# Side by side against the anchors named in the issues, in one run, as ratios.
bench: test-deps bench-go
	$(GO) run ./bench

bench-rest: test-deps
	$(GO) run ./bench rest

# Micro-benchmarks (ns/op, allocs/op) of the hot paths.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

## ---- run ------------------------------------------------------------------------

run:
	$(GO) run ./cmd/wpsfn dev

## ---- build and package ----------------------------------------------------------

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="$(LDFLAGS)" -o $(BIN)/ ./cmd/...

clean:
	rm -rf $(BIN) $(DIST)
