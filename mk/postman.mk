# The operator's API tools against a running stack: the Postman collection
# docs/postman/evc.postman_collection.json (made by scripts/api-clients), run by
# newman (npm), and environments for Postman and Insomnia written from the
# stack's stack.json. `make test` runs the collection inside its system step, on
# the stack that step starts; by hand, with a stack up (default folder .stack):
#   make test-postman          newman: every request's tests; fails on any failed assertion
#   make postman-env           $EVC_STACK_DIR/postman-env.json: each company's <id>_url and <id>_admin_token
#   make insomnia-env          $EVC_STACK_DIR/insomnia-env.json: docs/insomnia.json's environments, filled in
#   make postman-collection    regenerate the collection after editing scripts/api-clients or the spec
# The environments hold the operator tokens: they stay in the stack folder (mode 0600, never committed).

POSTMAN_COLLECTION := docs/postman/evc.postman_collection.json
POSTMAN_STACK      := $(if $(EVC_STACK_DIR),$(EVC_STACK_DIR),$(CURDIR)/.stack)
POSTMAN_REPORTS    := $(POSTMAN_STACK)/newman
NEWMAN             := node_modules/.bin/newman
# No update check; colours on a terminal only (--color below).
NEWMAN_ENV         := NO_UPDATE_NOTIFIER=1

.PHONY: postman-env insomnia-env test-postman postman-collection

$(NEWMAN): package.json package-lock.json
	@command -v npm >/dev/null || { echo "newman: npm not found (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

postman-env:
	@scripts/api-clients postman-env $(POSTMAN_STACK)

insomnia-env:
	@scripts/api-clients insomnia-env $(POSTMAN_STACK)

postman-collection:
	@scripts/api-clients collection

# newman's cli reporter prints every request's tests and a table; the last line
# (scripts/api-clients newman-summary) says passed or FAILED with the counts.
# JUnit and JSON reports land in $(POSTMAN_REPORTS)/.
test-postman: $(NEWMAN) postman-env
	@scripts/api-clients check
	@mkdir -p $(POSTMAN_REPORTS) && rm -f $(POSTMAN_REPORTS)/report.json $(POSTMAN_REPORTS)/junit.xml
	@status=0; color=on; test -t 1 || { color=off; export FORCE_COLOR=0; }; \
	$(NEWMAN_ENV) $(NEWMAN) run $(POSTMAN_COLLECTION) --environment $(POSTMAN_STACK)/postman-env.json \
		--timeout-request 30000 --color $$color --reporters cli,junit,json \
		--reporter-junit-export $(POSTMAN_REPORTS)/junit.xml --reporter-json-export $(POSTMAN_REPORTS)/report.json \
		|| status=$$?; \
	scripts/api-clients newman-summary $(POSTMAN_REPORTS)/report.json || status=1; \
	exit $$status
