"""Shared fixtures for the Python tests: the library loaded once per session through ctypes."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import sfdl  # noqa: E402


@pytest.fixture(scope="session")
def lib():
    """libswiftfunc from $SWIFTFUNC_LIBRARY (set by `make python-test`)."""
    if not os.environ.get("SWIFTFUNC_LIBRARY"):
        pytest.fail("SWIFTFUNC_LIBRARY is not set; run `make python-test`")
    return sfdl.load_library()
