"""Per-sample gradients of an MLP with cross-entropy: vmap(grad(loss)) against a loop of grad
(the torch.func tutorial "Per-sample gradients"), and against torch.func when torch is installed."""
from _common import check, max_diff, seconds, sf, to_torch, torch_func, values

import swiftfunc.nn.functional as F
from swiftfunc.func import functional_call, grad, vmap

D, H, C, N = 784, 128, 10, 64


def main():
    sf.manual_seed(42)
    model = sf.nn.Sequential(sf.nn.Linear(D, H), sf.nn.ReLU(), sf.nn.Linear(H, C))
    params = {name: p.detach() for name, p in model.named_parameters()}
    x = sf.randn(N, D)
    y = sf.randint(0, C, (N,))

    def loss(params, sample, target):
        logits = functional_call(model, params, (sample.unsqueeze(0),))
        return F.cross_entropy(logits, target.unsqueeze(0))

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
    per_sample(params, x, y)  # warm up (learns the output structure)
    batched, t_vmap = seconds(per_sample, params, x, y)

    def loop(params, x, y):
        return [grad(loss)(params, x[i], y[i]) for i in range(N)]

    looped, t_loop = seconds(loop, params, x, y)
    print(f"per-sample gradients of a {D}-{H}-{C} MLP, batch {N}")
    print(f"  d loss_0 / d bias[0:4]  vmap(grad): {values(batched['2.bias'][0])[:4].round(6)}")
    print(f"                          loop of grad: {values(looped[0]['2.bias'])[:4].round(6)}")
    print(f"  time: vmap(grad) {1e3 * t_vmap:.2f} ms, loop of grad {1e3 * t_loop:.2f} ms ({t_loop / t_vmap:.1f}x)")
    worst = max(max_diff(batched[name][i], looped[i][name]) for name in params for i in range(N))
    check("vmap(grad) vs loop", worst, 1e-5)

    torch = torch_func()
    if torch is not None:
        tmodel = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, C))
        tparams = {name: to_torch(torch, p).clone() for name, p in params.items()}

        def tloss(params, sample, target):
            logits = torch.func.functional_call(tmodel, params, (sample.unsqueeze(0),))
            return torch.nn.functional.cross_entropy(logits, target.unsqueeze(0))

        reference = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
            tparams, to_torch(torch, x), to_torch(torch, y))
        worst = max(max_diff(batched[name], reference[name].numpy()) for name in params)
        check("vmap(grad) vs torch.func", worst, 1e-5)


if __name__ == "__main__":
    main()
