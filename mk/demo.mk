## demo: set up, then run the main job on a real dataset (owned by the coordinator)
.PHONY: demo
demo: setup
	$(BIN) exec 'import sklearn, sys; print("kernel ready:", sys.executable, "scikit-learn", sklearn.__version__)'
