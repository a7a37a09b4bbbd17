"""A numpy kernel made differentiable: one step of a 1-D reaction-diffusion simulator written in numpy,
wrapped as a swiftfunc.autograd.Function with numpy backward (VJP), jvp and vmap rules. swiftfunc
never looks inside the kernel; grad, jvp, vmap and vmap(grad) treat it as one operation. Checked
against finite differences of the kernel, and against torch.func on the same step when torch is
installed."""
import numpy as np

from _common import check, max_diff, sf, to_torch, torch_func

from swiftfunc.autograd.function import once_differentiable
from swiftfunc.func import grad, jacfwd, jacrev, jvp, vmap, vmap_fallback_count

DT = 0.1


def step_kernel(u):
    """u + dt * (laplacian(u) - u^3), periodic, along the last axis (numpy: any leading batch dims)."""
    laplacian = np.roll(u, 1, axis=-1) - 2 * u + np.roll(u, -1, axis=-1)
    return u + DT * (laplacian - u ** 3)


def step_linearized(u, v):
    """The step's Jacobian at u applied to v (it is symmetric, so also its transpose)."""
    laplacian = np.roll(v, 1, axis=-1) - 2 * v + np.roll(v, -1, axis=-1)
    return v + DT * (laplacian - 3 * u ** 2 * v)


class Step(sf.autograd.Function):
    """The numpy step as a custom function: every rule reads zero-copy numpy views (x.numpy())."""

    @staticmethod
    def forward(u):
        return step_kernel(u.numpy())

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    @once_differentiable  # reads data with numpy: differentiable once (as torch's decorator)
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return step_linearized(u.numpy(), g.numpy())

    @staticmethod
    @once_differentiable
    def jvp(ctx, t):
        (u,) = ctx.saved_tensors
        return step_linearized(u.numpy(), t.numpy())

    @staticmethod
    def vmap(info, in_dims, u):
        # The kernel works along the last axis: move the batch to the front and run it once.
        batched = np.moveaxis(u.numpy(), in_dims[0], 0)
        return step_kernel(batched), 0


def energy(u):
    """A scalar of the state after three steps."""
    for _ in range(3):
        u = Step.apply(u)
    return (u * u).sum()


def numpy_energy(u):
    for _ in range(3):
        u = step_kernel(u)
    return float((u * u).sum())


def finite_difference_gradient(u, h=1e-6):
    g = np.zeros_like(u)
    for i in range(u.size):
        e = np.zeros_like(u)
        e.flat[i] = h
        g.flat[i] = (numpy_energy(u + e) - numpy_energy(u - e)) / (2 * h)
    return g


def main():
    rng = np.random.default_rng(0)
    u0 = rng.standard_normal(8)
    batch = rng.standard_normal((5, 8))
    u = sf.tensor(u0)

    print("a numpy simulator step as a swiftfunc custom function")
    g = grad(energy)(u)
    check("grad vs finite differences", max_diff(g, finite_difference_gradient(u0)), 1e-6)

    tangent = rng.standard_normal(8)
    _, directional = jvp(energy, (u,), (sf.tensor(tangent),))
    check("jvp vs grad . tangent", abs(float(directional) - float(np.dot(g.numpy(), tangent))), 1e-9)
    check("jacfwd vs jacrev of one step", max_diff(jacfwd(Step.apply)(u), jacrev(Step.apply)(u)), 1e-12)

    before = vmap_fallback_count()
    stepped = vmap(Step.apply)(sf.tensor(batch))
    check("vmap (batching rule) vs the kernel", max_diff(stepped, step_kernel(batch)), 1e-12)
    print(f"  loops over the batch for lack of a batching rule: {vmap_fallback_count() - before}")

    per_example = vmap(grad(energy))(sf.tensor(batch))
    expected = np.stack([finite_difference_gradient(row) for row in batch])
    check("vmap(grad) vs finite differences", max_diff(per_example, expected), 1e-6)

    try:
        grad(lambda u: grad(energy)(u).sum())(u)
        raise SystemExit("custom_function.py: differentiating the numpy backward again should fail")
    except sf.TransformError as error:
        print(f"  grad of grad is refused, as it should be: {str(error)[:90]}... ok")

    torch = torch_func()
    if torch is not None:
        def torch_energy(v):
            for _ in range(3):
                v = v + DT * (torch.roll(v, 1, -1) - 2 * v + torch.roll(v, -1, -1) - v ** 3)
            return (v * v).sum()

        reference = torch.func.vmap(torch.func.grad(torch_energy))(to_torch(torch, sf.tensor(batch)))
        check("vmap(grad) vs torch.func", max_diff(per_example, reference.numpy()), 1e-10)


if __name__ == "__main__":
    main()
