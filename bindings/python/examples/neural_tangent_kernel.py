"""Empirical neural tangent kernel of a small CNN (the torch.func tutorial "Neural Tangent Kernels"):
NTK(x1, x2) = J(x1) J(x2)^T with J the Jacobian of the outputs with respect to all parameters.
Computed two ways — contracting per-sample Jacobians from vmap(jacrev), and NTK-vector products from
vmap over jvp of vjp — checked against each other, against a loop of plain jacrev, and against
torch.func when torch is installed."""
import numpy as np

from _common import check, max_diff, seconds, sf, to_torch, torch_func, values

import swiftfunc.nn as nn
from swiftfunc.func import functional_call, jacrev, jvp, vjp, vmap

N1, N2, OUT = 5, 4, 10


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3)
        self.conv2 = nn.Conv2d(8, 8, 3)
        self.fc = nn.Linear(8 * 4 * 4, OUT)

    def forward(self, x):
        x = sf.relu(self.conv1(x))
        x = sf.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def ntk_from_jacobians(jac1, jac2):
    """sum over parameters of J1[n1, o1, p] J2[n2, o2, p] -> [n1, n2, o1, o2]."""
    total = None
    for name in jac1:
        n1, n2 = jac1[name].shape[0], jac2[name].shape[0]
        a = jac1[name].reshape(n1 * OUT, -1)
        b = jac2[name].reshape(n2 * OUT, -1)
        block = (a @ b.T).reshape(n1, OUT, n2, OUT).permute(0, 2, 1, 3)
        total = block if total is None else total + block
    return total


def main():
    sf.manual_seed(3)
    net = CNN()
    params = {k: p.detach().to(sf.float64) for k, p in net.named_parameters()}
    x1 = sf.randn(N1, 3, 8, 8, dtype=sf.float64)
    x2 = sf.randn(N2, 3, 8, 8, dtype=sf.float64)

    def f(params, x):  # one sample -> [OUT]
        return functional_call(net, params, (x.unsqueeze(0),)).squeeze(0)

    def by_jacobians(params, x1, x2):
        jac1 = vmap(jacrev(f), (None, 0))(params, x1)
        jac2 = vmap(jacrev(f), (None, 0))(params, x2)
        return ntk_from_jacobians(jac1, jac2)

    def by_products(params, x1, x2):
        def ntk(a, b):
            out, vjp_fn = vjp(lambda p: f(p, a), params)

            def slice_(vec):  # J(a)^T vec, pushed forward through J(b)
                (cotangent,) = vjp_fn(vec)
                return jvp(lambda p: f(p, b), (params,), (cotangent,))[1]

            return vmap(slice_)(sf.eye(out.numel(), dtype=out.dtype))
        return vmap(vmap(ntk, (None, 0)), (0, None))(x1, x2)

    kernel, t_jac = seconds(by_jacobians, params, x1, x2)
    products, t_prod = seconds(by_products, params, x1, x2)
    print(f"empirical NTK of a CNN on {N1} x {N2} images: {kernel.shape}")
    print(f"  time: Jacobian contraction {1e3 * t_jac:.1f} ms, NTK-vector products {1e3 * t_prod:.1f} ms")
    check("Jacobian contraction vs NTK-vector products", max_diff(kernel, products), 1e-10)

    def flat_jacobian(x):  # loop reference: plain jacrev per sample, flattened in numpy
        jac = jacrev(f)(params, x)
        return np.concatenate([values(jac[k]).reshape(OUT, -1) for k in params], axis=1)

    loop = np.stack([np.stack([flat_jacobian(x1[i]) @ flat_jacobian(x2[j]).T for j in range(N2)]) for i in range(N1)])
    check("vmap(jacrev) NTK vs a loop of jacrev", max_diff(kernel, loop), 1e-10)
    eigenvalues = np.linalg.eigvalsh(values(by_jacobians(params, x1, x1)).transpose(0, 2, 1, 3).reshape(N1 * OUT, -1))
    check("NTK(x, x) is positive semi-definite", max(0.0, -eigenvalues.min()), 1e-8)

    torch = torch_func()
    if torch is not None:
        tnet = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3),
                                   torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(128, OUT)).double()
        names = {"conv1.weight": "0.weight", "conv1.bias": "0.bias", "conv2.weight": "2.weight",
                 "conv2.bias": "2.bias", "fc.weight": "5.weight", "fc.bias": "5.bias"}
        tparams = {names[k]: to_torch(torch, p) for k, p in params.items()}

        def tf(p, x):
            return torch.func.functional_call(tnet, p, (x.unsqueeze(0),)).squeeze(0)

        j1 = torch.func.vmap(torch.func.jacrev(tf), (None, 0))(tparams, to_torch(torch, x1))
        j2 = torch.func.vmap(torch.func.jacrev(tf), (None, 0))(tparams, to_torch(torch, x2))
        reference = sum(torch.einsum("Naf,Mbf->NMab", j1[k].flatten(2), j2[k].flatten(2)) for k in j1)
        check("NTK vs torch.func", max_diff(kernel, reference.numpy()), 1e-10)


if __name__ == "__main__":
    main()
