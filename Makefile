# skewjoin — plain Makefile.
#
#   make            build/skewjoin, build/libskewjoin.a and build/libskewjoin.so
#                   (the shared library the Python package loads)
#   make test       every test: C unit tests (also under ASan+UBSan), then the
#                   integration tests against numpy, DuckDB and Polars
#   make bench      benchmarks (bench-gen: the generator; bench-scan: the reader;
#                   bench-query: the query engine against DuckDB and Polars;
#                   bench-dask: skewjoin.dask against plain Dask and the CLI;
#                   bench-compare BASELINE=other/skewjoin: this build against
#                   another commit's, same run)
#   make fuzz       libFuzzer on the Parquet reader and on SJPART partials
#                   (FUZZ_SECONDS=60 each)
#
# -ffp-contract=off: the numpy-exact generator must not fuse multiply-adds.

CC      ?= cc
CFLAGS  ?= -O3 -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
DEFS    := -D_GNU_SOURCE -Iinclude
# The library exports only what include/skewjoin.h declares (its visibility
# push); -MMD writes each object's header dependencies beside it (a test's
# as a dot file, out of tests/run's glob).
ALL_CFLAGS := $(WARN) $(DEFS) $(CFLAGS) -ffp-contract=off -pthread -fPIC -fvisibility=hidden -MMD -MP
LIBS    := -lzstd -lsnappy -lz -llz4 -lm -pthread

SAN_CFLAGS := $(WARN) $(DEFS) -O1 -g -ffp-contract=off -pthread -fno-omit-frame-pointer -fPIC -fvisibility=hidden -MMD -MP \
              -fsanitize=address,undefined -fno-sanitize-recover=undefined

# Sources at any depth: every .c under src/ is the library's, but the CLI's.
LIB_SRC := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*'))
CLI_SRC := $(sort $(shell find src/cli -name '*.c'))
TEST_SRC := $(sort $(shell find tests -name 'test_*.c' -not -path '*/node_modules/*'))

B := build
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)
SAN_LIB_OBJ := $(LIB_SRC:%.c=$(B)/san/%.o)
SAN_CLI_OBJ := $(CLI_SRC:%.c=$(B)/san/%.o)
TESTS     := $(TEST_SRC:tests/%.c=$(B)/tests/%)
SAN_TESTS := $(TEST_SRC:tests/%.c=$(B)/san-tests/%)

.PHONY: all test test-c test-integration bench bench-gen bench-scan bench-query bench-dask bench-compare clean oracles fuzz

all: $(B)/skewjoin $(B)/libskewjoin.a $(B)/libskewjoin.so

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c $< -o $@

$(B)/libskewjoin.a: $(LIB_OBJ)
	@mkdir -p $(B)
	ar rcs $@ $^

$(B)/libskewjoin.so: $(LIB_OBJ)
	@mkdir -p $(B)
	$(CC) -shared -o $@ $^ $(LIBS)

$(B)/skewjoin: $(CLI_OBJ) $(B)/libskewjoin.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(B)/libskewjoin.a $(LIBS)

$(B)/bench-scan: bench/scan.c $(B)/libskewjoin.a
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libskewjoin.a $(LIBS)

$(B)/libskewjoin-san.so: $(SAN_LIB_OBJ)
	$(CC) -shared -fsanitize=address,undefined -o $@ $^ $(LIBS)

$(B)/skewjoin-san: $(SAN_CLI_OBJ) $(SAN_LIB_OBJ)
	$(CC) $(SAN_CFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: tests/%.c tests/check.h $(B)/libskewjoin.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MF $(dir $@).$(notdir $@).d -Isrc -Itests -o $@ $< $(B)/libskewjoin.a $(LIBS)

$(B)/san-tests/%: tests/%.c tests/check.h $(SAN_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -MF $(dir $@).$(notdir $@).d -Isrc -Itests -o $@ $< $(SAN_LIB_OBJ) $(LIBS)

# Unit tests, plain and sanitized; each prints "N passed, N failed".
test-c: $(TESTS) $(SAN_TESTS) $(B)/skewjoin $(B)/skewjoin-san $(B)/libskewjoin-san.so

test: all test-c
	@tests/run

oracles:
	@tests/oracle/install

bench: all $(B)/bench-scan
	@/usr/bin/python3 bench/gen.py
	@/usr/bin/python3 bench/scan.py
	@/usr/bin/python3 bench/query.py
	@/usr/bin/python3 bench/on_dask.py

bench-scan: all $(B)/bench-scan
	@/usr/bin/python3 bench/scan.py

bench-query: all $(B)/bench-scan
	@/usr/bin/python3 bench/query.py

bench-gen: all
	@/usr/bin/python3 bench/gen.py

bench-dask: all
	@/usr/bin/python3 bench/on_dask.py

bench-compare: all
	@BENCH_BASELINE="$(BASELINE)" /usr/bin/python3 bench/compare.py

# libFuzzer on the reader and the partials, FUZZ_SECONDS each: fuzz/run.
fuzz:
	@fuzz/run

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
