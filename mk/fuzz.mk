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

# Each target runs on a scratch copy of its seed corpus, so the repository stays as it is.
define run_fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		corpus=build/fuzz/corpus/$$t; seeds=tests/fuzz/corpus/$${t#fuzz_}; \
		mkdir -p $$corpus; cp -r $$seeds/. $$corpus/ 2>/dev/null || true; \
		echo "== $$t"; log=build/fuzz/$$t.log; \
		if ASAN_OPTIONS=detect_leaks=1 build/fuzz/$$t $(1) $$corpus >$$log 2>&1; then tail -n 1 $$log; \
		else tail -n 40 $$log; exit 1; fi; \
	done
endef

.PHONY: fuzz fuzz-smoke
fuzz: $(FUZZ_BINS)
	$(call run_fuzz,-max_total_time=$(FUZZ_SECONDS))

fuzz-smoke: $(FUZZ_BINS)
	$(call run_fuzz,-runs=$(FUZZ_SMOKE_RUNS))

TEST_STEPS += fuzz-smoke
