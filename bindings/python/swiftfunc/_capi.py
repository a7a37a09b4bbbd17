"""The C ABI of libswiftfunc as ctypes declarations: one table that mirrors `include/swiftfunc.h`.

Every function of the header appears once in `_DECLARATIONS` as (name, restype, argtypes), in the
header's order, with the C declaration as a comment where the types alone do not say enough.
Functions returning sf_status get an errcheck that turns a nonzero status into a `swiftfunc.Error`
carrying sf_last_error(); the few that run host callbacks (sf_call, sf_vjp, sf_jvp, sf_linearize)
return the raw status instead, because `_function.invoke` must re-raise a Python exception the
callback stashed (see `_function.py`).

Which library is loaded: $SWIFTFUNC_LIBRARY when set, else the copy installed inside the package,
else (running from a source checkout) `<repo>/.build/release/libswiftfunc.so`. At load time
sf_abi_version() must equal ABI_VERSION and every declared symbol must exist.
"""
import ctypes
import os
from ctypes import POINTER, c_bool, c_char_p, c_double, c_int, c_int32, c_int64, c_size_t, c_uint16, c_uint32, c_uint8, c_uint64, c_void_p

from ._errors import (ERR_CALLBACK, ERR_DEVICE, ERR_DTYPE, ERR_INTERNAL, ERR_INVALID_ARGUMENT,  # noqa: F401
                      ERR_OUT_OF_MEMORY, ERR_SHAPE, ERR_TRANSFORM, ERR_UNSUPPORTED, OK, InvalidArgumentError,
                      error_for_status)

# -------------------------------------------------------------------------------------------------
# Constants of the header
# -------------------------------------------------------------------------------------------------

#: SF_ABI_VERSION of the header these declarations mirror.
ABI_VERSION = 1
#: SF_MAX_NDIM.
MAX_NDIM = 16
#: SF_NOT_MAPPED (INT64_MIN), the "not mapped" entry of sf_vmap's in_dims/out_dims.
NOT_MAPPED = -(2 ** 63)

# sf_status: OK and ERR_* are defined once, in _errors (its exception classes are keyed by them), and
# re-exported here by the import at the top of this module.

# sf_dtype
FLOAT32, FLOAT64, INT32, INT64, BOOL = 0, 1, 2, 3, 4

# sf_reduction
REDUCTION_NONE, REDUCTION_MEAN, REDUCTION_SUM = 0, 1, 2

# sf_randomness
RANDOMNESS_ERROR, RANDOMNESS_DIFFERENT, RANDOMNESS_SAME = 0, 1, 2

# -------------------------------------------------------------------------------------------------
# DLPack structs (dlpack.h 0.6 plus the 1.x versioned struct the header declares; x86_64 layouts)
# -------------------------------------------------------------------------------------------------

DL_CPU = 1
DL_INT, DL_UINT, DL_FLOAT, DL_BOOL = 0, 1, 2, 6
FLAG_READ_ONLY = 1 << 0
FLAG_IS_COPIED = 1 << 1


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", c_int32), ("device_id", c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", c_uint8), ("bits", c_uint8), ("lanes", c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", c_void_p),
        ("device", DLDevice),
        ("ndim", c_int32),
        ("dtype", DLDataType),
        ("shape", POINTER(c_int64)),
        ("strides", POINTER(c_int64)),
        ("byte_offset", c_uint64),
    ]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", c_uint32), ("minor", c_uint32)]


class DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", DLTensor), ("manager_ctx", c_void_p), ("deleter", c_void_p)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", DLPackVersion),
        ("manager_ctx", c_void_p),
        ("deleter", c_void_p),
        ("flags", c_uint64),
        ("dl_tensor", DLTensor),
    ]


assert ctypes.sizeof(DLTensor) == 48
assert ctypes.sizeof(DLManagedTensor) == 64
assert ctypes.sizeof(DLManagedTensorVersioned) == 80

