## Coverage-guided fuzzing (issue 15, docs/testing.md "Coverage-guided fuzzing"): libFuzzer harnesses
## (Tests/fuzz/fuzz_*.c) built with the toolchain's clang, -fsanitize=fuzzer,address,undefined, against the
## ASan + coverage-instrumented library (asan-lib), so libFuzzer sees the library's edges (its inline
## 8-bit counters and PC table are registered by the .so's module constructor).
##   make fuzz FUZZ_SECONDS=600     each harness that long, on build/fuzz/corpus/<h> (seeded from the
##                                  committed corpus; new inputs accumulate there between runs)
##   make fuzz-test                 (in make test) replays the committed corpus and every regression
##                                  input, then fuzzes each harness FUZZ_TEST_RUNS inputs from the seeds
##                                  with a fixed seed: the same mutations on every machine, so a result
##                                  here is the result in CI (a time budget explores further on faster
##                                  machines and made CI find what no local run had); FUZZ_TEST_SECONDS
##                                  only caps a very slow machine
##   FUZZERS="ops"                  only some harnesses;  FUZZ_LIB_TARGET=  use the ASan library as built
## A crash, leak, sanitizer report or timeout leaves its input in build/fuzz/artifacts/ (replay it:
## build/fuzz/fuzz_<h> <file>); once fixed, it goes to Tests/fuzz/regressions/<h>/.
FUZZERS ?= dlpack ops transforms
FUZZ_SECONDS ?= 60
FUZZ_TEST_RUNS ?= 30000
FUZZ_TEST_SECONDS ?= 240
FUZZ_LIB_TARGET ?= asan-lib
FUZZ_OUT := $(OUT)/fuzz
FUZZ_BINS := $(patsubst %,$(FUZZ_OUT)/fuzz_%,$(FUZZERS))
FUZZ_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O1 -fno-omit-frame-pointer -Iinclude \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_LDFLAGS := -fuse-ld=lld -L$(ASAN_BUILD) -lswiftfunc -Wl,-rpath,$(CURDIR)/$(ASAN_BUILD) -lm
# -timeout: an input slower than this is a finding; -rss_limit_mb bounds the process (the harnesses also
# set the library's memory limit, so valid requests for gigabytes fail with SF_ERR_OUT_OF_MEMORY).
FUZZ_FLAGS := -timeout=20 -rss_limit_mb=3072 -max_len=4096 -print_final_stats=1
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1

.PHONY: fuzz fuzz-test fuzz-build

$(FUZZ_OUT)/fuzz_%: Tests/fuzz/fuzz_%.c Tests/fuzz/fuzz_common.h Tests/c/arena.h Tests/c/check.h \
		include/swiftfunc.h | $(FUZZ_LIB_TARGET)
	@mkdir -p $(dir $@)
	$(SWIFT_CLANG) $(FUZZ_CFLAGS) $< -o $@ $(FUZZ_LDFLAGS)

fuzz-build: $(FUZZ_BINS)

## Each harness FUZZ_SECONDS on its corpus copy; the stats libFuzzer prints at the end are in
## build/fuzz/<h>.log (the last lines: executions, exec/s, cov, ft, corpus size).
fuzz: $(FUZZ_BINS)
	@set -e; mkdir -p $(FUZZ_OUT)/artifacts; for h in $(FUZZERS); do \
	  corpus=$(FUZZ_OUT)/corpus/$$h; mkdir -p $$corpus; cp Tests/fuzz/corpus/$$h/* $$corpus/; \
	  echo "== fuzz_$$h for $(FUZZ_SECONDS) s (corpus $$corpus, log $(FUZZ_OUT)/$$h.log)"; \
	  $(FUZZ_ENV) $(FUZZ_OUT)/fuzz_$$h $$corpus -dict=Tests/fuzz/$$h.dict $(FUZZ_FLAGS) \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_OUT)/artifacts/$$h- >$(FUZZ_OUT)/$$h.log 2>&1 \
	    || { tail -60 $(FUZZ_OUT)/$$h.log; exit 1; }; \
	  grep -E '(DONE|INITED) +cov|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_OUT)/$$h.log | tail -3; \
	done

## Bounded: replay, then a short fixed-seed run of FUZZ_TEST_RUNS inputs (10-30 s per harness here).
fuzz-test: $(FUZZ_BINS)
	@set -e; mkdir -p $(FUZZ_OUT)/artifacts; for h in $(FUZZERS); do \
	  inputs=$$(find Tests/fuzz/corpus/$$h Tests/fuzz/regressions/$$h -type f 2>/dev/null | sort); \
	  echo "== fuzz_$$h: replaying $$(echo "$$inputs" | grep -c .) committed inputs"; \
	  $(FUZZ_ENV) $(FUZZ_OUT)/fuzz_$$h $(FUZZ_FLAGS) $$inputs >$(FUZZ_OUT)/$$h-replay.log 2>&1 \
	    || { tail -60 $(FUZZ_OUT)/$$h-replay.log; exit 1; }; \
	  corpus=$(FUZZ_OUT)/test-corpus/$$h; rm -rf $$corpus; mkdir -p $$corpus; cp Tests/fuzz/corpus/$$h/* $$corpus/; \
	  echo "== fuzz_$$h: fuzzing $(FUZZ_TEST_RUNS) inputs"; \
	  $(FUZZ_ENV) $(FUZZ_OUT)/fuzz_$$h $$corpus -dict=Tests/fuzz/$$h.dict $(FUZZ_FLAGS) -seed=1 \
	    -runs=$(FUZZ_TEST_RUNS) -max_total_time=$(FUZZ_TEST_SECONDS) -artifact_prefix=$(FUZZ_OUT)/artifacts/$$h- \
	    >$(FUZZ_OUT)/$$h-test.log 2>&1 || { tail -60 $(FUZZ_OUT)/$$h-test.log; exit 1; }; \
	  grep -E '(DONE|INITED) +cov|^stat::(number_of_executed_units|average_exec_per_sec)' $(FUZZ_OUT)/$$h-test.log | tail -3; \
	done
	@echo "fuzz-test: $(words $(FUZZERS)) harnesses passed (replay + $(FUZZ_TEST_RUNS) inputs each)"

HARDENING_TESTS += fuzz-test
