## The JupyterLab extension (extension-assets/): the Trialbook side panel.
##   make extension        rebuild extension-assets/labextension from the TypeScript (commit the result)
##   make test-extension   the panel model's unit tests (node's test runner)
##   make test-extension-e2e  JupyterLab + trialbook serve + headless Chromium (playwright-core)
EXT := extension-assets
EXT_NODE_MODULES := $(EXT)/node_modules/.package-lock.json

.PHONY: extension extension-deps test-extension test-extension-e2e

extension-deps: $(EXT_NODE_MODULES)

$(EXT_NODE_MODULES): $(EXT)/package.json $(EXT)/package-lock.json
	cd $(EXT) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

extension: venv extension-deps
	cd $(EXT) && npx tsc -b && node scripts/build-labextension.mjs

test-extension: extension-deps
	cd $(EXT) && npm test

# The browser tests install the extension embedded in bin/trialbook, so they
# test what users get; TestBuildIsUpToDate (go test) checks it matches src/.
test-extension-e2e: venv build extension-deps
	cd $(EXT) && node --test --test-concurrency=1 ui-tests/

TEST_EXTRA += test-extension test-extension-e2e
