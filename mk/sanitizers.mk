## Sanitized library builds (docs/testing.md, "Sanitized library builds").
##   sanitizer-test: every C suite (Tests/c/test_*.c), the randomized driver (bounded), the shared-
##     handles thread test and the C examples, built with the toolchain's clang under ASan + UBSan,
##     linked against the ASan-instrumented library ($(ASAN_LIB), `make asan-lib`), run with
##     LeakSanitizer.
##   tsan-test: Tests/sanitizers/test_shared_threads.c and Tests/c/test_threads.c under
##     ThreadSanitizer against the TSan-instrumented library ($(TSAN_LIB), `make tsan-lib`).
.PHONY: sanitizer-test tsan-test

SAN_OUT := $(OUT)/asan-lib
TSAN_OUT := $(OUT)/tsan-lib
SAN_TEST_FLAGS := $(CFLAGS_TEST) -ITests/c

# UBSan on the C side: every check fatal (no recovery), so a report fails the program.
SAN_CFLAGS := $(SAN_TEST_FLAGS) -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# lld, the toolchain's linker: gold warns about every local symbol of the static ASan runtime.
SAN_LDFLAGS := -fuse-ld=lld -L$(ASAN_BUILD) -lswiftfunc -Wl,-rpath,$(CURDIR)/$(ASAN_BUILD) -lm
# halt_on_error: the first report ends the program with a failing status; detect_leaks: LSan at exit
# (Tests/lsan.supp suppresses nothing); strict init order and use-after-return catch more.
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:strict_init_order=1:detect_stack_use_after_return=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp
# The randomized driver's budget under ASan (about 1.5 minutes here); raise it with SAN_FUZZ_ITERS/BATCHES.
SAN_FUZZ_ITERS ?= 30000
SAN_FUZZ_BATCHES ?= 16

SAN_TESTS := $(patsubst Tests/c/%.c,$(SAN_OUT)/c/%,$(wildcard Tests/c/test_*.c)) $(SAN_OUT)/test_shared_threads
SAN_EXAMPLES := $(patsubst examples/c/%.c,$(SAN_OUT)/examples/%,$(wildcard examples/c/*.c))

$(SAN_OUT)/c/%: Tests/c/%.c include/swiftfunc.h $(wildcard Tests/c/*.h) | asan-lib
	@mkdir -p $(dir $@)
	$(SWIFT_CLANG) $(SAN_CFLAGS) $< -o $@ $(SAN_LDFLAGS)

$(SAN_OUT)/test_shared_threads: Tests/sanitizers/test_shared_threads.c include/swiftfunc.h $(wildcard Tests/c/*.h) | asan-lib
	@mkdir -p $(dir $@)
	$(SWIFT_CLANG) $(SAN_CFLAGS) $< -o $@ $(SAN_LDFLAGS) -lpthread

$(SAN_OUT)/examples/%: examples/c/%.c examples/c/example_util.h include/swiftfunc.h | asan-lib
	@mkdir -p $(dir $@)
	$(SWIFT_CLANG) $(SAN_CFLAGS) $< -o $@ $(SAN_LDFLAGS)

$(SAN_OUT)/asan_canary: Tests/sanitizers/asan_canary.c include/swiftfunc.h | asan-lib
	@mkdir -p $(dir $@)
	$(SWIFT_CLANG) $(SAN_CFLAGS) $< -o $@ $(SAN_LDFLAGS)

# First the canary: a read past a host buffer inside the library's sum kernel must be stopped by
# ASan in a SwiftFuncCore frame, which shows that the library really is instrumented.
sanitizer-test: $(SAN_OUT)/asan_canary $(SAN_TESTS) $(SAN_EXAMPLES)
	@echo "== $(SAN_OUT)/asan_canary (ASan must stop it inside the library)"; \
	if $(SAN_ENV) $(SAN_OUT)/asan_canary > $(SAN_OUT)/asan_canary.log 2>&1; then \
	  cat $(SAN_OUT)/asan_canary.log; exit 1; fi; \
	grep -q "ERROR: AddressSanitizer: heap-buffer-overflow" $(SAN_OUT)/asan_canary.log && \
	grep -q "#0 .* in .*SwiftFuncCore" $(SAN_OUT)/asan_canary.log || { cat $(SAN_OUT)/asan_canary.log; exit 1; }
	@set -e; for t in $(SAN_TESTS); do echo "== $$t (asan-lib)"; \
	  SF_FUZZ_ITERS=$(SAN_FUZZ_ITERS) SF_FUZZ_BATCHES=$(SAN_FUZZ_BATCHES) $(SAN_ENV) $$t; done
	@set -e; for e in $(SAN_EXAMPLES); do echo "== $$e (asan-lib)"; $(SAN_ENV) $$e >/dev/null; done

## ThreadSanitizer. Swift's TSan runtime carries libdispatch interceptors, so a C program linked
## with it needs the toolchain's libdispatch and BlocksRuntime (as swiftc links them for Swift).
SWIFT_RUNTIME_DIR := $(abspath $(dir $(SWIFT_CLANG))/../lib/swift/linux)
TSAN_CFLAGS := $(SAN_TEST_FLAGS) -fsanitize=thread -fno-omit-frame-pointer
TSAN_LDFLAGS := -fuse-ld=lld -L$(TSAN_BUILD) -lswiftfunc -Wl,-rpath,$(CURDIR)/$(TSAN_BUILD) \
	-L$(SWIFT_RUNTIME_DIR) -ldispatch -lBlocksRuntime -Wl,-rpath,$(SWIFT_RUNTIME_DIR) -lm -lpthread
# halt_on_error with a distinct exit code: the first report fails the run.
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1
TSAN_TESTS := $(TSAN_OUT)/test_shared_threads $(TSAN_OUT)/test_threads

$(TSAN_OUT)/test_shared_threads: Tests/sanitizers/test_shared_threads.c include/swiftfunc.h $(wildcard Tests/c/*.h) | tsan-lib
	@mkdir -p $(dir $@)
	$(SWIFT_CLANG) $(TSAN_CFLAGS) $< -o $@ $(TSAN_LDFLAGS)

$(TSAN_OUT)/test_threads: Tests/c/test_threads.c include/swiftfunc.h $(wildcard Tests/c/*.h) | tsan-lib
	@mkdir -p $(dir $@)
	$(SWIFT_CLANG) $(TSAN_CFLAGS) $< -o $@ $(TSAN_LDFLAGS)

# The library must carry TSan's instrumentation (its memory accesses call __tsan_read8 & co.).
tsan-test: $(TSAN_TESTS)
	@nm -D $(TSAN_LIB) | grep -q ' U __tsan_read8$$' || { echo "$(TSAN_LIB) is not instrumented by TSan"; exit 1; }
	@set -e; for t in $(TSAN_TESTS); do echo "== $$t (tsan-lib)"; $(TSAN_ENV) $$t; done

HARDENING_TESTS += sanitizer-test tsan-test
