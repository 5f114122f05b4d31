# Thin wrapper over CMake/CTest. `make demo` and `make test` are the README's
# two commands; both install the Debian packages they need first.
SHELL := /bin/bash
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
BENCH_BUILD ?= build-bench
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60

DEB_PACKAGES := build-essential cmake pkg-config libcmocka-dev libjansson-dev \
	libtraceevent-dev libtracefs-dev libtracecmd-dev clang libclang-rt-14-dev \
	chromium valgrind

.PHONY: all deps build demo test test-plain test-asan test-fuzz test-release bench clean format

all: build

deps:
	@./scripts/install-deps.sh $(DEB_PACKAGES)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/eptflush compare

test: deps test-plain test-asan test-fuzz test-release
	@echo "make test: all suites passed"

test-plain: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DEPTF_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

test-fuzz:
	@if command -v clang >/dev/null; then \
		CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DEPTF_SANITIZE=ON -DEPTF_FUZZ=ON \
			-DEPTF_FUZZ_SECONDS=$(FUZZ_SECONDS) && \
		cmake --build $(FUZZ_BUILD) -j $(JOBS) && \
		cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz; \
	else echo "clang not found: skipping the fuzz targets"; fi

# The benchmarks' build (BENCHMARKS.md): Release, -O3. make test compiles it
# too, because -O3 finds warnings (-Werror) that the -O2 build does not.
$(BENCH_BUILD)/CMakeCache.txt:
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release

test-release: $(BENCH_BUILD)/CMakeCache.txt
	cmake --build $(BENCH_BUILD) -j $(JOBS)

bench: deps test-release
	@for b in $(BENCH_BUILD)/bench_*; do echo "== $$b"; $$b || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(BENCH_BUILD)
