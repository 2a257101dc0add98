## bench-bridge: `trialbook serve` over N experiments × M events with K clients and
## W websockets, against the old read-and-fold-per-request path (docs/architecture.md)
.PHONY: bench-bridge
BENCH_BRIDGE_FLAGS ?= -n 1000 -m 10000 -clients 8 -subs 50
bench-bridge: build
	$(GO) run ./cmd/bench-bridge $(BENCH_BRIDGE_FLAGS)
