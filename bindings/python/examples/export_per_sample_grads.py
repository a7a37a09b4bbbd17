"""Export for C: per-sample gradients vmap(grad(loss)) of a small MLP, its weights captured in the
file, saved with inputs and the expected gradients; examples/c/run_exported.c loads the file and
recomputes them with no Python (`make export-example` runs both). Usage:
    export_per_sample_grads.py [OUT_DIR]   writes per_sample_grads.sfx, inputs.bin, expected.bin
The .bin files hold tensors: uint32 count, then per tensor uint32 dtype (sf_dtype), uint32 ndim,
int64 shape[ndim] and the little-endian elements."""
import os
import struct
import sys
import tempfile

import numpy as np
from _common import check, max_diff, sf

import swiftfunc.nn.functional as F
from swiftfunc.func import deserialize, export, grad, vmap

D, H, C, N = 8, 16, 3, 6
DTYPES = {np.dtype(np.float64): 1, np.dtype(np.int64): 3}


def write_tensors(path, tensors):
    with open(path, "wb") as file:
        file.write(struct.pack("<I", len(tensors)))
        for t in tensors:
            a = np.ascontiguousarray(t._copy_values())
            file.write(struct.pack("<II", DTYPES[a.dtype], a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape))
            file.write(a.astype(a.dtype.newbyteorder("<")).tobytes())


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="swiftfunc_export_")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(0)
    params = {"w1": sf.tensor(rng.normal(size=(D, H)) / D ** 0.5), "b1": sf.tensor(rng.normal(size=H) * 0.1),
              "w2": sf.tensor(rng.normal(size=(H, C)) / H ** 0.5), "b2": sf.tensor(rng.normal(size=C) * 0.1)}
    x = sf.tensor(rng.normal(size=(N, D)))
    y = sf.tensor(np.arange(N) % C)

    def loss(params, sample, target):
        hidden = F.relu(sample.unsqueeze(0) @ params["w1"] + params["b1"])
        return F.cross_entropy(hidden @ params["w2"] + params["b2"], target.unsqueeze(0))

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))

    def per_sample_grads(x, y):  # the weights are captured: they become constants of the file
        return per_sample(params, x, y)

    exported = export(per_sample_grads)(x, y)
    path = os.path.join(out_dir, "per_sample_grads.sfx")
    exported.save(path)
    expected = per_sample_grads(x, y)
    write_tensors(os.path.join(out_dir, "inputs.bin"), [x, y])
    write_tensors(os.path.join(out_dir, "expected.bin"), [expected[k] for k in ("w1", "b1", "w2", "b2")])
    print(f"exported vmap(grad(loss)) of a {D}-{H}-{C} MLP to {path} ({len(exported.serialize())} bytes)")

    reloaded = deserialize(exported.serialize())(x, y)
    check("reloaded in Python vs eager", max(max_diff(reloaded[k], expected[k]) for k in expected), 1e-12)


if __name__ == "__main__":
    main()
