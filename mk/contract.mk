# The API contract (docs/openapi.yaml): lint it with Redocly's CLI from npm, and
# keep static/openapi.json, the copy the API page (static/api.html) reads, in
# step with it. The system test tests/system/test_api_contract.py checks that
# the spec, the route table, the JSON copy and docs/insomnia.json agree.
#   make lint-openapi    npm ci when node_modules is missing, then redocly lint
#   make openapi-json    regenerate static/openapi.json after editing the spec
#                        (needs python3-yaml; the contract test fails until then)

REDOCLY := node_modules/.bin/redocly
# No telemetry and no update check: the machines reach only the npm registry.
REDOCLY_ENV := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

TEST_STEPS += lint-openapi

.PHONY: lint-openapi openapi-json

$(REDOCLY): package.json package-lock.json
	@command -v npm >/dev/null || { echo "lint-openapi: npm not found (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

lint-openapi: $(REDOCLY)
	$(REDOCLY_ENV) $(REDOCLY) lint --config redocly.yaml docs/openapi.yaml

openapi-json: static/openapi.json

static/openapi.json: docs/openapi.yaml
	$(PYTHON) -c 'import json, sys, yaml; \
		spec = yaml.safe_load(open(sys.argv[1], encoding="utf-8")); \
		open(sys.argv[2], "w", encoding="utf-8").write(json.dumps(spec, indent=1, ensure_ascii=False) + "\n")' \
		$< $@
