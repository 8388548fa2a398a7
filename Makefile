# EV charging federation: build, run and test.
#   make run    three companies + broker on loopback, in the foreground
#   make test   every test suite, on an isolated stack of its own
# See README.md for everything else.

CC       ?= gcc
PG_BIN   := /usr/lib/postgresql/15/bin
PYTHON   := /usr/bin/python3

WARNINGS := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wshadow
# The worker's parts: core/ (the domain, knows no transport), rest/, mqtt/ and
# federation/ and ocpp/ (adapters over the core), and the process itself at the top.
WORKER_DIRS := workers/company workers/company/core workers/company/rest workers/company/mqtt workers/company/federation \
	workers/company/ocpp
CPPFLAGS += -D_GNU_SOURCE -Iworkers/common $(WORKER_DIRS:%=-I%) -I/usr/include/postgresql
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 $(WARNINGS)
LDLIBS   := -lcivetweb -lpaho-mqtt3as -ljansson -lcurl -lpq -lcrypto -lpthread -lm
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

COMMON_SRC := $(wildcard workers/common/*.c)
WORKER_SRC := $(foreach d,$(WORKER_DIRS),$(wildcard $(d)/*.c))
WORKER_LIB := $(filter-out workers/company/main.c,$(WORKER_SRC))
HEADERS    := $(wildcard workers/common/*.h) $(foreach d,$(WORKER_DIRS),$(wildcard $(d)/*.h))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=build/tests/%)
ASAN_UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=build/asan/tests/%)

# The isolated stack of `make test`: its own state folder and ports.
TEST_STACK := EVC_STACK_DIR=$(CURDIR)/.stack-test EVC_HTTP_PORT_BASE=18081 \
	EVC_PG_PORT_BASE=15431 EVC_MQTT_PORT=18831 EVC_WORKER_BIN=$(CURDIR)/build/asan/evc-worker
ASAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$(CURDIR)/.stack-test/logs/asan \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(CURDIR)/.stack-test/logs/ubsan \
	EVC_ALERT_IN_DOUBT_SECONDS=5
# (the last one: tests/system/test_alerts.py sees an in-doubt alert within seconds, not a minute)

# Steps of `make test`, in order; files in mk/ add their own (e.g. lint, bench smoke).
TEST_STEPS := unit unit-valgrind system

.PHONY: all deps build asan run up down reset status test unit unit-valgrind system clean

all: build

deps:
	@scripts/install-deps

SIM_SRC := $(wildcard workers/simulator/*.c)

build: build/evc-worker build/evc-sim

build/evc-sim: $(SIM_SRC) $(wildcard workers/simulator/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Iworkers/simulator $(CFLAGS) -o $@ $(SIM_SRC) -lcivetweb -lpaho-mqtt3as -ljansson -lpthread -lm

# Every source is compiled once per flavour into a library the worker, the unit
# tests and (mk/fuzz.mk) the fuzz targets link against.
LIB_SRC      := $(COMMON_SRC) $(WORKER_LIB)
LIB_OBJ      := $(LIB_SRC:%.c=build/obj/%.o)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=build/asan/obj/%.o)

build/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/asan/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANITIZE) -c -o $@ $<

build/libevc.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

build/asan/libevc.a: $(ASAN_LIB_OBJ)
	$(AR) rcs $@ $^

build/evc-worker: workers/company/main.c build/libevc.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< build/libevc.a $(LDLIBS)

build/asan/evc-worker: workers/company/main.c build/asan/libevc.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANITIZE) -o $@ $< build/asan/libevc.a $(LDLIBS)

build/tests/%: tests/unit/%.c build/libevc.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< build/libevc.a $(LDLIBS) -lcmocka

build/asan/tests/%: tests/unit/%.c build/asan/libevc.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANITIZE) -o $@ $< build/asan/libevc.a $(LDLIBS) -lcmocka

asan: build/asan/evc-worker $(ASAN_UNIT_BINS)

run: deps build
	@scripts/stack run

up: deps build
	@scripts/stack up

down:
	@scripts/stack down

status:
	@scripts/stack status

reset:
	@scripts/stack reset

unit: $(UNIT_BINS) $(ASAN_UNIT_BINS)
	@set -e; for t in $(UNIT_BINS) $(ASAN_UNIT_BINS); do echo "== $$t"; $$t; done

# The plain unit tests once more under valgrind: no leak, no invalid access.
unit-valgrind: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== valgrind $$t"; \
		valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect $$t >/dev/null; done

# System tests run against the sanitized worker: any ASan/UBSan report fails the run.
system: build/asan/evc-worker
	@$(TEST_STACK) scripts/stack reset >/dev/null
	@mkdir -p .stack-test/logs
	@$(TEST_STACK) $(ASAN_ENV) scripts/stack up
	@status=0; \
	EVC_STACK_DIR=$(CURDIR)/.stack-test $(ASAN_ENV) $(PYTHON) -m pytest -q -p no:cacheprovider --durations=20 tests/system || status=$$?; \
	EVC_STACK_DIR=$(CURDIR)/.stack-test $(ASAN_ENV) $(MAKE) --no-print-directory test-ui || status=$$?; \
	EVC_STACK_DIR=$(CURDIR)/.stack-test $(ASAN_ENV) $(MAKE) --no-print-directory test-postman || status=$$?; \
	$(TEST_STACK) scripts/stack down || status=1; \
	if ls .stack-test/logs/asan.* .stack-test/logs/ubsan.* >/dev/null 2>&1; then \
		echo "sanitizer reports:"; cat .stack-test/logs/asan.* .stack-test/logs/ubsan.* 2>/dev/null; status=1; \
	fi; \
	exit $$status

test: deps
	@$(MAKE) --no-print-directory -j2 build asan
	@set -e; for step in $(TEST_STEPS); do $(MAKE) --no-print-directory $$step; done

clean:
	rm -rf build

# Each mk/*.mk adds the targets of one part (benchmarks, API contract, ...).
-include $(wildcard mk/*.mk)
