## Issue 5: the experiment loop and the built-in strategist.
.PHONY: lab-acceptance bench-search

LAB_DATA ?= ../shared/data/house-prices/train.csv
LAB_ACCEPT_DIR := .cache/lab-acceptance
BENCH_VENV := .cache/bench-venv
BENCH_BUDGET ?= 300

## lab-acceptance: 20 built-in trials on House Prices; notebooks validated
## and every score recomputed with scikit-learn from the saved predictions.
lab-acceptance: venv build
	@test -f $(LAB_DATA) || { echo "lab-acceptance: $(LAB_DATA) is missing (shared data beside the repo); skipped"; exit 0; }
	rm -rf $(LAB_ACCEPT_DIR) && mkdir -p $(LAB_ACCEPT_DIR)
	printf "local tb = import 'trialbook.libsonnet';\ntb.regression {\n  name: 'house-prices',\n  data: '%s',\n  target: 'SalePrice',\n  metric: 'rmse',\n  validation: tb.kfold(5),\n  holdout: 0.2,\n  trials: 20,\n  features: tb.features(ids=['Id']),\n  featureResearch: true,\n}\n" "$(abspath $(LAB_DATA))" > $(LAB_ACCEPT_DIR)/problem.jsonnet
	$(BIN) run $(LAB_ACCEPT_DIR) --trials 20
	$(VPY) scripts/lab_acceptance.py $(LAB_ACCEPT_DIR) 20

$(BENCH_VENV)/.installed:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet "flaml[automl]==2.7.0" "mljar-supervised==1.3.2"
	touch $@

## bench-search: trialbook vs FLAML and mljar-supervised on House Prices at
## the same wall-clock budget (BENCH_BUDGET seconds each), all scored on the
## same sealed holdout by trialbook's metric code.
bench-search: venv build $(BENCH_VENV)/.installed
	@test -f $(LAB_DATA) || { echo "bench-search: $(LAB_DATA) is missing"; exit 1; }
	$(BENCH_VENV)/bin/python scripts/bench_search.py --data $(LAB_DATA) --target SalePrice --id Id --budget $(BENCH_BUDGET) --out .cache/bench-search --trialbook $(BIN)
	$(GO) run ./cmd/bench-search .cache/bench-search/trialbook .cache/bench-search/results.json
