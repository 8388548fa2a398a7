# Benchmarks (docs/benchmarks.md): the load generator and `make bench`.
#   make bench                         a dedicated stack in .stack-bench, measured, then stopped
#   EVC_STACK_DIR=.stack make bench    measure a stack that is already up (left running)
# bench/run reads BENCH_DURATION, BENCH_WARMUP, BENCH_LEVELS, BENCH_PGBENCH_SECONDS, BENCH_KEEP.

# Listed, not globbed: workers/bench/ also holds other benchmarks with a main of their own.
BENCH_SRC     := $(addprefix workers/bench/,main.c load.c scenarios.c telemetry_load.c httpc.c histogram.c procstat.c)
BENCH_HEADERS := $(addprefix workers/bench/,bench.h load.h telemetry_load.h httpc.h histogram.h procstat.h)

.PHONY: bench

build/evc-bench: $(BENCH_SRC) $(BENCH_HEADERS) $(COMMON_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Iworkers/bench $(CFLAGS) -o $@ $(BENCH_SRC) $(COMMON_SRC) -lpaho-mqtt3as -ljansson -lcurl -lpq -lcrypto -lpthread -lm

bench: deps build build/evc-bench
	@bench/run