#: void (*deleter)(DLManagedTensor[Versioned] *self)
DLPACK_DELETER = ctypes.CFUNCTYPE(None, c_void_p)

# -------------------------------------------------------------------------------------------------
# The declaration table
# -------------------------------------------------------------------------------------------------

status = c_int          # sf_status
tensor = c_void_p       # sf_tensor *
tensor_out = POINTER(c_void_p)    # sf_tensor **out
tensor_array = POINTER(c_void_p)  # sf_tensor *const *
function = c_void_p     # sf_function *
function_out = POINTER(c_void_p)  # sf_function **out
dtype = c_int           # sf_dtype
int64_array = POINTER(c_int64)    # const int64_t *
int32_array = POINTER(c_int32)    # const int32_t *

#: int (*sf_callback)(void *user_data, sf_tensor *const *inputs, size_t n_inputs,
#:                    sf_tensor **outputs, size_t n_outputs)
CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, POINTER(c_void_p), c_size_t, POINTER(c_void_p), c_size_t)
#: void (*free_user_data)(void *)
FREE_USER_DATA = ctypes.CFUNCTYPE(None, c_void_p)
#: int (*sf_custom_batch_callback)(void *user_data, sf_tensor *const *inputs, const int64_t *in_dims,
#:     size_t n_inputs, int64_t batch_size, sf_tensor **outputs, int64_t *out_dims, size_t n_outputs)
CUSTOM_BATCH_CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, POINTER(c_void_p), POINTER(c_int64), c_size_t, c_int64,
                                         POINTER(c_void_p), POINTER(c_int64), c_size_t)

#: SF_OUTPUTS_AT_RETURN (SIZE_MAX): sf_function_arity's n_outputs when the count is known at return.
OUTPUTS_AT_RETURN = 2 ** 64 - 1
tensor_list = c_void_p  # sf_tensor_list *
#: int (*sf_list_callback)(void *user_data, sf_tensor *const *inputs, size_t n_inputs, sf_tensor_list *outputs)
LIST_CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, POINTER(c_void_p), c_size_t, c_void_p)
#: int (*sf_out_dims_callback)(void *user_data, size_t n_outputs, int64_t *out_dims)
OUT_DIMS_CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, c_size_t, POINTER(c_int64))
#: int (*sf_custom_forward_list_callback)(void *user_data, sf_tensor *const *inputs, size_t n_inputs,
#:     sf_tensor_list *outputs, sf_tensor_list *residuals)
CUSTOM_FORWARD_LIST_CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, POINTER(c_void_p), c_size_t, c_void_p, c_void_p)
#: int (*sf_custom_batch_list_callback)(void *user_data, sf_tensor *const *inputs, const int64_t *in_dims,
#:     size_t n_inputs, int64_t batch_size, sf_tensor_list *outputs, sf_tensor_list *residuals)
CUSTOM_BATCH_LIST_CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, POINTER(c_void_p), POINTER(c_int64), c_size_t, c_int64,
                                              c_void_p, c_void_p)

# sf_custom_flags
CUSTOM_FUNCTION_DESC_VERSION = 2
CUSTOM_RULES_HOST_KERNELS, CUSTOM_RULES_USE_OPS, CUSTOM_COUNTS_AT_RETURN = 0, 1, 2


class CustomFunctionDesc(ctypes.Structure):
    """sf_custom_function_desc (version 2)."""

    _fields_ = [
        ("version", c_uint32),
        ("flags", c_uint32),
        ("name", c_char_p),
        ("n_inputs", c_size_t),
        ("n_outputs", c_size_t),
        ("n_residuals", c_size_t),
        ("forward", CALLBACK),
        ("vjp", CALLBACK),
        ("jvp", CALLBACK),
        ("batch", CUSTOM_BATCH_CALLBACK),
        ("user_data", c_void_p),
        ("free_user_data", FREE_USER_DATA),
        ("forward_list", CUSTOM_FORWARD_LIST_CALLBACK),
        ("batch_list", CUSTOM_BATCH_LIST_CALLBACK),
    ]

