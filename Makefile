# swiftfunc — build, test, demo, bench and install.
#   make demo     runs the main example            make test    runs every test suite
#   make bench    runs the benchmarks              make install PREFIX=/usr/local [DESTDIR=...]
SHELL := /bin/bash
# Versions are the header's macros (SF_VERSION_MAJOR/MINOR/PATCH, SF_ABI_VERSION), as for the library.
header_macro = $(shell sed -n 's/^\#define $(1) \([0-9]*\).*/\1/p' include/swiftfunc.h)
VERSION := $(call header_macro,SF_VERSION_MAJOR).$(call header_macro,SF_VERSION_MINOR).$(call header_macro,SF_VERSION_PATCH)
SOVERSION := 0
ABI_VERSION := $(call header_macro,SF_ABI_VERSION)
PREFIX ?= /usr/local
DESTDIR ?=
BUILD := .build/release
LIB := $(BUILD)/libswiftfunc.so
CC ?= cc
CFLAGS_TEST := -std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude
CXX ?= c++
CXXFLAGS_TEST := -std=c++17 -Wall -Wextra -Werror -pedantic -g -Iinclude
WARN_FLAGS := -Wall -Wextra -Werror -pedantic
HEADER_FLAGS := $(WARN_FLAGS) -Iinclude
LDFLAGS_TEST := -L$(BUILD) -lswiftfunc -Wl,-rpath,$(CURDIR)/$(BUILD) -lm
OUT := build
PYTHON ?= python3

# The CPU the release library is compiled for. On an x86-64 machine whose CPU has the x86-64-v3
# features (AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT) the default is `haswell`, the oldest CPU with all of
# them: the float loops and transcendental functions run 8 lanes wide instead of SSE2's 4 (the jit
# replay of 100 elementwise ops on 16 floats: 9 -> 6.5 us). Like `-march=native`, such a library runs
# only on CPUs with those features; `make lib TARGET_CPU=x86-64` builds one for any x86-64 machine.
# Results do not depend on it: the kernels compile no multiply-add contraction either way.
X86_64_V3 := avx2 fma bmi1 bmi2 f16c movbe abm
TARGET_CPU ?= $(shell [ "$$(uname -m)" = x86_64 ] || exit 0; \
	for f in $(X86_64_V3); do grep -qw $$f /proc/cpuinfo || { echo x86-64; exit 0; }; done; echo haswell)
SWIFT_TARGET_CPU := $(if $(TARGET_CPU),-Xswiftc -target-cpu -Xswiftc $(TARGET_CPU) -Xcc -march=$(TARGET_CPU))

# Release library: Swift runtime linked statically, a SONAME, no undefined symbols.
SWIFT_RELEASE := swift build -c release --product swiftfunc $(SWIFT_TARGET_CPU) \
	-Xswiftc -static-stdlib -Xlinker -soname=libswiftfunc.so.$(SOVERSION) -Xlinker -z -Xlinker defs

.PHONY: all lib deps install test swift-test c-test asan-test header-test symbol-test python-test demo bench clean \
	cpp-test cpp-wrapper-test install-test cmake-test pkgconfig-test mpi-test export-example asan-lib tsan-lib

all: lib

## Debian packages the build needs (installed only when missing).
deps:
	@missing=""; \
	for p in libopenblas-dev libdlpack-dev cmake pkg-config openmpi-bin libopenmpi-dev; do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

lib: deps
	$(SWIFT_RELEASE)
	@ln -sf libswiftfunc.so $(BUILD)/libswiftfunc.so.$(SOVERSION)

## Sanitized libraries (issue 15, docs/testing.md): the same sources built with Swift's AddressSanitizer
## (plus libFuzzer's coverage instrumentation, and the test-only hooks compiled in by -DSWIFTFUNC_TESTING)
## or ThreadSanitizer, each in its own scratch folder. No `-z defs`: the sanitizer runtime comes from the
## executable, which is built with the toolchain's clang (SWIFT_CLANG) so that both runtimes match.
SWIFT_CLANG := $(shell dirname "$$(readlink -f "$$(command -v swift)")")/clang
ASAN_BUILD := .build-asan/release
TSAN_BUILD := .build-tsan/release
ASAN_LIB := $(ASAN_BUILD)/libswiftfunc.so
TSAN_LIB := $(TSAN_BUILD)/libswiftfunc.so
SWIFT_SANITIZED := swift build -c release --product swiftfunc -Xswiftc -static-stdlib \
	-Xlinker -soname=libswiftfunc.so.$(SOVERSION)

