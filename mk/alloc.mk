## Allocation-failure injection (docs/testing.md): the sweep of Tests/hardening/test_allocation_failures.c
## against the ASan library of `make asan-lib`, the one build with the test-only hooks (-DSWIFTFUNC_TESTING).
ALLOC_TEST := $(OUT)/hardening/test_allocation_failures

$(ALLOC_TEST): Tests/hardening/test_allocation_failures.c include/swiftfunc.h $(wildcard Tests/c/*.h) | asan-lib
	@mkdir -p $(dir $@)
	$(SWIFT_CLANG) $(CFLAGS_TEST) -ITests/c -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	  -fno-omit-frame-pointer $< -o $@ -L$(ASAN_BUILD) -lswiftfunc -Wl,-rpath,$(CURDIR)/$(ASAN_BUILD) -lm

.PHONY: alloc-failure-test
alloc-failure-test: asan-lib $(ALLOC_TEST)
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp $(ALLOC_TEST)

HARDENING_TESTS += alloc-failure-test

## The release library carries none of the test-only hooks.
.PHONY: alloc-hooks-absent
alloc-hooks-absent: lib
	@if nm -D --defined-only $(LIB) | grep -q 'swiftfunc_testing_'; then \
	  echo "$(LIB) exports test-only hooks (swiftfunc_testing_*)"; exit 1; fi
	@echo "alloc-hooks-absent: $(LIB) exports no swiftfunc_testing_ symbol"

HARDENING_TESTS += alloc-hooks-absent