class MemoryStats(ctypes.Structure):
    """struct sf_memory_stats (every field the header has; struct_size says how many were filled)."""

    _fields_ = [("struct_size", c_size_t)] + [(name, c_uint64) for name in (
        "bytes_in_use", "bytes_cached", "peak_bytes_in_use", "limit", "high_water_bytes_in_use", "cache_hits", "os_allocations",
        "os_releases", "failed_allocations")]


_UNARY = ["neg", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sigmoid", "sqrt", "rsqrt", "abs",
          "sign", "relu", "floor", "ceil", "round", "silu"]
_BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "lt", "le", "gt", "ge", "eq", "ne"]
_REDUCTIONS = ["sum", "prod", "amax", "amin", "argmax", "argmin", "mean"]

#: Functions that may run a host callback: they return the raw status (see the module docstring).
CALLBACK_RUNNERS = frozenset(["sf_call", "sf_vjp", "sf_jvp", "sf_linearize", "sf_call_list", "sf_vjp_list", "sf_jvp_list",
                              "sf_linearize_list", "sf_function_graph", "sf_function_export",
                              "sf_function_export_with_metadata", "sf_function_save"])

_DECLARATIONS = [
    # Versions
    ("sf_abi_version", c_uint32, []),
    ("sf_version", c_char_p, []),
    # Statuses and errors
    ("sf_last_error", c_char_p, []),
    ("sf_set_error", None, [c_char_p]),
    # Threads
    ("sf_set_num_threads", status, [c_int]),
    ("sf_get_num_threads", status, [POINTER(c_int)]),
    # Tensors
    ("sf_tensor_retain", None, [tensor]),
    ("sf_tensor_release", None, [tensor]),
    ("sf_tensor_ndim", status, [tensor, POINTER(c_size_t)]),
    ("sf_tensor_shape", status, [tensor, POINTER(c_int64), c_size_t]),
    ("sf_tensor_dtype", status, [tensor, POINTER(c_int)]),
    ("sf_tensor_numel", status, [tensor, POINTER(c_int64)]),
    ("sf_tensor_copy_to", status, [tensor, c_void_p, c_size_t]),
    ("sf_tensor_from_data", status, [c_void_p, dtype, int64_array, c_size_t, tensor_out]),
    # Memory
    ("sf_memory_stats", status, [POINTER(MemoryStats)]),  # struct sf_memory_stats *out
    ("sf_set_memory_limit", status, [c_uint64]),
    ("sf_memory_reset_peak", status, []),
    ("sf_memory_release_cached", status, []),
    # DLPack
    ("sf_from_dlpack", status, [c_void_p, tensor_out]),            # DLManagedTensor *managed
    ("sf_from_dlpack_versioned", status, [c_void_p, tensor_out]),  # struct DLManagedTensorVersioned *managed
    ("sf_to_dlpack", status, [tensor, POINTER(c_void_p)]),          # DLManagedTensor **out
    ("sf_to_dlpack_versioned", status, [tensor, POINTER(c_void_p)]),  # struct DLManagedTensorVersioned **out
    # Creation and conversion
    ("sf_scalar", status, [c_double, tensor_out]),
    ("sf_zeros", status, [int64_array, c_size_t, dtype, tensor_out]),
    ("sf_ones", status, [int64_array, c_size_t, dtype, tensor_out]),
    ("sf_full", status, [int64_array, c_size_t, c_double, dtype, tensor_out]),
    ("sf_arange", status, [c_double, c_double, c_double, dtype, tensor_out]),
    ("sf_eye", status, [c_int64, c_int64, dtype, tensor_out]),
    ("sf_linspace", status, [c_double, c_double, c_int64, dtype, tensor_out]),
    ("sf_cast", status, [tensor, dtype, tensor_out]),
    # Random numbers
    ("sf_manual_seed", status, [c_uint64]),
    ("sf_rand", status, [int64_array, c_size_t, dtype, tensor_out]),
    ("sf_randn", status, [int64_array, c_size_t, dtype, tensor_out]),
    ("sf_bernoulli", status, [tensor, tensor_out]),
    ("sf_dropout", status, [tensor, c_double, c_bool, tensor_out]),
    # Elementwise unary (sf_status sf_<op>(sf_tensor *x, sf_tensor **out)); silu with them
    *[("sf_" + name, status, [tensor, tensor_out]) for name in _UNARY],
    ("sf_gelu", status, [tensor, c_bool, tensor_out]),
    # Elementwise binary (sf_status sf_<op>(sf_tensor *a, sf_tensor *b, sf_tensor **out))
    *[("sf_" + name, status, [tensor, tensor, tensor_out]) for name in _BINARY],
    ("sf_where", status, [tensor, tensor, tensor, tensor_out]),
    # Reductions (sf_tensor *x, const int64_t *dims, size_t n_dims, bool keepdim, sf_tensor **out)
    *[("sf_" + name, status, [tensor, int64_array, c_size_t, c_bool, tensor_out]) for name in _REDUCTIONS],
    ("sf_var", status, [tensor, int64_array, c_size_t, c_int64, c_bool, tensor_out]),
    ("sf_std", status, [tensor, int64_array, c_size_t, c_int64, c_bool, tensor_out]),
    ("sf_logsumexp", status, [tensor, int64_array, c_size_t, c_bool, tensor_out]),
    ("sf_softmax", status, [tensor, c_int64, tensor_out]),
    ("sf_log_softmax", status, [tensor, c_int64, tensor_out]),
    # Movement
    ("sf_reshape", status, [tensor, int64_array, c_size_t, tensor_out]),
    ("sf_permute", status, [tensor, int64_array, c_size_t, tensor_out]),
    ("sf_transpose", status, [tensor, c_int64, c_int64, tensor_out]),
    ("sf_expand", status, [tensor, int64_array, c_size_t, tensor_out]),
    ("sf_squeeze", status, [tensor, int64_array, c_size_t, tensor_out]),
    ("sf_unsqueeze", status, [tensor, c_int64, tensor_out]),
    ("sf_slice", status, [tensor, c_int64, c_int64, c_int64, c_int64, tensor_out]),
    ("sf_flip", status, [tensor, int64_array, c_size_t, tensor_out]),
    ("sf_pad", status, [tensor, int64_array, c_size_t, c_double, tensor_out]),
    ("sf_cat", status, [tensor_array, c_size_t, c_int64, tensor_out]),
    ("sf_stack", status, [tensor_array, c_size_t, c_int64, tensor_out]),
    ("sf_detach", status, [tensor, tensor_out]),
    # Contraction and convolution
    ("sf_matmul", status, [tensor, tensor, tensor_out]),
    ("sf_linear", status, [tensor, tensor, tensor, tensor_out]),
    # sf_conv2d(x, weight, bias, const int64_t stride[2], const int64_t padding[2], const int64_t dilation[2], groups, out)
    ("sf_conv2d", status, [tensor, tensor, tensor, int64_array, int64_array, int64_array, c_int64, tensor_out]),
    # sf_conv_transpose2d(x, weight, bias, const int64_t stride[2], const int64_t padding[2],
    #                     const int64_t output_padding[2], const int64_t dilation[2], groups, out)
    ("sf_conv_transpose2d", status,
     [tensor, tensor, tensor, int64_array, int64_array, int64_array, int64_array, c_int64, tensor_out]),
    # Linear algebra (LAPACK)
    ("sf_linalg_solve", status, [tensor, tensor, c_bool, tensor_out]),
    ("sf_linalg_solve_triangular", status, [tensor, tensor, c_bool, c_bool, c_bool, tensor_out]),
    ("sf_linalg_cholesky", status, [tensor, c_bool, tensor_out]),
    ("sf_linalg_cholesky_solve", status, [tensor, tensor, c_bool, tensor_out]),
    ("sf_linalg_inv", status, [tensor, tensor_out]),
    ("sf_linalg_det", status, [tensor, tensor_out]),
    ("sf_linalg_slogdet", status, [tensor, tensor_out, tensor_out]),
    ("sf_linalg_logdet", status, [tensor, tensor_out]),
    ("sf_linalg_eigh", status, [tensor, c_bool, tensor_out, tensor_out]),
    ("sf_linalg_eigvalsh", status, [tensor, c_bool, tensor_out]),
    ("sf_linalg_svd", status, [tensor, c_bool, tensor_out, tensor_out, tensor_out]),
    ("sf_linalg_svdvals", status, [tensor, tensor_out]),
    ("sf_linalg_pinv", status, [tensor, c_double, c_double, tensor_out]),
    ("sf_linalg_qr", status, [tensor, c_char_p, tensor_out, tensor_out]),
    ("sf_linalg_lstsq", status, [tensor, tensor, c_double, tensor_out, tensor_out]),
    ("sf_linalg_lu_factor", status, [tensor, tensor_out, tensor_out]),
    ("sf_linalg_lu_solve", status, [tensor, tensor, tensor, c_bool, c_bool, tensor_out]),
    # Indexing
    ("sf_gather", status, [tensor, c_int64, tensor, tensor_out]),
    ("sf_index_select", status, [tensor, c_int64, tensor, tensor_out]),
    ("sf_scatter_add", status, [tensor, c_int64, tensor, tensor, tensor_out]),
    # Tensor ops: einsum, diagonals, triangles, scans, sorting, norms, roll, repeat, tile
    ("sf_einsum", status, [c_char_p, tensor_array, c_size_t, tensor_out]),
    ("sf_diagonal", status, [tensor, c_int64, c_int64, c_int64, tensor_out]),
    ("sf_diag_embed", status, [tensor, c_int64, c_int64, c_int64, tensor_out]),
    ("sf_diag", status, [tensor, c_int64, tensor_out]),
    ("sf_trace", status, [tensor, tensor_out]),
    ("sf_tril", status, [tensor, c_int64, tensor_out]),
    ("sf_triu", status, [tensor, c_int64, tensor_out]),
    ("sf_cumsum", status, [tensor, c_int64, tensor_out]),
    ("sf_cumprod", status, [tensor, c_int64, tensor_out]),
    ("sf_sort", status, [tensor, c_int64, c_bool, tensor_out, tensor_out]),
    ("sf_argsort", status, [tensor, c_int64, c_bool, tensor_out]),
    ("sf_topk", status, [tensor, c_int64, c_int64, c_bool, tensor_out, tensor_out]),
    ("sf_vector_norm", status, [tensor, c_double, int64_array, c_size_t, c_bool, tensor_out]),
    ("sf_matrix_norm", status, [tensor, c_char_p, c_int64, c_int64, c_bool, tensor_out]),
    ("sf_roll", status, [tensor, int64_array, c_size_t, int64_array, c_size_t, tensor_out]),
    ("sf_repeat", status, [tensor, int64_array, c_size_t, tensor_out]),
    ("sf_tile", status, [tensor, int64_array, c_size_t, tensor_out]),
    # Neural-network composites
    ("sf_layer_norm", status, [tensor, int64_array, c_size_t, tensor, tensor, c_double, tensor_out]),
    ("sf_cross_entropy", status, [tensor, tensor, c_int, tensor_out]),  # sf_reduction reduction
    ("sf_mse_loss", status, [tensor, tensor, c_int, tensor_out]),
    # Neural-network functions: pooling, normalization, losses, activations, attention
    ("sf_max_pool2d", status, [tensor, int64_array, int64_array, int64_array, int64_array, c_bool, tensor_out, tensor_out]),
    ("sf_max_pool1d", status, [tensor, c_int64, c_int64, c_int64, c_int64, c_bool, tensor_out, tensor_out]),
    ("sf_avg_pool2d", status, [tensor, int64_array, int64_array, int64_array, c_bool, c_bool, c_int64, tensor_out]),
    ("sf_avg_pool1d", status, [tensor, c_int64, c_int64, c_int64, c_bool, c_bool, tensor_out]),
    ("sf_adaptive_avg_pool2d", status, [tensor, int64_array, tensor_out]),
    ("sf_conv1d", status, [tensor, tensor, tensor, c_int64, c_int64, c_int64, c_int64, tensor_out]),
    # sf_batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, out, out_running_mean, out_running_var)
    ("sf_batch_norm", status, [tensor, tensor, tensor, tensor, tensor, c_bool, c_double, c_double, tensor_out, tensor_out,
                               tensor_out]),
    ("sf_group_norm", status, [tensor, c_int64, tensor, tensor, c_double, tensor_out]),
    ("sf_embedding", status, [tensor, tensor, POINTER(c_int64), tensor_out]),  # const int64_t *padding_idx
    ("sf_nll_loss", status, [tensor, tensor, tensor, c_int64, c_int, tensor_out]),
    ("sf_l1_loss", status, [tensor, tensor, c_int, tensor_out]),
    ("sf_smooth_l1_loss", status, [tensor, tensor, c_int, c_double, tensor_out]),
    ("sf_huber_loss", status, [tensor, tensor, c_int, c_double, tensor_out]),
    ("sf_binary_cross_entropy", status, [tensor, tensor, tensor, c_int, tensor_out]),
    ("sf_binary_cross_entropy_with_logits", status, [tensor, tensor, tensor, tensor, c_int, tensor_out]),
    ("sf_kl_div", status, [tensor, tensor, c_int, c_bool, tensor_out]),
    ("sf_softplus", status, [tensor, c_double, c_double, tensor_out]),
    ("sf_elu", status, [tensor, c_double, tensor_out]),
    ("sf_leaky_relu", status, [tensor, c_double, tensor_out]),
    ("sf_logsigmoid", status, [tensor, tensor_out]),
    ("sf_normalize", status, [tensor, c_double, c_int64, c_double, tensor_out]),
    ("sf_cosine_similarity", status, [tensor, tensor, c_int64, c_double, tensor_out]),
    # sf_scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, const double *scale, out)
    ("sf_scaled_dot_product_attention", status, [tensor, tensor, tensor, tensor, c_double, c_bool, POINTER(c_double),
                                                 tensor_out]),
    # Functions and transforms
    ("sf_function_new", status, [CALLBACK, c_void_p, FREE_USER_DATA, c_size_t, c_size_t, function_out]),
    ("sf_function_retain", None, [function]),
    ("sf_function_release", None, [function]),
    ("sf_function_arity", status, [function, POINTER(c_size_t), POINTER(c_size_t)]),
    ("sf_call", status, [function, tensor_array, c_size_t, tensor_out, c_size_t]),
    ("sf_grad", status, [function, int32_array, c_size_t, c_bool, function_out]),
    ("sf_grad_and_value", status, [function, int32_array, c_size_t, c_bool, function_out]),
    ("sf_vjp", status, [function, tensor_array, c_size_t, tensor_out, c_size_t, function_out]),
    ("sf_jvp", status, [function, tensor_array, tensor_array, c_size_t, tensor_out, tensor_out, c_size_t]),
    ("sf_linearize", status, [function, tensor_array, c_size_t, tensor_out, c_size_t, function_out]),
    ("sf_jacrev", status, [function, int32_array, c_size_t, c_bool, c_int64, function_out]),
    ("sf_jacfwd", status, [function, int32_array, c_size_t, c_bool, c_int, function_out]),  # sf_randomness
    ("sf_hessian", status, [function, int32_array, c_size_t, function_out]),
    ("sf_vmap", status, [function, int64_array, c_size_t, int64_array, c_size_t, c_int64, c_int, function_out]),
    # Functions whose output count is known when they return
    ("sf_tensor_list_new", status, [POINTER(c_void_p)]),
    ("sf_tensor_list_free", None, [tensor_list]),
    ("sf_tensor_list_append", status, [tensor_list, tensor]),
    ("sf_tensor_list_append_mapped", status, [tensor_list, tensor, c_int64]),
    ("sf_tensor_list_size", status, [tensor_list, POINTER(c_size_t)]),
    ("sf_tensor_list_get", status, [tensor_list, c_size_t, tensor_out]),
    ("sf_function_new_at_return", status, [LIST_CALLBACK, c_void_p, FREE_USER_DATA, c_size_t, function_out]),
    ("sf_call_list", status, [function, tensor_array, c_size_t, tensor_list]),
    ("sf_vjp_list", status, [function, tensor_array, c_size_t, tensor_list, function_out]),
    ("sf_jvp_list", status, [function, tensor_array, tensor_array, c_size_t, tensor_list, tensor_list]),
    ("sf_linearize_list", status, [function, tensor_array, c_size_t, tensor_list, function_out]),
    ("sf_vmap_at_return", status, [function, int64_array, c_size_t, OUT_DIMS_CALLBACK, c_void_p, FREE_USER_DATA, c_int64,
                                   c_int, function_out]),
    # Staged execution
    ("sf_jit", status, [function, function_out]),
    ("sf_jit_trace_count", status, [function, POINTER(c_uint64)]),
    ("sf_function_graph", status, [function, tensor_array, c_size_t, POINTER(c_void_p)]),  # char **out_text
    ("sf_string_free", None, [c_void_p]),
    ("sf_vmap_fallback_count", status, [POINTER(c_uint64)]),
    # Custom differentiable functions
    ("sf_custom_function_new", status, [POINTER(CustomFunctionDesc), function_out]),
    # Export
    ("sf_function_export", status, [function, tensor_array, c_size_t, POINTER(c_void_p), POINTER(c_size_t)]),
    ("sf_function_export_with_metadata", status, [function, tensor_array, c_size_t, c_void_p, c_size_t, POINTER(c_void_p),
                                                  POINTER(c_size_t)]),
    ("sf_bytes_free", None, [c_void_p]),
    ("sf_function_import", status, [c_void_p, c_size_t, function_out]),
    ("sf_function_metadata", status, [c_void_p, c_size_t, POINTER(c_void_p), POINTER(c_size_t)]),
    ("sf_function_save", status, [function, tensor_array, c_size_t, c_char_p]),
    ("sf_function_load", status, [c_char_p, function_out]),
]

