# Lianmeng developer entry points. The two set-up commands of the README:
#   make run   installs what is missing, builds, starts a local alliance network
#   make test  installs what is missing, builds, runs every test (normal + ASan/UBSan)
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build/release
ASAN    ?= build/asan
FUZZDIR ?= build/fuzz
CMAKE_FLAGS ?=

.PHONY: all deps build asan run test test-fast lint format fuzz bench clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DSANITIZE=ON -DWERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)

run: build
	@./scripts/run.sh $(BUILD)/lianmeng

# The sanitizer build runs first (unit, fuzz replay, crash tests, reduced sim seeds; tests
# labelled "heavy" are skipped there); the normal build runs everything and its CTest
# summary is the last thing printed.
test: build asan
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1 LM_SANITIZE=1 \
	    ctest --output-on-failure -j $(JOBS) -LE heavy
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE "heavy|integration"

lint: build
	@./scripts/lint.sh $(BUILD)

format:
	@find src tests bench -name '*.[ch]' | xargs clang-format -i

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZDIR) -DFUZZ=ON -DWERROR=ON >/dev/null
	@cmake --build $(FUZZDIR) -j $(JOBS)
	@echo "fuzz targets in $(FUZZDIR)/tests: run e.g. $(FUZZDIR)/tests/fuzz_codec -max_total_time=300 tests/fuzz/corpus/codec"

bench: build
	@echo "benchmarks in $(BUILD)/bench (see bench/README.md)"

clean:
	rm -rf build
