# The trip planner's benchmark: in-process, no stack needed.
#   make bench-planner    builds build/bench/planner_bench and runs it from the repository root
# It plans on the seeded network (db/migrations/004_road_network.sql, db/seed/*.sql)
# and on a generated one of 5,000 cities and 50,000 stations, prints p50/p95 and
# fails when p95 misses its target (50 ms seeded, 500 ms generated).

PLANNER_BENCH_SRC := workers/bench/planner_bench.c workers/company/core/planner.c
PLANNER_BENCH_PLANS ?= 200

.PHONY: bench-planner

build/bench/planner_bench: $(PLANNER_BENCH_SRC) workers/company/core/planner.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(PLANNER_BENCH_SRC) -lm

bench-planner: build/bench/planner_bench
	@build/bench/planner_bench $(CURDIR) $(PLANNER_BENCH_PLANS)
