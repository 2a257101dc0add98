## bench-kernel: trialbook's kernel client vs jupyter_client's BlockingKernelClient
.PHONY: bench-kernel fuzz-kernel
BENCH_KERNEL_N ?= 1000
BENCH_KERNEL_STARTS ?= 5

bench-kernel: venv
	$(GO) run ./cmd/bench-kernel -n $(BENCH_KERNEL_N) -starts $(BENCH_KERNEL_STARTS)

## fuzz-kernel: fuzz the wire decoder for a while (the seed corpus runs in `make test`)
FUZZ_KERNEL_TIME ?= 60s
fuzz-kernel:
	$(GO) test ./kernel/ -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZ_KERNEL_TIME)
