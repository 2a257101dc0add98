## trialbook mcp against MCP clients we did not write (docs/mcp.md):
##   make test-mcp-clients   the Python `mcp` SDK runs two trials over stdio;
##                           the MCP Inspector CLI lists the tools and calls
##                           `experiment`, over stdio and over --http with the token
MCP_CLIENTS := mcpserver/clients

.PHONY: test-mcp-clients

$(MCP_CLIENTS)/node_modules/.package-lock.json: $(MCP_CLIENTS)/package.json $(MCP_CLIENTS)/package-lock.json
	cd $(MCP_CLIENTS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test-mcp-clients: venv build $(MCP_CLIENTS)/node_modules/.package-lock.json
	$(VPY) -m pytest -q -p no:cacheprovider $(MCP_CLIENTS)/test_python_client.py
	cd $(MCP_CLIENTS) && node --test --test-concurrency=1 inspector.test.mjs

TEST_EXTRA += test-mcp-clients
