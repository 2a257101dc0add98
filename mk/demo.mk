## demo: set up, then run the main job — an experiment with the built-in
## agent on scikit-learn's bundled diabetes data (it comes from PyPI).
## Running it again resumes the same experiment; `make demo-clean` starts over.
.PHONY: demo demo-clean
DEMO_DIR := demo/diabetes
DEMO_TRIALS ?= 12

demo: setup
	test -f demo/diabetes.csv || $(VPY) scripts/demo_data.py demo/diabetes.csv
	test -f $(DEMO_DIR)/problem.jsonnet || $(BIN) init $(DEMO_DIR) --data demo/diabetes.csv --target target \
		--context 'Each row is a diabetes patient: age, sex, body mass index (bmi), average blood pressure (bp) and six blood serum measurements (s1-s6) at baseline. The target is a quantitative measure of disease progression one year later.'
	$(BIN) run $(DEMO_DIR) --trials $(DEMO_TRIALS)
	@echo
	@echo "The experiment is in $(DEMO_DIR): AGENTS.md, trials/*.ipynb, report.ipynb, journal.jsonl."
	@echo "Watch it in JupyterLab: see 'The JupyterLab panel' in README.md."

demo-clean:
	rm -rf demo
