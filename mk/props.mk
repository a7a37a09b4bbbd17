## Soak (docs/testing.md, "Soak"): one process making 100,000 iterations of vmap(grad), hessian, a
## custom function and DLPack round trips against the release library; resident memory must stay
## flat and every DLPack deleter run exactly once. SWIFTFUNC_SOAK_ITERATIONS=N runs longer (or shorter).
## Not under ASan: its quarantine and shadow memory would make the resident-memory figure meaningless.
## The Python property tests (Tests/python/test_properties.py) run within python-test.
.PHONY: soak-test

$(OUT)/hardening/test_soak: Tests/hardening/test_soak.c include/swiftfunc.h $(wildcard Tests/c/*.h) | lib
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -O2 -ITests/c $< -o $@ $(LDFLAGS_TEST)

soak-test: $(OUT)/hardening/test_soak
	$(OUT)/hardening/test_soak

HARDENING_TESTS += soak-test

## The property tests alone (they also run within python-test): `make props-test
## SWIFTFUNC_HYPOTHESIS_PROFILE=long` runs 1000 random examples per test instead of the bounded,
## derandomized default; SWIFTFUNC_HYPOTHESIS_EXAMPLES=N sets the count.
.PHONY: props-test
props-test: lib
	$(PYTHON_ENV) $(PYTHON) -m pytest -q Tests/python/test_properties.py
