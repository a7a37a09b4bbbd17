#!/usr/bin/env bash
# The data-parallel DP-SGD examples under MPI (docs/scaling.md): for the Python one and the C one,
#  - K steps with -np 2 give the parameters of K steps with -np 1 (same seed, same batches);
#  - the gradient path is zero-copy (the examples compare the data pointers and print "zero-copy");
#  - a rank that fails at step 2 ends the whole job promptly, nonzero, with its error visible
#    (MPI_Abort); `timeout` turns a hang into a failure;
#  - a full -np 2 training run of the Python example reaches its accuracy bound.
# Usage: check_mpi.sh PYTHON C_PROGRAM DIGITS_FILE WORK_DIR
# (PYTHONPATH and SWIFTFUNC_LIBRARY come from the Makefile.)
set -uo pipefail
python=$1 program=$2 digits=$3 work=$4
here=$(cd "$(dirname "$0")/.." && pwd)
example=$here/bindings/python/examples/dp_sgd_mpi.py
steps=5
mkdir -p "$work"
# CI runs as root, which OpenMPI refuses unless told; --oversubscribe lets 2 ranks start on 1 core.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun --oversubscribe)

passed=0 failed=0
check() {  # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then echo "ok: $what"; passed=$((passed + 1)); else echo "FAIL: $what"; failed=$((failed + 1)); fi
}
run() {  # run NAME SECONDS COMMAND...: output in $work/NAME.out and .err, status in $work/NAME.status
    local name=$1 seconds=$2; shift 2
    local start=$SECONDS
    timeout --kill-after=10 "$seconds" "$@" >"$work/$name.out" 2>"$work/$name.err"
    echo $? >"$work/$name.status"
    echo "== $name: exit $(cat "$work/$name.status") after $((SECONDS - start)) s: $*"
}
status() { cat "$work/$1.status"; }
succeeded() {  # the run exited 0 and printed its zero-copy check
    [ "$(status "$1")" = 0 ] && grep -q "zero-copy: .* ok" "$work/$1.out" && return 0
    cat "$work/$1.out" "$work/$1.err"; return 1
}
aborted() {  # aborted RUN MESSAGE: nonzero but not the timeout's 124/137, and the message shown
    local s; s=$(status "$1")
    [ "$s" != 0 ] && [ "$s" != 124 ] && [ "$s" != 137 ] && grep -q "$2" "$work/$1.err" && return 0
    echo "exit status $s (124/137: killed by the timeout, i.e. the job hung)"; cat "$work/$1.out" "$work/$1.err"; return 1
}
same_parameters() {  # same_parameters FORMAT FILE1 FILE2: largest difference <= 1e-5
    "$python" - "$@" <<'EOF'
import sys
import numpy as np
kind, a, b = sys.argv[1:]
if kind == "npz":
    a, b = np.load(a), np.load(b)
    assert sorted(a.files) == sorted(b.files)
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a.files)
else:
    a, b = np.fromfile(a, np.float32), np.fromfile(b, np.float32)
    assert a.shape == b.shape and a.size > 0
    diff = float(np.max(np.abs(a - b)))
print(f"   largest parameter difference between -np 1 and -np 2: {diff:.3g}")
sys.exit(0 if diff <= 1e-5 else 1)
EOF
}

# Python
for np in 1 2; do
    run "python-np$np" 300 "${mpirun[@]}" -np $np "$python" "$example" --steps $steps --save "$work/python-np$np.npz"
    check "Python example, $steps steps with -np $np (zero-copy shown)" succeeded "python-np$np"
done
check "Python example: -np 2 gives the parameters of -np 1" \
    same_parameters npz "$work/python-np1.npz" "$work/python-np2.npz"
run python-fail 120 "${mpirun[@]}" -np 2 "$python" "$example" --steps $steps --fail-rank 1 --fail-step 2
check "Python example: rank 1 raising at step 2 aborts the job with its error" \
    aborted python-fail "RuntimeError: rank 1 fails at step 2"
run python-train 600 "${mpirun[@]}" -np 2 "$python" "$example" --min-accuracy 0.85
check "Python example: full training with -np 2 reaches 85% test accuracy" succeeded python-train
grep "test accuracy .* at epsilon" "$work/python-train.out"

# C
for np in 1 2; do
    run "c-np$np" 120 "${mpirun[@]}" -np $np "$program" "$digits" --steps $steps --save "$work/c-np$np.f32"
    check "C example, $steps steps with -np $np (zero-copy shown)" succeeded "c-np$np"
done
check "C example: -np 2 gives the parameters of -np 1" same_parameters f32 "$work/c-np1.f32" "$work/c-np2.f32"
run c-fail 60 "${mpirun[@]}" -np 2 "$program" "$digits" --steps $steps --fail-rank 1 --fail-step 2
check "C example: a library error on rank 1 at step 2 aborts the job with its message" \
    aborted c-fail "rank 1: .*shapes \[63\] and \[64, 64\] are not compatible"

echo "mpi checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
