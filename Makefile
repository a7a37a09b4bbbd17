# swiftfunc — build, test, demo, bench and install.
#   make demo     runs the main example            make test    runs every test suite
#   make bench    runs the benchmarks              make install PREFIX=/usr/local
SHELL := /bin/bash
VERSION := 0.1.0
SOVERSION := 0
PREFIX ?= /usr/local
BUILD := .build/release
LIB := $(BUILD)/libswiftfunc.so
CC ?= cc
CFLAGS_TEST := -std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude
LDFLAGS_TEST := -L$(BUILD) -lswiftfunc -Wl,-rpath,$(CURDIR)/$(BUILD) -lm
OUT := build
PYTHON ?= python3

# Release library: Swift runtime linked statically, a SONAME, no undefined symbols.
SWIFT_RELEASE := swift build -c release --product swiftfunc \
	-Xswiftc -static-stdlib -Xlinker -soname=libswiftfunc.so.$(SOVERSION) -Xlinker -z -Xlinker defs

.PHONY: all lib deps test swift-test c-test asan-test header-test symbol-test python-test demo bench clean

all: lib

## Debian packages the build needs (installed only when missing).
deps:
	@missing=""; \
	for p in libopenblas-dev libdlpack-dev cmake pkg-config; do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi

lib: deps
	$(SWIFT_RELEASE)
	@ln -sf libswiftfunc.so $(BUILD)/libswiftfunc.so.$(SOVERSION)

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

test: lib swift-test header-test symbol-test c-test asan-test python-test
	@echo "all test suites passed"

swift-test: deps
	swift test

## The public header compiles as C11 and C++17 with every warning an error.
header-test:
	@mkdir -p $(OUT)
	printf '#include "swiftfunc.h"\nint main(void) { return 0; }\n' > $(OUT)/header_c.c
	$(CC) -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude -c $(OUT)/header_c.c -o $(OUT)/header_c.o
	printf '#include "swiftfunc.h"\nint main() { return 0; }\n' > $(OUT)/header_cpp.cpp
	c++ -std=c++17 -Wall -Wextra -Werror -pedantic -Iinclude -c $(OUT)/header_cpp.cpp -o $(OUT)/header_cpp.o

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

## The Python package is tested from the source tree (no install): PYTHONPATH points at
## bindings/python and SWIFTFUNC_LIBRARY at the release library. The suite runs the examples too.
PYTHON_ENV := PYTHONPATH=$(CURDIR)/bindings/python SWIFTFUNC_LIBRARY=$(CURDIR)/$(LIB)
python-test: lib
	$(PYTHON_ENV) $(PYTHON) -m pytest -q Tests/python

## The main example: per-sample gradients by vmap(grad), next to a loop of grad, in C and in Python.
demo: lib $(OUT)/examples/per_sample_grads
	$(OUT)/examples/per_sample_grads
	$(PYTHON_ENV) $(PYTHON) bindings/python/examples/per_sample_grads.py

bench: lib
	$(MAKE) -C bench run

clean:
	rm -rf .build $(OUT)
