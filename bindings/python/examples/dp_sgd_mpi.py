"""Differentially private SGD (DP-SGD) of a small MLP on scikit-learn's digits, data-parallel over MPI.

Every step, each MPI process (rank) takes its share of the batch, computes the per-sample gradients
with vmap(grad(loss)) over functional_call, clips each sample's gradient to norm <= --clip and sums
them. The sums of all ranks are added with mpi4py's Allreduce, which reads the swiftfunc tensor's
memory through DLPack and writes into a numpy buffer that swiftfunc then views, again through
DLPack: no copy on either side (the script checks the data pointers). Every rank then adds the same
Gaussian noise (the same seed) and takes the same step, so all ranks hold identical parameters and
the result does not depend on the number of processes. The privacy spent (epsilon at --delta) comes
from Google's dp-accounting (Renyi DP accountant), for Poisson sampling of the batches.

    mpirun -np 2 python bindings/python/examples/dp_sgd_mpi.py          # rank 0 prints progress

--steps K stops after K steps, --save writes the final parameters (for the tests, which compare
-np 1 with -np 2), --fail-rank/--fail-step make one rank raise to show that the job then ends.
"""
import argparse
import sys
import time
import traceback

import numpy as np
from _common import check, sf

import swiftfunc.nn.functional as F
from mpi4py import MPI
from swiftfunc.func import functional_call, grad, vmap


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=float, default=15, help="passes over the training set (in expectation)")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--batch-size", type=int, default=64, help="expected batch size (Poisson sampling)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--clip", type=float, default=1.0, help="per-sample gradient norm bound C")
    p.add_argument("--sigma", type=float, default=1.5, help="noise multiplier: noise std = sigma * C")
    p.add_argument("--delta", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="swiftfunc/OpenBLAS threads per rank")
    p.add_argument("--min-accuracy", type=float, default=None, help="fail below this test accuracy")
    p.add_argument("--save", help="rank 0 writes the final parameters here (.npz)")
    p.add_argument("--fail-rank", type=int, default=None, help="this rank raises at --fail-step")
    p.add_argument("--fail-step", type=int, default=2)
    return p.parse_args()


def load_digits():
    """The 1,797 8x8 digit images shipped with scikit-learn, pixels scaled to [0, 1]. Every fifth
    image is held out for testing (examples/mpi/dp_sgd.c splits its copy of the data the same way)."""
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    test = np.arange(len(y)) % 5 == 0
    return x[~test], y[~test], x[test], y[test]


def data_ptr(array):
    """The address of the first element of anything that exports DLPack (swiftfunc or numpy)."""
    return np.from_dlpack(array).ctypes.data


def epsilon(q, sigma, steps, delta):
    """epsilon of `steps` Poisson-subsampled Gaussian mechanisms (rate q, noise multiplier sigma)."""
    import dp_accounting

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    return dp_accounting.rdp.RdpAccountant().compose(event).get_epsilon(delta)


