"""Per-sample gradients of the torch.func tutorial's MNIST CNN, ported by renaming `torch` to
`swiftfunc`: conv 1->32 and 32->64 (3x3), F.max_pool2d, dropout-free fc 9216->128->10, log_softmax and
F.nll_loss; functional_call + vmap(grad) against a loop of grad, and against torch.func when torch
is installed (same weights, same data)."""
from _common import check, max_diff, seconds, sf, to_torch, torch_func

import swiftfunc.nn as nn
import swiftfunc.nn.functional as F
from swiftfunc.func import functional_call, grad, vmap

N = 64


class SimpleCNN(nn.Module):  # the tutorial's model, as written there
    def __init__(self):
        super(SimpleCNN, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = sf.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def loss_fn(predictions, targets):
    return F.nll_loss(predictions, targets)


def main():
    sf.manual_seed(0)
    model = SimpleCNN()
    data = sf.randn(N, 1, 28, 28)
    targets = sf.randint(10, (N,))
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def compute_loss(params, buffers, sample, target):
        batch = sample.unsqueeze(0)
        targets = target.unsqueeze(0)
        predictions = functional_call(model, (params, buffers), (batch,))
        return loss_fn(predictions, targets)

    ft_compute_sample_grad = vmap(grad(compute_loss), in_dims=(None, None, 0, 0))
    per_sample, t_vmap = seconds(ft_compute_sample_grad, params, buffers, data, targets)

    def loop(params, buffers, data, targets):
        return [grad(compute_loss)(params, buffers, data[i], targets[i]) for i in range(N)]

    looped, t_loop = seconds(loop, params, buffers, data, targets, repeats=1)
    print(f"per-sample gradients of the tutorial's MNIST CNN, batch {N}")
    print(f"  time: vmap(grad) {1e3 * t_vmap:.1f} ms, loop of grad {1e3 * t_loop:.1f} ms ({t_loop / t_vmap:.1f}x)")
    worst = max(max_diff(per_sample[name][i], looped[i][name]) for name in params for i in range(N))
    check("vmap(grad) vs loop", worst, 1e-5)

    torch = torch_func()
    if torch is not None:
        # The same network in torch, on the same weights and data.
        def tforward(p, x):
            x = torch.relu(torch.nn.functional.conv2d(x, p["conv1.weight"], p["conv1.bias"]))
            x = torch.relu(torch.nn.functional.conv2d(x, p["conv2.weight"], p["conv2.bias"]))
            x = torch.flatten(torch.nn.functional.max_pool2d(x, 2), 1)
            x = torch.relu(torch.nn.functional.linear(x, p["fc1.weight"], p["fc1.bias"]))
            return torch.nn.functional.log_softmax(torch.nn.functional.linear(x, p["fc2.weight"], p["fc2.bias"]), dim=1)

        def tloss(p, sample, target):
            return torch.nn.functional.nll_loss(tforward(p, sample.unsqueeze(0)), target.unsqueeze(0))

        tparams = {k: to_torch(torch, v).clone() for k, v in params.items()}
        reference = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0, 0))(
            tparams, to_torch(torch, data), to_torch(torch, targets))
        worst = max(max_diff(per_sample[name], reference[name].numpy()) for name in params)
        check("vmap(grad) vs torch.func", worst, 1e-5)


if __name__ == "__main__":
    main()
