# libFuzzer targets for every input decoder (clang from Debian).
#   make fuzz         60 s per target
#   make fuzz-smoke   a short run per target, part of `make test`
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_TARGETS:%=build/fuzz/%)
FUZZ_FLAGS   := -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_RUNS ?= 200000

FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(FUZZ_FLAGS) -c -o $@ $<

build/fuzz/libevc.a: $(FUZZ_LIB_OBJ)
	$(AR) rcs $@ $^

build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_body.h build/fuzz/libevc.a
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(FUZZ_FLAGS) -o $@ $< build/fuzz/libevc.a $(LDLIBS)

# Runs of one target in the smoke run: FUZZ_SMOKE_RUNS, or FUZZ_SMOKE_RUNS_<target>
# for a target slower per input (the body targets parse, normalise and parse again).
# Measured on the 2-core machine, loaded: about 2 minutes for all of them.
FUZZ_SMOKE_RUNS_fuzz_cartoken ?= 40000
FUZZ_SMOKE_RUNS_fuzz_config ?= 100000
FUZZ_SMOKE_RUNS_fuzz_json_body ?= 100000
FUZZ_SMOKE_RUNS_fuzz_rfc3339 ?= 100000
FUZZ_SMOKE_RUNS_fuzz_telemetry ?= 100000
FUZZ_SMOKE_RUNS_fuzz_body_mqtt ?= 30000
FUZZ_SMOKE_RUNS_fuzz_body_plan ?= 30000
FUZZ_SMOKE_RUNS_fuzz_body_prepare ?= 30000
FUZZ_SMOKE_RUNS_fuzz_body_peer ?= 50000
FUZZ_SMOKE_RUNS_fuzz_body_reservation ?= 60000
FUZZ_SMOKE_RUNS_fuzz_body_station ?= 60000
FUZZ_SMOKE_RUNS_fuzz_body_trip ?= 60000
FUZZ_SMOKE_RUNS_fuzz_body_waitlist ?= 60000
fuzz_smoke_runs = $(or $(FUZZ_SMOKE_RUNS_$(1)),$(FUZZ_SMOKE_RUNS))

# Each target runs on a scratch copy of its seed corpus, so the repository stays as it is.
# $(1): the option, $(2): target=value pairs.
define run_fuzz
	@set -e; for pair in $(2); do t=$${pair%%=*}; n=$${pair#*=}; \
		corpus=build/fuzz/corpus/$$t; seeds=tests/fuzz/corpus/$${t#fuzz_}; \
		mkdir -p $$corpus; cp -r $$seeds/. $$corpus/ 2>/dev/null || true; \
		log=build/fuzz/$$t.log; began=$$(date +%s); \
		if ASAN_OPTIONS=detect_leaks=1 build/fuzz/$$t $(1)$$n $$corpus >$$log 2>&1; then \
			echo "== $$t ($(1)$$n, $$(( $$(date +%s) - began )) s): $$(tail -n 1 $$log)"; \
		else echo "== $$t ($(1)$$n)"; tail -n 40 $$log; exit 1; fi; \
	done
endef

.PHONY: fuzz fuzz-smoke
fuzz: $(FUZZ_BINS)
	$(call run_fuzz,-max_total_time=,$(FUZZ_TARGETS:%=%=$(FUZZ_SECONDS)))

fuzz-smoke: $(FUZZ_BINS)
	$(call run_fuzz,-runs=,$(foreach t,$(FUZZ_TARGETS),$(t)=$(call fuzz_smoke_runs,$(t))))

TEST_STEPS += fuzz-smoke