def main(args, comm):
    rank, size = comm.Get_rank(), comm.Get_size()
    sf.set_num_threads(args.threads)  # one rank per core is the usual MPI layout
    x_train, y_train, x_test, y_test = load_digits()
    n = len(y_train)

    # The same seed on every rank: the same initial parameters, the same batches, the same noise.
    sf.manual_seed(args.seed)
    model = sf.nn.Sequential(sf.nn.Linear(64, args.hidden), sf.nn.ReLU(), sf.nn.Linear(args.hidden, 10))
    params = {name: p.detach() for name, p in model.named_parameters()}
    shapes = {name: p.shape for name, p in params.items()}
    sizes = {name: p.numel() for name, p in params.items()}
    count = sum(sizes.values())
    batches = np.random.default_rng(args.seed)

    def loss(params, sample, target):
        logits = functional_call(model, params, (sample.unsqueeze(0),))
        return F.cross_entropy(logits, target.unsqueeze(0))

    per_sample_grads = vmap(grad(loss), in_dims=(None, 0, 0))

    def clipped_sum(params, xs, ys):
        """sum_i g_i * min(1, C / |g_i|) over this rank's samples, flattened into one float32 vector."""
        if len(ys) == 0:
            return sf.zeros(count)
        grads = per_sample_grads(params, sf.tensor(xs), sf.tensor(ys))
        squares = sum(g.reshape(len(ys), -1).square().sum(1) for g in grads.values())
        scale = (args.clip / (squares.sqrt() + 1e-6)).clamp(max=1.0)
        return sf.cat([(g * scale.reshape((-1,) + (1,) * (g.dim() - 1))).sum(0).reshape(-1)
                       for g in grads.values()])

    q = args.batch_size / n
    steps = args.steps if args.steps is not None else int(round(args.epochs / q))
    per_epoch = int(round(1 / q))
    if rank == 0:
        print(f"DP-SGD of a 64-{args.hidden}-10 MLP ({count} parameters) on digits: {n} training and "
              f"{len(y_test)} test images, {size} process(es), {steps} steps")
        print(f"  batches: Poisson sampling, rate {q:.4f} (expected size {args.batch_size}); "
              f"clip {args.clip}, noise multiplier {args.sigma}, lr {args.lr}")
    # Per step: seconds, of them in Allreduce (waiting for the other ranks included), and the CPU
    # seconds of everything else (the work itself: unlike the wall time, it does not grow when other
    # programs share the cores).
    times, waits, work = [], [], []
    for step in range(1, steps + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        if step == args.fail_step and rank == args.fail_rank:
            raise RuntimeError(f"rank {rank} fails at step {step} (--fail-rank {rank})")
        batch = np.flatnonzero(batches.random(n) < q)  # the same draw on every rank
        mine = batch[rank::size]
        local = clipped_sum(params, x_train[mine], y_train[mine])

        # The combination: MPI reads the swiftfunc tensor's memory (mpi4py takes it through DLPack)
        # and writes the sum into `total`, which swiftfunc then views through DLPack. A fresh buffer
        # each step: swiftfunc tensors never change, and the previous step's view may still be alive.
        total = np.empty(count, dtype=np.float32)
        reduce_start, cpu_before = time.perf_counter(), time.process_time()
        comm.Allreduce(local, total, op=MPI.SUM)
        waits.append(time.perf_counter() - reduce_start)
        cpu_after = time.process_time()
        summed = sf.from_dlpack(total)
        if step == 1:
            # Zero-copy, shown: the address MPI was given is the tensor's own, and the tensor that
            # swiftfunc made of the result views MPI's receive buffer.
            if MPI.buffer(local).address != data_ptr(local):
                raise RuntimeError("mpi4py did not read the swiftfunc tensor's memory")
            if data_ptr(summed) != total.ctypes.data:
                raise RuntimeError("swiftfunc copied the received sum")
            if rank == 0:
                print(f"  zero-copy: MPI reads the tensor at 0x{data_ptr(local):x} and swiftfunc views "
                      f"MPI's result at 0x{total.ctypes.data:x} ok")

        # Same seed on every rank, same sequence of draws: the same noise everywhere.
        noisy = (summed + args.sigma * args.clip * sf.randn(count)) / args.batch_size
        offset = 0
        for name in params:
            piece = noisy[offset:offset + sizes[name]].reshape(shapes[name])
            params[name] = params[name] - args.lr * piece
            offset += sizes[name]
        times.append(time.perf_counter() - start)
        work.append(cpu_before - cpu_start + time.process_time() - cpu_after)
        if rank == 0 and (step % per_epoch == 0 or step == steps):
            print(f"  step {step:4d} (epoch {step * q:5.1f}): test accuracy {accuracy(model, params, x_test, y_test):.3f}"
                  f", epsilon {epsilon(q, args.sigma, step, args.delta):.2f}", flush=True)

    # Data parallelism must leave every rank with the same parameters.
    flat = np.concatenate([params[name].numpy().reshape(-1) for name in params])
    reference = comm.bcast(flat if rank == 0 else None, root=0)
    worst = comm.allreduce(float(np.max(np.abs(flat - reference))), op=MPI.MAX)
    if rank != 0:
        return
    check("every rank's parameters vs rank 0's", worst, 1e-6)
    final = accuracy(model, params, x_test, y_test)
    eps = epsilon(q, args.sigma, steps, args.delta)
    step_ms, wait_ms, work_ms = (1e3 * float(np.median(t[1:] if len(t) > 1 else t)) for t in (times, waits, work))
    print(f"  test accuracy {final:.3f} at epsilon {eps:.2f} (delta {args.delta:g})")
    print(f"  median step {step_ms:.2f} ms on {size} process(es): Allreduce {wait_ms:.2f} ms, "
          f"work {work_ms:.2f} ms of CPU")
    if args.min_accuracy is not None and final < args.min_accuracy:
        raise SystemExit(f"dp_sgd_mpi.py: test accuracy {final:.3f} is below --min-accuracy {args.min_accuracy}")
    if args.save:
        np.savez(args.save, **{name: p.numpy() for name, p in params.items()})


def accuracy(model, params, x, y):
    logits = functional_call(model, params, (sf.tensor(x),))
    return float((logits.argmax(1).numpy() == y).mean())


if __name__ == "__main__":
    comm = MPI.COMM_WORLD
    try:
        main(parse_args(), comm)
    except SystemExit as exit:
        if exit.code not in (None, 0):
            print(exit.code, file=sys.stderr, flush=True)
            comm.Abort(1)
        raise
    except BaseException:  # noqa: BLE001 - any failure must end every rank
        # An exception on one rank would leave the others waiting in Allreduce forever: print it,
        # then MPI_Abort, which makes mpirun kill every rank and exit nonzero.
        traceback.print_exc()
        sys.stderr.flush()
        comm.Abort(1)
