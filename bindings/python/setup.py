"""Build step of the swiftfunc Python package: put libswiftfunc.so inside the package.

The library comes from $SWIFTFUNC_LIBRARY when it is set (a prebuilt library), else from the
repository this directory belongs to, built with `make lib` (SwiftPM, release, Swift runtime linked
statically). The wheel is tagged py3-none-<platform>: pure Python, but it carries a native library.
"""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIBRARY = "libswiftfunc.so"


def library():
    """The libswiftfunc.so to ship: $SWIFTFUNC_LIBRARY, else the repository's release build."""
    override = os.environ.get("SWIFTFUNC_LIBRARY")
    if override:
        path = Path(override)
        if not path.is_file():
            raise RuntimeError(f"SWIFTFUNC_LIBRARY={override} is not a file")
        return path
    if (REPO / "Package.swift").is_file():
        print(f"building libswiftfunc with `make lib` in {REPO}", flush=True)
        subprocess.check_call(["make", "lib"], cwd=REPO)
        return REPO / ".build" / "release" / LIBRARY
    shipped = HERE / "swiftfunc" / LIBRARY
    if shipped.is_file():
        return shipped
    raise RuntimeError("cannot find libswiftfunc.so: build from the swiftfunc repository (bindings/python) or set "
                       "SWIFTFUNC_LIBRARY to a built library")


class BuildPy(build_py):
    """build_py that also copies libswiftfunc.so into the built package."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "swiftfunc" / LIBRARY
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library(), target)
        os.chmod(target, 0o755)


class PlatformWheel(bdist_wheel):
    """A py3-none-<platform> wheel: no Python extension, but a native library inside."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(cmdclass={"build_py": BuildPy, "bdist_wheel": PlatformWheel})
