"""`pip install ./bindings/python`, as the README tells users to (with build isolation, so pip fetches
the build requirements pyproject.toml declares), into a fresh virtual environment: the installed
package carries libswiftfunc.so and imports and works from outside the source tree without
SWIFTFUNC_LIBRARY or PYTHONPATH. SWIFTFUNC_LIBRARY at build time ships the already built library
(the README's documented way to ship a prebuilt one), so the test does not rebuild the Swift code.
The package directory is copied first because pip builds a local directory in place."""
import os
import shutil
import subprocess
import sys

import swiftfunc
from conftest import PACKAGE_DIR


def test_pip_install_into_a_fresh_venv_carries_the_library(tmp_path):
    source = tmp_path / "src" / "python"
    shutil.copytree(PACKAGE_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__",
                                                                        "libswiftfunc.so*"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    clean = {k: v for k, v in os.environ.items() if k not in ("SWIFTFUNC_LIBRARY", "PYTHONPATH", "PYTHONHOME",
                                                                   "VIRTUAL_ENV", "PIP_NO_BUILD_ISOLATION")}
    env = dict(clean, SWIFTFUNC_LIBRARY=swiftfunc.library_path(), PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run([python, "-m", "pip", "install", "--quiet", str(source)], env=env, capture_output=True,
                            text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    check = ("import swiftfunc; print(swiftfunc.library_path()); "
             "print(swiftfunc.func.grad(lambda x: (x * x).sum())(swiftfunc.ones(2)).tolist())")
    result = subprocess.run([python, "-c", check], env=clean, capture_output=True, text=True, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    path, grads = result.stdout.split("\n")[:2]
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], env=clean,
                          capture_output=True, text=True, check=True).stdout.strip()
    assert os.path.samefile(path, os.path.join(site, "swiftfunc", "libswiftfunc.so"))
    assert os.path.isfile(os.path.join(site, "swiftfunc", "nn", "functional.py"))
    assert os.path.isfile(os.path.join(site, "swiftfunc", "optim", "adam.py"))
    assert grads == "[2.0, 2.0]"
