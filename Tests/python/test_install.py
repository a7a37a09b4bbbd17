"""`pip install` of bindings/python gives a package that carries libswiftfunc.so and imports without
SWIFTFUNC_LIBRARY. The build uses the already built library (SWIFTFUNC_LIBRARY at build time) and no
build isolation, so the test needs no network and no Swift rebuild; a copy of the package directory is
installed so that the source tree stays clean."""
import os
import shutil
import subprocess
import sys

import pytest

import swiftfunc
from conftest import PACKAGE_DIR


def test_pip_install_carries_the_library(tmp_path):
    pytest.importorskip("setuptools")
    source = tmp_path / "src"
    shutil.copytree(PACKAGE_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__",
                                                                        "libswiftfunc.so*"))
    target = tmp_path / "site"
    env = dict(os.environ, SWIFTFUNC_LIBRARY=swiftfunc.library_path(), PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--quiet",
                             "--target", str(target), str(source)], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    bundled = target / "swiftfunc" / "libswiftfunc.so"
    assert bundled.is_file()
    assert (target / "swiftfunc" / "nn" / "functional.py").is_file()
    env = {k: v for k, v in os.environ.items() if k not in ("SWIFTFUNC_LIBRARY", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    check = "import swiftfunc; print(swiftfunc.library_path()); print(swiftfunc.func.grad(lambda x: (x * x).sum())(swiftfunc.ones(2)).tolist())"
    result = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path, grads = result.stdout.split("\n")[:2]
    assert os.path.samefile(path, bundled)
    assert grads == "[2.0, 2.0]"