# -------------------------------------------------------------------------------------------------
# Loading
# -------------------------------------------------------------------------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_LIBRARY_NAME = "libswiftfunc.so"


def library_candidates():
    """Where the library is looked for, in order: (description, path)."""
    override = os.environ.get("SWIFTFUNC_LIBRARY")
    if override:
        return [("$SWIFTFUNC_LIBRARY", override)]
    checkout = os.path.join(_PACKAGE_DIR, "..", "..", "..", ".build", "release", _LIBRARY_NAME)
    return [("the installed package", os.path.join(_PACKAGE_DIR, _LIBRARY_NAME)),
            ("the source checkout", os.path.normpath(checkout))]


def _find_library():
    candidates = library_candidates()
    for _, path in candidates:
        if os.path.isfile(path):
            return path
    tried = ", ".join(f"{path} ({what})" for what, path in candidates)
    raise ImportError(f"swiftfunc: libswiftfunc.so not found (tried {tried}). Install the package with "
                      f"`pip install ./bindings/python`, build it with `make lib`, or set SWIFTFUNC_LIBRARY "
                      f"to the library's path.")


class _Library:
    """The loaded library: one attribute per declared function, typed from the table."""

    def __init__(self, path):
        self.path = path
        try:
            self._dll = ctypes.CDLL(path)
        except OSError as error:
            raise ImportError(f"swiftfunc: cannot load {path}: {error}") from error
        missing = [name for name, _, _ in _DECLARATIONS if not hasattr(self._dll, name)]
        if missing:
            raise ImportError(f"swiftfunc: {path} lacks {', '.join(missing)}; the Python package and the "
                              f"library are out of step (rebuild the library with `make lib`)")
        for name, restype, argtypes in _DECLARATIONS:
            fn = getattr(self._dll, name)
            fn.restype = restype
            fn.argtypes = argtypes
            if restype is status and name not in CALLBACK_RUNNERS:
                fn.errcheck = _check
            setattr(self, name, _range_checked(fn, name, argtypes))
        version = self.sf_abi_version()
        if version != ABI_VERSION:
            raise ImportError(f"swiftfunc: {path} has ABI version {version}, but this Python package was written "
                              f"for ABI version {ABI_VERSION}; install the matching package or library "
                              f"(SWIFTFUNC_LIBRARY selects the library)")


