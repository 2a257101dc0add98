## The JupyterLab extension (extension-assets/): the Trialbook side panel.
##   make extension        rebuild extension-assets/labextension from the TypeScript (commit the result)
##   make test-extension   the panel model's unit tests (node's test runner)
##   make test-extension-e2e  JupyterLab + trialbook serve + headless Chromium (playwright-core)
EXT := extension-assets
EXT_NODE_MODULES := $(EXT)/node_modules/.package-lock.json

.PHONY: extension extension-deps test-extension test-extension-e2e chromium

# The browser tests drive Debian's chromium. On a fresh machine it is
# installed here when we can (root, apt-get); otherwise the exact command is
# printed and make stops. CHROMIUM names another binary (the tests read it).
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests (apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || exit 1; \
	  test -x "$(CHROMIUM)" || { echo "apt-get installed chromium but $(CHROMIUM) is not there: set CHROMIUM=/path/to/chromium"; exit 1; }; \
	else \
	  echo "The browser tests need Debian's chromium at $(CHROMIUM). Install it with:"; \
	  echo "    sudo apt-get install -y chromium"; \
	  echo "(or set CHROMIUM=/path/to/chromium), then run make test again."; \
	  exit 1; \
	fi

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
test-extension-e2e: venv build extension-deps chromium
	cd $(EXT) && node --test --test-concurrency=1 ui-tests/

TEST_EXTRA += test-extension test-extension-e2e
