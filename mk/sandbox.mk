## sandbox-deps: bubblewrap, which sandboxes trial kernels (the sandbox tests fail without it)
.PHONY: sandbox-deps
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -qq bubblewrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; }; \
	  else \
	    echo "bubblewrap (bwrap) is missing, so the sandbox tests will fail: install it (apt-get install bubblewrap, dnf install bubblewrap); see docs/sandbox.md"; \
	  fi; }
