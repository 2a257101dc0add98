## examples-data: write the example datasets that ship inside PyPI packages
## (breast cancer, from scikit-learn), so `trialbook check examples/...` works
.PHONY: examples-data
examples-data: examples/breast-cancer/breast-cancer.csv

examples/breast-cancer/breast-cancer.csv: examples/breast-cancer/export_data.py $(VENV)/.installed
	$(VPY) examples/breast-cancer/export_data.py

SETUP_EXTRA += examples-data
