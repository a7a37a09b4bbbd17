"""Model ensembling: the predictions of 8 MLPs in one vmap over their stacked parameters
(stack_module_state + functional_call), against a loop over the models (the torch.func tutorial
"Model ensembling"), and against torch.func when torch is installed."""
from _common import check, max_diff, seconds, sf, to_torch, torch_func

from swiftfunc.func import functional_call, stack_module_state, vmap

M, D, H, C, N = 8, 784, 128, 10, 64


def make_model():
    return sf.nn.Sequential(sf.nn.Linear(D, H), sf.nn.ReLU(), sf.nn.Linear(H, C))


def main():
    sf.manual_seed(0)
    models = [make_model() for _ in range(M)]
    params, buffers = stack_module_state(models)
    base = make_model()
    x = sf.randn(N, D)

    def predict(params, buffers, x):
        return functional_call(base, (params, buffers), (x,))

    same_batch = vmap(predict, in_dims=(0, 0, None))
    same_batch(params, buffers, x)
    ensemble, t_vmap = seconds(same_batch, params, buffers, x)
    looped, t_loop = seconds(lambda: [m(x) for m in models])
    print(f"ensemble of {M} MLPs ({D}-{H}-{C}) on a batch of {N}: predictions {ensemble.shape}")
    print(f"  time: vmap {1e3 * t_vmap:.2f} ms, loop {1e3 * t_loop:.2f} ms")
    check("vmap vs loop (same minibatch)", max(max_diff(ensemble[i], looped[i]) for i in range(M)), 1e-5)

    # a different minibatch per model: map over the data too
    xs = sf.randn(M, N, D)
    different = vmap(predict)(params, buffers, xs)
    check("vmap vs loop (one minibatch per model)", max(max_diff(different[i], models[i](xs[i])) for i in range(M)), 1e-5)

    torch = torch_func()
    if torch is not None:
        tbase = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, C))
        tparams = {k: to_torch(torch, p) for k, p in params.items()}
        reference = torch.func.vmap(lambda p, x: torch.func.functional_call(tbase, p, (x,)), in_dims=(0, None))(
            tparams, to_torch(torch, x))
        check("vmap vs torch.func", max_diff(ensemble, reference.numpy()), 1e-5)


if __name__ == "__main__":
    main()
