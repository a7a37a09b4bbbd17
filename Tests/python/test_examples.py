"""The Python examples (bindings/python/examples) run as scripts and pass their own checks; without
torch their torch.func comparison is skipped, never failed."""
import os
import subprocess
import sys

import pytest

from conftest import PACKAGE_DIR

EXAMPLES_DIR = os.path.join(PACKAGE_DIR, "examples")
# The MPI example (dp_sgd_mpi.py) runs under mpirun in `make mpi-test` (Tests/check_mpi.sh).
EXAMPLES = sorted(f for f in os.listdir(EXAMPLES_DIR)
                  if f.endswith(".py") and not f.startswith("_") and not f.endswith("_mpi.py"))


#: Arguments that keep an example short in the suite (its own default is a longer run).
QUICK_ARGS = {"maml_adam.py": ["--steps", "40"]}


def run(script, extra_path=None):
    env = dict(os.environ)
    path = [p for p in (extra_path, env.get("PYTHONPATH")) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    return subprocess.run([sys.executable, os.path.join(EXAMPLES_DIR, script)] + QUICK_ARGS.get(script, []), env=env,
                          capture_output=True, text=True, timeout=600)


def test_every_example_is_listed():
    assert EXAMPLES == ["custom_function.py", "ensembling.py", "export_per_sample_grads.py", "gaussian_process.py",
                        "jacobians_hessians.py", "maml.py", "maml_adam.py", "neural_tangent_kernel.py",
                        "per_sample_grads.py", "per_sample_grads_cnn.py"]


@pytest.mark.parametrize("script", EXAMPLES)
def test_example(script):
    result = run(script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    assert result.stdout.count(" ok") >= 1, result.stdout


def test_examples_skip_torch_when_it_is_missing(tmp_path):
    (tmp_path / "torch.py").write_text("raise ImportError('torch is hidden for this test')\n")
    result = run("per_sample_grads.py", extra_path=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch.func comparison is skipped" in result.stdout
