## Allocation-failure injection (docs/testing.md): the sweep of Tests/hardening/test_allocation_failures.c
## against the ASan library of `make asan-lib`, the one build with the test-only hooks (-DSWIFTFUNC_TESTING).
ALLOC_TEST := $(OUT)/hardening/test_allocation_failures

$(ALLOC_TEST): Tests/hardening/test_allocation_failures.c include/swiftfunc.h $(wildcard Tests/c/*.h) | asan-lib
	@mkdir -p $(dir $@)
	$(SWIFT_CLANG) $(CFLAGS_TEST) -ITests/c -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	  -fno-omit-frame-pointer $< -o $@ -L$(ASAN_BUILD) -lswiftfunc -Wl,-rpath,$(CURDIR)/$(ASAN_BUILD) -lm

.PHONY: alloc-failure-test
alloc-failure-test: $(ALLOC_TEST)
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp $(ALLOC_TEST)

HARDENING_TESTS += alloc-failure-test
