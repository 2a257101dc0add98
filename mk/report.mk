## Issue 7: the report, the ensemble and predict.
.PHONY: report-acceptance

REPORT_DATA ?= ../shared/data/house-prices/train.csv
REPORT_DIR := .cache/report-acceptance
REPORT_TRIALS ?= 12

## report-acceptance: a House Prices experiment, then `trialbook report`
## (nbformat-validated, re-executed by nbclient from the experiment folder,
## with its holdout evaluation of the model predict applies),
## `trialbook status` showing the ensemble's holdout score, and
## `trialbook predict` on train.csv without its target (one prediction per
## row; a missing and an extra column must fail with a clear error).
report-acceptance: venv build
	@test -f $(REPORT_DATA) || { echo "report-acceptance: $(REPORT_DATA) is missing (shared data beside the repo); skipped"; exit 0; }
	rm -rf $(REPORT_DIR) && mkdir -p $(REPORT_DIR)
	sed "s|data: '[^']*'|data: '$(abspath $(REPORT_DATA))'|" examples/house-prices/problem.jsonnet > $(REPORT_DIR)/problem.jsonnet
	$(BIN) run $(REPORT_DIR) --trials $(REPORT_TRIALS)
	$(BIN) report $(REPORT_DIR)
	grep -q 'How the final model does on the sealed holdout' $(REPORT_DIR)/report.ipynb
	$(VPY) -c 'import json, sys; h = json.load(open(sys.argv[1]))["holdout"]; assert not h.get("disabled") and h["models"], h.get("disabled"); m = h["models"][0]; print("holdout:", m["name"], {r["name"]: r["value"] for r in m["metrics"]})' $(REPORT_DIR)/report.json
	$(BIN) status $(REPORT_DIR) | tee $(REPORT_DIR)/status.txt
	grep -q '^ensemble: CV rmse .*holdout [0-9]' $(REPORT_DIR)/status.txt
	$(VPY) -c 'import sys, nbformat; from nbclient import NotebookClient; d = sys.argv[1]; nb = nbformat.read(d + "/report.ipynb", as_version=4); nbformat.validate(nb); NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": d}}).execute(); nbformat.validate(nb); print("report.ipynb: valid, re-executed by nbclient")' $(REPORT_DIR)
	$(VPY) -c 'import sys, pandas as pd; d = pd.read_csv(sys.argv[1]); d.drop(columns=["SalePrice"]).to_csv(sys.argv[2] + "/new.csv", index=False); d.drop(columns=["SalePrice", "LotArea"]).head(5).to_csv(sys.argv[2] + "/missing.csv", index=False); d.head(5).assign(Extra=1).drop(columns=["SalePrice"]).to_csv(sys.argv[2] + "/extra.csv", index=False)' $(REPORT_DATA) $(REPORT_DIR)
	$(BIN) predict $(REPORT_DIR) $(REPORT_DIR)/new.csv -o $(REPORT_DIR)/predictions.csv
	$(VPY) -c 'import sys, pandas as pd; p, n = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2]); assert len(p) == len(n) and (p["Id"] == n["Id"]).all() and p["SalePrice"].notna().all(), (len(p), len(n)); print(f"predictions.csv: {len(p)} rows for {len(n)} input rows")' $(REPORT_DIR)/predictions.csv $(REPORT_DIR)/new.csv
	! $(BIN) predict $(REPORT_DIR) $(REPORT_DIR)/missing.csv -o $(REPORT_DIR)/p.csv 2> $(REPORT_DIR)/missing.err
	grep -q 'missing column(s) "LotArea"' $(REPORT_DIR)/missing.err && cat $(REPORT_DIR)/missing.err
	! $(BIN) predict $(REPORT_DIR) $(REPORT_DIR)/extra.csv -o $(REPORT_DIR)/p.csv 2> $(REPORT_DIR)/extra.err
	grep -q 'unexpected column(s) "Extra"' $(REPORT_DIR)/extra.err && cat $(REPORT_DIR)/extra.err
