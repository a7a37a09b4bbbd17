"""Shared setup of the Python suite.

`make python-test` runs it against the source tree: PYTHONPATH=bindings/python and
SWIFTFUNC_LIBRARY=.build/release/libswiftfunc.so (no installation needed). Run by hand, it uses an
installed `swiftfunc` if there is one, else the source tree (which finds the checkout's library).
"""
import gc
import importlib.util
import os
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PACKAGE_DIR = os.path.join(ROOT, "bindings", "python")

if importlib.util.find_spec("swiftfunc") is None:
    sys.path.insert(0, PACKAGE_DIR)

import swiftfunc  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore::FutureWarning:torch")  # torch's own deprecation notices


def optional_module(name):
    """The module if it imports, else None (torch and jax are optional)."""
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None


@pytest.fixture(autouse=True)
def _seeded():
    swiftfunc.manual_seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def settle():
    gc.collect()
