# The dashboard in a real browser: tests/ui/*.test.mjs, run by node's own test
# runner, drive Debian's Chromium (/usr/bin/chromium, headless) with playwright-core
# from npm; no browser is ever downloaded. They need a running stack: `make test`
# runs them inside its system step, on the stack that step starts; by hand:
#   EVC_STACK_DIR=$PWD/.stack make test-ui
# Screenshots land in tests/ui/artifacts/ (not committed).

UI_CHROMIUM ?= /usr/bin/chromium

.PHONY: test-ui

test-ui:
	@test -n "$(EVC_STACK_DIR)" || { echo "test-ui: set EVC_STACK_DIR to the folder of a running stack (scripts/stack up)" >&2; exit 2; }
	@command -v node >/dev/null || { echo "test-ui: node not found (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	@test -x $(UI_CHROMIUM) || { echo "test-ui: $(UI_CHROMIUM) not found (make deps installs chromium)" >&2; exit 1; }
	@test -d node_modules/playwright-core || npm ci --no-audit --no-fund
	EVC_STACK_DIR=$(EVC_STACK_DIR) EVC_CHROMIUM=$(UI_CHROMIUM) node --test tests/ui/