# ctypes converts a Python int to a C integer modulo 2^bits, silently: sum(t, 2**64) would sum dim 0
# and zeros((2**64 + 2,)) make 2 elements. Every integer that crosses to the library is checked here
# (scalars by `_range_checked`, arrays by `int64s`/`int32s`) and refused as an InvalidArgumentError.
_INT_RANGES = {ctype: ((-(1 << (8 * ctypes.sizeof(ctype) - 1)), (1 << (8 * ctypes.sizeof(ctype) - 1)) - 1)
                       if ctype(-1).value < 0 else (0, (1 << (8 * ctypes.sizeof(ctype))) - 1))
               for ctype in (c_int, c_int32, c_int64, c_size_t, c_uint16, c_uint32, c_uint8, c_uint64)}


def _check_fits(value, ctype, what):
    low, high = _INT_RANGES[ctype]
    if not low <= value <= high:
        kind = "int" if low else "unsigned int"
        raise InvalidArgumentError(f"{what}: {value} does not fit a C {8 * ctypes.sizeof(ctype)}-bit {kind} "
                                   f"({low}..{high})")


def _range_checked(fn, name, argtypes):
    """`fn`, or when it takes C integers, a function that checks each fits its type before calling it."""
    checked = [(i, t) for i, t in enumerate(argtypes) if t in _INT_RANGES]
    if not checked:
        return fn

    def call(*args):
        for i, ctype in checked:
            value = args[i]
            if isinstance(value, int):  # other types are ctypes' to convert or refuse
                _check_fits(value, ctype, name)
        return fn(*args)

    call.__name__ = call.__qualname__ = name
    call.ctypes_function = fn
    return call


def last_error():
    """sf_last_error() of this thread as str."""
    return lib.sf_last_error().decode("utf-8", "replace")


def error(code):
    """The exception for status `code`, carrying this thread's sf_last_error()."""
    return error_for_status(code, last_error())


def _check(result, func, args):
    if result:
        raise error(result)
    return result


lib = _Library(_find_library())


def _int_array(ctype, values):
    values = tuple(values)
    for value in values:
        if isinstance(value, int):
            _check_fits(value, ctype, "swiftfunc")
    return (ctype * len(values))(*values) if values else None


def int64s(values):
    """A C int64_t array of `values` (None when empty, as the header allows for count 0); a value
    outside int64_t is an InvalidArgumentError."""
    return _int_array(c_int64, values)


def int32s(values):
    """A C int32_t array of `values` (None when empty); a value outside int32_t is an InvalidArgumentError."""
    return _int_array(c_int32, values)


def handles(tensors):
    """A C `sf_tensor *const *` array of the handles of `tensors` (Tensor objects); the array keeps the
    tensors alive, so the handles stay valid for as long as the array is in use."""
    tensors = tuple(tensors)
    if not tensors:
        return None
    array = (c_void_p * len(tensors))(*[t._h for t in tensors])
    array.tensors = tensors
    return array
