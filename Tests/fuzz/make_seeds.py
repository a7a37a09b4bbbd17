#!/usr/bin/env python3
"""Writes the seed corpora Tests/fuzz/corpus/<harness>/ (run from the repository root).

Each seed is a small, meaningful input in the byte encoding the harness decodes (see the
harnesses and fuzz_common.h's reader): the name says what it describes. libFuzzer mutates them.
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# fz_common.h's encodings ------------------------------------------------------------------------
WEIRD = [-(2**63), -(2**63) + 1, 2**63 - 1, 2**63 - 2, -1, -2, -17, 16, 17, 2**31, 2**31 - 1, -(2**31),
         2**62, -(2**62), 2**45, 1000, 2**32, 65536]


def i(v):
    """fz_int: one byte for -8..23, else a table byte or 255 + 8 raw bytes."""
    if 0 <= v <= 23:
        return bytes([v])
    if -8 <= v < 0:
        return bytes([32 + v])
    if v in WEIRD:
        return bytes([224 + WEIRD.index(v)])
    return bytes([255]) + struct.pack("<q", v)


def size(v):
    """fz_size: 0-4 directly (1 also as 5), weird sizes from the table."""
    if 0 <= v <= 4:
        return bytes([v])
    return bytes([b for b in range(240, 256) if b % len(WEIRD) == WEIRD.index(v)][0:1])


def dim(v, ndim):
    """fz_dim: (b % (2 ndim + 2)) - ndim - 1."""
    return bytes([v + ndim + 1])


def dbl(v):
    """fz_double: (b - 64) / 16 for b < 128."""
    b = int(v * 16 + 64)
    assert 0 <= b < 128 and (b - 64) / 16 == v
    return bytes([b])


def write(harness, name, data):
    folder = os.path.join(ROOT, harness)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


# fuzz_dlpack -------------------------------------------------------------------------------------
F32, F64, I32, I64, BOOL = 0, 1, 2, 3, 4


def dlpack(mode, dtype, shape, strides, payload, byte_offset=b"\x00", pre=0, misalign=0, lanes=b"\x00",
           device=b"\x00", versioned=b"", ndim=None, raw_type=b""):
    nd = len(shape) if ndim is None else ndim
    return (bytes([mode, dtype]) + raw_type + lanes + bytes([nd]) + device + b"".join(size(s) for s in shape)
            + b"".join(i(s) for s in strides) + byte_offset + bytes([pre, misalign]) + versioned + payload)


payload = bytes(range(7, 7 + 96))
write("dlpack", "contiguous_f64_2x3_null_strides", dlpack(0x02, F64, [2, 3], [3, 1], payload))
write("dlpack", "transposed_f32_3x2", dlpack(0x00, F32, [3, 2], [1, 3], payload))
write("dlpack", "negative_stride_i32_4", dlpack(0x00, I32, [4], [-1], payload))
write("dlpack", "broadcast_zero_stride_i64_3x4", dlpack(0x00, I64, [3, 4], [0, 1], payload))
write("dlpack", "bool_step2", dlpack(0x00, BOOL, [4], [2], payload))
write("dlpack", "misaligned_f64_2x2_copied", dlpack(0x00, F64, [2, 2], [2, 1], payload, misalign=3))
write("dlpack", "byte_offset_f32_3", dlpack(0x00, F32, [3], [1], payload, byte_offset=b"\x10", pre=5))
write("dlpack", "versioned_readonly_f32_2", dlpack(0x01, F32, [2], [1], payload,
                                                   versioned=b"\x00\x00\xc8" + struct.pack("<Q", 1)))
write("dlpack", "versioned_major2_refused", dlpack(0x01, F32, [2], [1], payload,
                                                   versioned=b"\xfa" + struct.pack("<I", 2) + b"\x00\x00"))
write("dlpack", "stride_int64_max_refused", dlpack(0x00, F64, [3], [2**63 - 1], payload))
write("dlpack", "byte_offset_2pow63_refused", dlpack(0x40, F64, [2], [1], payload,
                                                     byte_offset=struct.pack("<Q", 2**63)))
write("dlpack", "empty_null_data", dlpack(0x08, F32, [0, 3], [1, 1], payload))
write("dlpack", "cuda_refused", dlpack(0x00, F32, [2], [1], payload, device=b"\xf0\x02"))
write("dlpack", "lanes4_refused", dlpack(0x00, F32, [2], [1], payload, lanes=b"\xf0\x04\x00"))
write("dlpack", "ndim17_refused", dlpack(0x00, F32, [], [], payload, ndim=0xC9))
write("dlpack", "uint8_refused", dlpack(0x00, 0xC8, [2], [1], payload, raw_type=b"\x01\x08"))
write("dlpack", "reimport_export_f64_2x3", dlpack(0x80, F64, [2, 3], [1, 2], payload))
write("dlpack", "versioned_export_i64_3", dlpack(0x04, I64, [3], [-2], payload))

# fuzz_ops ----------------------------------------------------------------------------------------
(MAKE, CREATION, UNARY, PUNARY, BINARY, LOSS, WHERE, REDUCE, MOVE, NN, NORM, INDEX, LINALG, EINSUM,
 SORT, ATTN, DLPACK) = 0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17


def make(dtype, shape, values):
    """op_make kind 0: from data (values as fz_double bytes for floats, fz_int for ints)."""
    enc = dbl if dtype in (F32, F64) else i
    return bytes([MAKE, 0, len(shape)]) + b"".join(size(s) for s in shape) + bytes([dtype]) + b"".join(
        enc(v) for v in values)


def reg(k):
    return bytes([k])


m23 = make(F64, [2, 3], [0.5, -1, 2, 1.5, 0.25, -0.75])
m32 = make(F64, [3, 2], [1, 2, -1, 0.5, 3, -2])
write("ops", "matmul_2x3_3x2", m23 + m32 + bytes([BINARY, 14]) + reg(0) + reg(1))
write("ops", "sum_dim1_keepdim", m23 + bytes([REDUCE]) + reg(0) + bytes([0, 1]) + dim(1, 2) + b"\x01")
write("ops", "var_correction", m23 + bytes([REDUCE]) + reg(0) + bytes([8, 1]) + dim(0, 2) + b"\x00" + i(1))
write("ops", "matrix_norm_nuc", m23 + bytes([REDUCE]) + reg(0) + bytes([11, 0, 0, 1]) + dim(0, 2) + dim(1, 2))
x = make(F64, [1, 1, 4, 4], [k / 4 for k in range(16)])
w = make(F64, [1, 1, 2, 2], [1, -1, 0.5, 2])
pairs = i(1) + i(1) + i(0) + i(0) + i(1) + i(1)
write("ops", "conv2d_1x1x4x4", x + w + bytes([NN]) + reg(0) + bytes([1]) + reg(1) + b"\x00" + pairs + b"\x00" + i(1))
write("ops", "max_pool2d_indices", x + bytes([NN]) + reg(0) + bytes([3]) + i(2) + i(2) + i(2) + i(2) + i(0) + i(0)
      + i(1) + i(1) + b"\x00\x01\x00")
write("ops", "avg_pool2d_ceil", x + bytes([NN]) + reg(0) + bytes([5]) + i(3) + i(3) + i(2) + i(2) + i(1) + i(1)
      + b"\x01\x00" + i(0))
# "ij,jk->ik" in the alphabet "abcijk,->.. ABz"
write("ops", "einsum_ij_jk_ik", m23 + m32 + bytes([EINSUM, 9, 3, 4, 6, 4, 5, 7, 8, 3, 5, 2]) + reg(0) + reg(1) + b"\x00")
a22 = make(F64, [2, 2], [2, 1, 1, 3])
b21 = make(F64, [2, 1], [1, -1])
write("ops", "linalg_solve_2x2", a22 + b21 + bytes([LINALG]) + reg(0) + reg(1) + b"\x01\x00\x00" + bytes([0]))
write("ops", "linalg_eigh_2x2", a22 + bytes([LINALG]) + reg(0) + reg(0) + b"\x00\x00\x00" + bytes([5]))
write("ops", "linalg_qr_complete", m32 + bytes([LINALG]) + reg(0) + reg(0) + b"\x00\x00\x00" + bytes([9, 9]))
write("ops", "topk_2", m23 + bytes([SORT]) + reg(0) + dim(1, 2) + b"\x01" + bytes([2]) + i(2))
idx = bytes([MAKE, 3, 0, 0, 1]) + size(2) + bytes([0]) + i(1) + i(0)  # kind 3 reads (and ignores) a shape first
write("ops", "index_select_rows", m23 + idx + bytes([INDEX]) + reg(0) + reg(1) + dim(0, 2) + bytes([1]))
write("ops", "pad_slice_flip", m23 + bytes([MOVE]) + reg(0) + bytes([8, 2]) + i(1) + i(2) + dbl(0.5)
      + bytes([MOVE]) + reg(1) + bytes([6]) + dim(1, 2) + i(0) + i(3) + i(2)
      + bytes([MOVE]) + reg(2) + bytes([7, 1]) + dim(0, 2))
write("ops", "zeros_2pow45_oom", bytes([MAKE, 1, 1]) + size(2**45) + bytes([F32, 0, 0]))
write("ops", "cross_entropy_target", m23 + idx + bytes([LOSS]) + reg(0) + reg(1) + b"\x01" + bytes([0, 2]))
write("ops", "layer_norm_last", m23 + bytes([NORM]) + reg(0) + bytes([0, 1]) + i(3) + b"\x00\x00" + dbl(0))
write("ops", "sdpa_causal", m23 + bytes([ATTN]) + reg(0) + reg(0) + reg(0) + b"\x00\x00" + dbl(1) + b"\x01\x00")
write("ops", "dlpack_roundtrip_transposed", m23 + bytes([MOVE]) + reg(0) + bytes([2]) + dim(0, 2) + dim(1, 2)
      + bytes([DLPACK]) + reg(1) + bytes([UNARY, 1]) + reg(2))
write("ops", "arange_eye_linspace", bytes([CREATION, F64, 0]) + dbl(0) + dbl(3) + dbl(0.5)
      + bytes([CREATION, I64, 1]) + i(3) + i(2) + bytes([CREATION, F32, 2]) + dbl(-1) + dbl(1) + i(5))

# fuzz_transforms ---------------------------------------------------------------------------------
SIN, TANH, SQUARE, ADD, SUM, MATMUL_T, RANDN, READ, NESTED, ESCAPE, EXP = 0, 1, 2, 3, 4, 6, 14, 15, 16, 18, 20


def function(kind, n_in, ops, flags=0, out_modes=b"", fail=0, fail_how=0, rules=0, custom=b""):
    """read_function: kind (0 custom, 1 at_return, 2 plain), arities, the program (flags bit 1: the 8
    output modes follow), the failure point, the custom rules' modes, then the custom desc's bytes."""
    prog = bytes([len(ops)]) + b"".join(bytes([op]) + i(arg) for op, arg in ops)
    return bytes([kind, n_in, 0]) + prog + bytes([flags]) + out_modes + bytes([fail, fail_how, rules]) + custom


def inputs(shape, values, n=1):
    return bytes([len(shape)]) + bytes(shape) + b"\x00" + b"".join(b"\x00" + b"".join(dbl(v) for v in values)
                                                                   for _ in range(n))


GRAD = b"\x00\xc8\x00"        # grad, argnums NULL, no aux
HESSIAN = b"\x04\xc8"
JIT = b"\x07"
sin_sum = function(2, 1, [(SIN, 0), (SUM, 0)])
x3 = inputs([3], [0.5, -1, 2])
write("transforms", "grad_sin_sum", sin_sum + b"\x01" + GRAD + b"\x00" + b"\x00" + x3)
vmap0 = b"\x05\x00" + b"\x02" + b"\x02" + i(0) + b"\x00"  # vmap in_dims/out_dims NULL, chunk 0
x32 = inputs([3, 2], [0.5, -1, 2, 0.25, 1, -0.5])
write("transforms", "vmap_grad_per_sample", sin_sum + b"\x02" + GRAD + vmap0 + b"\x00" + b"\x00" + x32)
write("transforms", "hessian_tanh", function(2, 1, [(TANH, 0), (SQUARE, 0), (SUM, 0)]) + b"\x01" + HESSIAN
      + b"\x00\x00" + x3)
write("transforms", "jacrev_chunk1", function(2, 1, [(SIN, 0)]) + b"\x01" + b"\x02\xc8\x00" + i(1)
      + b"\x00\x00" + x3)
write("transforms", "jacfwd_exp", function(2, 1, [(EXP, 0)]) + b"\x01" + b"\x03\xc8\x00\x00" + b"\x00\x00" + x3)
write("transforms", "jit_grad_twice", sin_sum + b"\x02" + JIT + GRAD + b"\x01" + b"\x00" + x3 + b"\x00" + x3)
write("transforms", "vjp_pullback", function(2, 2, [(ADD, 1), (SIN, 0)], flags=2, out_modes=b"\x01" * 8)
      + b"\x00" + b"\x00" + b"\x01" + inputs([3], [0.5, -1, 2], 2) + inputs([3], [1, 1, 1]))
write("transforms", "jvp_matmul", function(2, 1, [(MATMUL_T, 0), (SUM, 0)]) + b"\x00" + b"\x00" + b"\x02"
      + x32 + x32)
write("transforms", "linearize_tanh", function(2, 1, [(TANH, 0)], flags=2, out_modes=b"\x01" * 8) + b"\x00" + b"\x00"
      + b"\x03" + x3 + x3)
write("transforms", "custom_vjp_under_grad", function(0, 1, [(SIN, 0), (SUM, 0)], custom=b"\x00\x00\x07")
      + b"\x01" + GRAD + b"\x00\x00" + x3)
write("transforms", "custom_batch_under_vmap", function(0, 1, [(SIN, 0)], custom=b"\x01\x01\x07") + b"\x01" + vmap0 + b"\x00\x00" + x32)
write("transforms", "callback_fails_first_call", function(2, 1, [(SIN, 0)], fail=201) + b"\x01" + GRAD
      + b"\x00\x00" + x3)
write("transforms", "escaped_tracer_second_call", function(2, 1, [(ESCAPE, 0), (SUM, 0)]) + b"\x01" + GRAD
      + b"\x01" + b"\x00" + x3 + b"\x00" + x3)
write("transforms", "randn_vmap_different", function(2, 1, [(RANDN, 0)]) + b"\x01" + b"\x05\x00\x02\x02" + i(0)
      + b"\x01" + b"\x00\x00" + x32)
write("transforms", "read_value_under_grad", function(2, 1, [(READ, 0), (SUM, 0)]) + b"\x01" + GRAD + b"\x00\x00"
      + x3)
write("transforms", "nested_grad_inside", function(2, 1, [(NESTED, 0)]) + b"\x01" + GRAD + b"\x00\x00" + x3)
write("transforms", "at_return_vmap", function(1, 1, [(SIN, 0)]) + b"\x01" + vmap0 + b"\x00\x00" + x32)