asan-lib: deps
	$(SWIFT_SANITIZED) --scratch-path .build-asan -Xswiftc -sanitize=address \
	  -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xswiftc -DSWIFTFUNC_TESTING
	@ln -sf libswiftfunc.so $(ASAN_BUILD)/libswiftfunc.so.$(SOVERSION)

tsan-lib: deps
	$(SWIFT_SANITIZED) --scratch-path .build-tsan -Xswiftc -sanitize=thread
	@ln -sf libswiftfunc.so $(TSAN_BUILD)/libswiftfunc.so.$(SOVERSION)

C_TESTS := $(patsubst Tests/c/%.c,$(OUT)/c/%,$(wildcard Tests/c/test_*.c))
C_ASAN_TESTS := $(patsubst Tests/c/%.c,$(OUT)/asan/%,$(wildcard Tests/c/test_*.c))
EXAMPLES := $(patsubst examples/c/%.c,$(OUT)/examples/%,$(wildcard examples/c/*.c))
EXAMPLES_ASAN := $(patsubst examples/c/%.c,$(OUT)/asan-examples/%,$(wildcard examples/c/*.c))

$(OUT)/c/%: Tests/c/%.c include/swiftfunc.h $(wildcard Tests/c/*.h) | lib
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) $< -o $@ $(LDFLAGS_TEST)

$(OUT)/asan/%: Tests/c/%.c include/swiftfunc.h $(wildcard Tests/c/*.h) | lib
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -fsanitize=address -fno-omit-frame-pointer $< -o $@ $(LDFLAGS_TEST)

$(OUT)/examples/%: examples/c/%.c examples/c/example_util.h include/swiftfunc.h | lib
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) $< -o $@ $(LDFLAGS_TEST)

$(OUT)/asan-examples/%: examples/c/%.c examples/c/example_util.h include/swiftfunc.h | lib
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -fsanitize=address -fno-omit-frame-pointer $< -o $@ $(LDFLAGS_TEST)

## The hardening layers (docs/testing.md) live in mk/*.mk; each adds its suite to HARDENING_TESTS.
HARDENING_TESTS :=
include $(sort $(wildcard mk/*.mk))

test: lib swift-test header-test symbol-test c-test asan-test python-test cpp-test mpi-test export-example \
	$(HARDENING_TESTS)
	@echo "all test suites passed"

swift-test: deps
	swift test

## The public headers compile with every warning an error: swiftfunc.h as C11, C++17 and C++20,
## swiftfunc.hpp as C++17 and C++20 (and, with its templates instantiated, the wrapper tests as C++20).
header-test:
	@mkdir -p $(OUT)
	printf '#include "swiftfunc.h"\nint main(void) { return 0; }\n' > $(OUT)/header_c.c
	$(CC) -std=c11 $(HEADER_FLAGS) -c $(OUT)/header_c.c -o $(OUT)/header_c.o
	printf '#include "swiftfunc.h"\n#include "swiftfunc.hpp"\nint main() { return 0; }\n' > $(OUT)/header_cpp.cpp
	$(CXX) -std=c++17 $(HEADER_FLAGS) -c $(OUT)/header_cpp.cpp -o $(OUT)/header_cpp17.o
	$(CXX) -std=c++20 $(HEADER_FLAGS) -c $(OUT)/header_cpp.cpp -o $(OUT)/header_cpp20.o
	$(CXX) -std=c++20 $(HEADER_FLAGS) -fsyntax-only Tests/cpp/test_wrapper.cpp
	@echo "header-test: swiftfunc.h (C11, C++17, C++20) and swiftfunc.hpp (C++17, C++20) compile cleanly"

## Every function the header declares is exported, and nothing else named sf_ is.
symbol-test: lib
	bash Tests/check_symbols.sh include/swiftfunc.h $(LIB)

c-test: $(C_TESTS) $(EXAMPLES)
	@set -e; for t in $(C_TESTS); do echo "== $$t"; $$t; done
	@set -e; for e in $(EXAMPLES); do echo "== $$e"; $$e >/dev/null; done

## The C suite again under AddressSanitizer + LeakSanitizer: the tests and the examples.
asan-test: $(C_ASAN_TESTS) $(EXAMPLES_ASAN)
	@set -e; for t in $(C_ASAN_TESTS); do echo "== $$t (asan)"; \
	  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp $$t; done
	@set -e; for e in $(EXAMPLES_ASAN); do echo "== $$e (asan)"; \
	  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp $$e >/dev/null; done

## Export for C: Python exports per-sample gradients of an MLP (weights in the file), then the C program
## loads the file and recomputes them with no Python, and compares with Python's numbers.
EXPORT_DIR := $(OUT)/export-example
export-example: $(OUT)/examples/run_exported | lib
	@mkdir -p $(EXPORT_DIR)
	$(PYTHON_ENV) $(PYTHON) bindings/python/examples/export_per_sample_grads.py $(EXPORT_DIR)
	$(OUT)/examples/run_exported $(EXPORT_DIR)/per_sample_grads.sfx $(EXPORT_DIR)/inputs.bin $(EXPORT_DIR)/expected.bin

## Installs lib/libswiftfunc.so.$(VERSION) with its SONAME links, both headers, the CMake package
## (lib/cmake/SwiftFunc) and the pkg-config file. Plain install/sed: no configure step, DESTDIR honoured,
## nothing in the installed files depends on PREFIX (the tree can be moved).
install: lib
	install -d $(DESTDIR)$(PREFIX)/lib/cmake/SwiftFunc $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/libswiftfunc.so.$(VERSION)
	ln -sfn libswiftfunc.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libswiftfunc.so.$(SOVERSION)
	ln -sfn libswiftfunc.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libswiftfunc.so
	install -m 644 include/swiftfunc.h include/swiftfunc.hpp $(DESTDIR)$(PREFIX)/include
	@set -e; subst='s|@VERSION@|$(VERSION)|g; s|@SOVERSION@|$(SOVERSION)|g; s|@ABI_VERSION@|$(ABI_VERSION)|g'; \
	for f in SwiftFuncConfig.cmake SwiftFuncConfigVersion.cmake; do \
	  sed "$$subst" cmake/$$f.in > $(DESTDIR)$(PREFIX)/lib/cmake/SwiftFunc/$$f; done; \
	sed "$$subst" cmake/swiftfunc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/swiftfunc.pc; \
	chmod 644 $(DESTDIR)$(PREFIX)/lib/cmake/SwiftFunc/*.cmake $(DESTDIR)$(PREFIX)/lib/pkgconfig/swiftfunc.pc
	@echo "installed swiftfunc $(VERSION) into $(DESTDIR)$(PREFIX)"

## C++ and packaging: the wrapper's tests (also under ASan/LSan), then a staged install consumed
## by an out-of-tree CMake project (ctest: C and C++ programs, the C++ examples, the C test suites)
## and by pkg-config.
## The stage is installed for PREFIX=/opt/swiftfunc but used from build/: this checks relocation.
STAGE := $(CURDIR)/$(OUT)/stage
STAGE_PREFIX := $(STAGE)/opt/swiftfunc
CPP_DEPS := include/swiftfunc.hpp include/swiftfunc.h $(wildcard Tests/cpp/*.h)

cpp-test: cpp-wrapper-test cmake-test pkgconfig-test
	@echo "cpp-test: 5 passed, 0 failed (wrapper, wrapper under ASan/LSan, install layout, CMake consumer, pkg-config)"

$(OUT)/cpp/test_wrapper: Tests/cpp/test_wrapper.cpp $(CPP_DEPS) | lib
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_TEST) $< -o $@ $(LDFLAGS_TEST) -ldl

$(OUT)/cpp-asan/test_wrapper: Tests/cpp/test_wrapper.cpp $(CPP_DEPS) | lib
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_TEST) -fsanitize=address -fno-omit-frame-pointer $< -o $@ $(LDFLAGS_TEST) -ldl

cpp-wrapper-test: $(OUT)/cpp/test_wrapper $(OUT)/cpp-asan/test_wrapper
	@echo "== $(OUT)/cpp/test_wrapper"; $(OUT)/cpp/test_wrapper
	@echo "== $(OUT)/cpp-asan/test_wrapper (asan)"; \
	  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp $(OUT)/cpp-asan/test_wrapper

install-test: lib
	rm -rf $(STAGE)
	$(MAKE) --no-print-directory install PREFIX=/opt/swiftfunc DESTDIR=$(STAGE)
	bash Tests/check_install.sh $(STAGE_PREFIX) /opt/swiftfunc $(VERSION) $(SOVERSION)

cmake-test: install-test
	rm -rf $(OUT)/cmake-consumer
	cmake -S Tests/cmake-consumer -B $(OUT)/cmake-consumer -DCMAKE_PREFIX_PATH=$(STAGE_PREFIX) \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWIFTFUNC_EXAMPLES_DIR=$(CURDIR)/examples/cpp \
	  -DSWIFTFUNC_C_TESTS_DIR=$(CURDIR)/Tests/c
	cmake --build $(OUT)/cmake-consumer -j 2
	cd $(OUT)/cmake-consumer && ctest --output-on-failure

pkgconfig-test: install-test
	@mkdir -p $(OUT)/pkgconfig
	@set -e; export PKG_CONFIG_PATH=$(STAGE_PREFIX)/lib/pkgconfig; \
	echo "pkg-config --cflags --libs swiftfunc: $$(pkg-config --cflags --libs swiftfunc)"; \
	test "$$(pkg-config --modversion swiftfunc)" = "$(VERSION)"; \
	rpath="-Wl,-rpath,$$(pkg-config --variable=libdir swiftfunc)"; \
	set -x; \
	def="-DEXPECTED_VERSION=\"$$(pkg-config --modversion swiftfunc)\""; \
	$(CC) -std=c11 $(WARN_FLAGS) $$def Tests/cmake-consumer/consumer.c -o $(OUT)/pkgconfig/consumer_c \
	  $$(pkg-config --cflags --libs swiftfunc) $$rpath; \
	$(CXX) -std=c++17 $(WARN_FLAGS) $$def Tests/cmake-consumer/consumer.cpp -o $(OUT)/pkgconfig/consumer_cpp \
	  $$(pkg-config --cflags --libs swiftfunc) $$rpath; \
	$(OUT)/pkgconfig/consumer_c; $(OUT)/pkgconfig/consumer_cpp

## The Python package is tested from the source tree (no install): PYTHONPATH points at
## bindings/python and SWIFTFUNC_LIBRARY at the release library. The suite runs the examples too.
PYTHON_ENV := PYTHONPATH=$(CURDIR)/bindings/python SWIFTFUNC_LIBRARY=$(CURDIR)/$(LIB)
python-test: lib
	$(PYTHON_ENV) $(PYTHON) -m pytest -q Tests/python

## Data-parallel DP-SGD over MPI (docs/scaling.md): the Python example (run with $(PYTHON)) and the
## C one (built with mpicc; its data written by examples/mpi/write_digits.py) under mpirun -np 1 and
## -np 2, a failing rank, and a full training run. OpenMPI's root and oversubscription flags are set
## inside Tests/check_mpi.sh, not needed in users' commands.
MPI_OUT := $(OUT)/mpi
$(MPI_OUT)/dp_sgd: examples/mpi/dp_sgd.c include/swiftfunc.h | lib
	@mkdir -p $(dir $@)
	mpicc $(CFLAGS_TEST) $< -o $@ $(LDFLAGS_TEST)

$(MPI_OUT)/digits.bin: examples/mpi/write_digits.py
	@mkdir -p $(dir $@)
	$(PYTHON) $< $@

mpi-test: lib $(MPI_OUT)/dp_sgd $(MPI_OUT)/digits.bin
	$(PYTHON_ENV) bash Tests/check_mpi.sh $(PYTHON) $(MPI_OUT)/dp_sgd $(MPI_OUT)/digits.bin $(MPI_OUT)/runs

## The main example: per-sample gradients by vmap(grad), next to a loop of grad, in C and in Python.
demo: lib $(OUT)/examples/per_sample_grads
	$(OUT)/examples/per_sample_grads
	$(PYTHON_ENV) $(PYTHON) bindings/python/examples/per_sample_grads.py

bench: lib
	$(MAKE) -C bench run

clean:
	rm -rf .build $(OUT)
