## bench-runner: trialbook vs nbclient vs papermill on notebooks, and warm vs cold kernel start
.PHONY: bench-runner
bench-runner: venv build
	$(GO) run ./cmd/bench-runner $(BENCH_RUNNER_FLAGS)
