/*
 * swiftfunc.h — the stable C ABI of libswiftfunc.
 *
 * This header is the specification. swiftfunc is a tensor library whose ops can later be
 * transformed (grad, vjp, jvp, vmap, ...) by composable function transforms.
 *
 * Conventions (they hold for every function below unless its comment says otherwise):
 *  - Every function returns an sf_status. SF_OK is 0; on any other status, sf_last_error()
 *    returns a message that names the function and the problem, and every `out` pointer the
 *    function was given is set to NULL (when the `out` pointer itself is not NULL).
 *  - Tensor arguments are borrowed: the function neither takes nor keeps the caller's reference.
 *    A NULL tensor argument (other than ones documented as optional) gives SF_ERR_INVALID_ARGUMENT.
 *  - Every `sf_tensor **out` result is a new reference owned by the caller, who must release it
 *    with sf_tensor_release(). A NULL `out` gives SF_ERR_INVALID_ARGUMENT.
 *  - Dims are int64_t and may be negative (counted from the end, as in torch); a dim outside
 *    [-ndim, ndim) gives SF_ERR_INVALID_ARGUMENT. Array arguments come as (pointer, count); a
 *    NULL pointer with a nonzero count gives SF_ERR_INVALID_ARGUMENT.
 *  - Shapes: every size is >= 0, the rank is at most SF_MAX_NDIM, and the product of the sizes
 *    other than 0 (the element count of a non-empty shape) must fit in int64_t, also in bytes;
 *    anything else gives SF_ERR_SHAPE. (So [0, 2^62, 4] is refused although it holds no element:
 *    every product of some of its dims must stay countable.)
 *  - Binary ops broadcast as numpy/torch do and promote dtypes as torch does: bool < int32 <
 *    int64 < float32 < float64, so an integer with a float gives the float type and bool with
 *    anything gives the other type. A tensor made by sf_scalar() is weakly typed: it takes the
 *    other operand's dtype when that is a float dtype, and float32 otherwise.
 *  - No function ever writes into an input tensor. Results may be views that share storage with
 *    their input (reshape of viewable data, permute, transpose, expand, slice, flip, squeeze,
 *    unsqueeze, detach, and a cast to the same dtype, which returns the input itself); since
 *    nothing writes into tensors, sharing is never observable except through DLPack data pointers.
 *  - Thread safety: all functions may be called from any thread. Tensors are immutable and may be
 *    shared between threads; their reference counts are atomic. sf_last_error() is per thread.
 *    The random generator (sf_manual_seed, sf_rand, ...) is process-wide and locked.
 *
 * Versioning: SF_ABI_VERSION changes only when a released function or type changes in an
 * incompatible way; functions and enum values are only ever added, never renumbered.
 */
#ifndef SWIFTFUNC_H
#define SWIFTFUNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dlpack/dlpack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Versions
 * ------------------------------------------------------------------------------------------- */

#define SF_VERSION_MAJOR 0
#define SF_VERSION_MINOR 1
#define SF_VERSION_PATCH 0
/** The ABI generation of this header; compare with sf_abi_version() at run time. */
#define SF_ABI_VERSION 1

/** The largest rank a tensor may have. */
#define SF_MAX_NDIM 16

/*
 * Limits on the counts a host passes; a call past one fails with the status given and a message
 * naming the argument:
 *  - SF_MAX_NDIM: the rank of a shape (SF_ERR_SHAPE).
 *  - SF_MAX_ARITY (2^16): n_inputs and n_outputs of sf_function_new; n_inputs, n_outputs and
 *    n_residuals of a custom function; n_argnums of the transforms (SF_ERR_INVALID_ARGUMENT).
 *  - SF_MAX_ARRAY_LEN (2^20): the entries of any other array argument, int64_t arrays (dims, pad,
 *    stride/padding/dilation, normalized_shape, ...) and tensor arrays (sf_cat, sf_stack, sf_call,
 *    the transforms' inputs, ...) alike (SF_ERR_INVALID_ARGUMENT).
 */
#define SF_MAX_ARITY 65536
#define SF_MAX_ARRAY_LEN 1048576

/** The ABI version of the loaded library (SF_ABI_VERSION of the header it was built with). */
uint32_t sf_abi_version(void);

/** The library's version as "MAJOR.MINOR.PATCH"; a static string, never NULL, never freed. */
const char *sf_version(void);

/* ---------------------------------------------------------------------------------------------
 * Statuses and errors
 * ------------------------------------------------------------------------------------------- */

/** Status of every call. Values are never renumbered. */
typedef enum sf_status {
    SF_OK = 0,
    SF_ERR_INVALID_ARGUMENT = 1, /**< NULL where a value is needed, bad dim, bad option. */
    SF_ERR_SHAPE = 2,            /**< shapes that do not fit the op, or overflowing sizes. */
    SF_ERR_DTYPE = 3,            /**< a dtype the op does not accept, or an unsupported one. */
    SF_ERR_DEVICE = 4,           /**< a DLPack tensor that is not on the CPU. */
    SF_ERR_OUT_OF_MEMORY = 5,    /**< an allocation failed. */
    SF_ERR_TRANSFORM = 6,        /**< misuse of a transform (e.g. an escaped traced value). */
    SF_ERR_CALLBACK = 7,         /**< a host callback returned nonzero. */
    SF_ERR_UNSUPPORTED = 8,      /**< a valid request that this version cannot serve. */
    SF_ERR_INTERNAL = 9          /**< a bug in swiftfunc; please report it. */
} sf_status;

/**
 * The message of the last failed call on this thread, such as
 * "sf_matmul: shapes [3, 4] and [5, 6] are not compatible". Never NULL ("" before any failure).
 * The string stays valid until the next swiftfunc call on the same thread.
 */
const char *sf_last_error(void);

/**
 * Sets this thread's error message; meant for host callbacks that fail, so that the caller sees
 * why. NULL sets an empty message. The string is copied.
 */
void sf_set_error(const char *message);

/* ---------------------------------------------------------------------------------------------
 * Threads
 *
 * Large elementwise, copy and reduction kernels split their work across the library's own thread
 * pool; small ones (below about 256K elements for arithmetic, copies and reductions, 4K for exp,
 * tanh and the other libm functions) run on the calling thread alone.
 * Matrix products and convolutions multiply in OpenBLAS, one OpenBLAS thread per product or per
 * block of one: products of 2^21 multiply-adds and more are cut into blocks of rows or columns
 * (chosen by their sizes only) that the pool's threads share, so OpenBLAS's own threads stay idle.
 * LAPACK calls (linear algebra) run on OpenBLAS's threads. One count governs both
 * (torch.set_num_threads): by default the number of online CPUs for each, as in torch (OpenBLAS's
 * own environment variables, such as OPENBLAS_NUM_THREADS, still decide its count until
 * sf_set_num_threads is called). Kernels and LAPACK calls of one call run one after the other, so
 * at most that many threads compute at a time. Results give the same bits on every count and from
 * run to run: each output element is computed by one thread in the order one thread would use, and
 * a product's bits depend only on its sizes (LAPACK's, on its sizes and the count), also when
 * several host threads call at once. A pool thread that has finished its work watches for more
 * for 0.2 ms before it sleeps.
 *
 * fork(): the child keeps the parent's count and starts its own pool threads with its first large
 * kernel (the parent's threads do not follow a fork), as torch and OpenBLAS do. As for any
 * threaded library, no other thread of the parent may be inside a swiftfunc call at the fork.
 * ------------------------------------------------------------------------------------------- */

/**
 * Sets the number of threads kernels use, the calling thread included, for the library's pool and
 * for OpenBLAS alike; 1 makes every kernel run on the calling thread. n < 1 or n > 1024 gives
 * SF_ERR_INVALID_ARGUMENT (and changes nothing). Work already running keeps the count it started
 * with. Process-wide.
 */
sf_status sf_set_num_threads(int n);

/** The thread count: what sf_set_num_threads set last, else the number of online CPUs. */
sf_status sf_get_num_threads(int *out);

/* ---------------------------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------------------------- */

/** An immutable, reference-counted, strided tensor on the CPU. */
typedef struct sf_tensor sf_tensor;

/** Element types. Values are never renumbered. */
typedef enum sf_dtype {
    SF_FLOAT32 = 0,
    SF_FLOAT64 = 1,
    SF_INT32 = 2,
    SF_INT64 = 3,
    SF_BOOL = 4 /**< one byte per element, 0 or 1. */
} sf_dtype;

/** Adds a reference to `t`. NULL is a no-op. */
void sf_tensor_retain(sf_tensor *t);

/** Drops a reference to `t`; the tensor is freed with its last reference. NULL is a no-op. */
void sf_tensor_release(sf_tensor *t);

/** Stores the rank of `t` in *out_ndim. */
sf_status sf_tensor_ndim(sf_tensor *t, size_t *out_ndim);

/**
 * Copies the shape of `t` into out_shape, which has room for `capacity` entries; capacity must be
 * at least the rank (SF_ERR_INVALID_ARGUMENT otherwise). out_shape may be NULL for a 0-d tensor.
 */
sf_status sf_tensor_shape(sf_tensor *t, int64_t *out_shape, size_t capacity);

/** Stores the dtype of `t` in *out_dtype. */
sf_status sf_tensor_dtype(sf_tensor *t, sf_dtype *out_dtype);

/** Stores the number of elements of `t` in *out_numel. */
sf_status sf_tensor_numel(sf_tensor *t, int64_t *out_numel);

/**
 * Copies the values of `t` into `dst` in row-major order with the tensor's own dtype.
 * `dst_bytes` must equal numel * element size (SF_ERR_INVALID_ARGUMENT otherwise). dst may be NULL
 * only when the tensor has no elements.
 */
sf_status sf_tensor_copy_to(sf_tensor *t, void *dst, size_t dst_bytes);

/**
 * Makes a tensor by copying `numel(shape) * element size` bytes of row-major data. `data` may be
 * NULL only when the shape has no elements; `shape` may be NULL only when ndim is 0.
 */
sf_status sf_tensor_from_data(const void *data, sf_dtype dtype, const int64_t *shape, size_t ndim,
                              sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Memory (torch.cuda.memory_stats / set_per_process_memory_fraction / empty_cache, for the CPU)
 *
 * The memory of every tensor swiftfunc makes comes from one process-wide pool. Blocks of 1 MiB
 * and more are rounded up to a size class (8 per doubling; multiples of 2 MiB, 2 MiB aligned and
 * advised for transparent huge pages from 4 MiB on) and, when freed, kept in a cache that serves
 * the next request of the same class without asking the OS: repeated transform calls reuse their
 * large buffers instead of page-faulting them in again. Smaller blocks come from malloc.
 *
 * The cache's budget follows what the process uses: the bytes in use plus the bytes cached stay
 * within twice the high-water mark of the bytes in use (the most that live tensors have held since
 * the library started or sf_memory_release_cached last ran), checked whenever a large block is
 * allocated or freed; over it, the least recently freed blocks go back to the OS. An optional
 * limit (sf_set_memory_limit) bounds the bytes in use plus the bytes cached.
 *
 * Byte counts are those of the blocks: a small block counts its request, a large block its size
 * class (at most 2 MiB, or 12.5% from 16 MiB on, more than the tensor's bytes; the pages past the
 * request are never touched, so the rounding costs address space, not memory). Memory imported
 * through DLPack and the library's own bookkeeping are not counted.
 * ------------------------------------------------------------------------------------------- */

/**
 * The pool's counters, filled by sf_memory_stats. The struct grows by appending fields: set
 * struct_size to sizeof(struct sf_memory_stats) (SF_MEMORY_STATS_INIT does) and the library fills
 * the fields that fit in it and sets struct_size to the bytes it filled, so programs built against
 * an older or newer header keep working. (The type is `struct sf_memory_stats`, as POSIX's `struct
 * stat` beside stat(): the function takes the plain name.)
 */
struct sf_memory_stats {
    size_t struct_size;          /**< in: sizeof the caller's struct; out: the bytes filled. */
    uint64_t bytes_in_use;       /**< bytes of the blocks that live tensors hold. */
    uint64_t bytes_cached;       /**< bytes of freed large blocks kept for reuse (not returned to the OS). */
    uint64_t peak_bytes_in_use;  /**< the most bytes_in_use since the start or sf_memory_reset_peak. */
    uint64_t limit;              /**< the limit set by sf_set_memory_limit; 0: none. */
    uint64_t high_water_bytes_in_use; /**< the most bytes_in_use since the start or
                                      sf_memory_release_cached (sf_memory_reset_peak leaves it): the
                                      cache keeps bytes_in_use + bytes_cached within twice this. */
    uint64_t cache_hits;         /**< large allocations served from the cache. */
    uint64_t os_allocations;     /**< large blocks mapped from the OS (cache misses). */
    uint64_t os_releases;        /**< large blocks returned to the OS (over the budget or the limit, or released). */
    uint64_t failed_allocations; /**< allocations refused: past the limit, or the OS had no memory. */
};

/** A struct sf_memory_stats ready for sf_memory_stats (struct_size set, the rest zero). */
#define SF_MEMORY_STATS_INIT {sizeof(struct sf_memory_stats), 0, 0, 0, 0, 0, 0, 0, 0, 0}

/**
 * Fills *out (see struct sf_memory_stats). A NULL out, or a struct_size smaller than
 * sizeof(size_t) + 4 * sizeof(uint64_t) (the first five fields), gives SF_ERR_INVALID_ARGUMENT.
 */
sf_status sf_memory_stats(struct sf_memory_stats *out);

/**
 * Limits the bytes in use plus the bytes cached to `bytes` (0: no limit, the default). An
 * allocation that would pass the limit first returns cached blocks to the OS; if the bytes in use
 * alone would still pass it, the call that allocates fails with SF_ERR_OUT_OF_MEMORY naming it, and
 * leaves nothing behind (no tensor, no memory in use). Lowering the limit returns cached blocks as
 * far as needed at once; tensors already alive are not affected. Always SF_OK.
 */
sf_status sf_set_memory_limit(uint64_t bytes);

/** Restarts peak_bytes_in_use from the bytes now in use. Always SF_OK. */
sf_status sf_memory_reset_peak(void);

/**
 * Returns every cached block to the OS (torch's empty_cache) and restarts the cache's budget from
 * the bytes now in use. Tensors alive are not affected. Always SF_OK.
 */
sf_status sf_memory_release_cached(void);

/* ---------------------------------------------------------------------------------------------
 * DLPack exchange (zero-copy in both directions)
 * ------------------------------------------------------------------------------------------- */

#ifndef DLPACK_MAJOR_VERSION
/* Debian's dlpack.h is 0.6; these are the DLPack 1.x declarations, with the exact 1.x layout. */
typedef struct {
    uint32_t major;
    uint32_t minor;
} DLPackVersion;

struct DLManagedTensorVersioned {
    DLPackVersion version;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensorVersioned *self);
    uint64_t flags;
    DLTensor dl_tensor;
};
#endif

/**
 * Imports a legacy DLPack tensor without copying. Accepted: device kDLCPU only, lanes 1, dtypes
 * float32/64, int32/64 and bool (DLPack code 6 with 8 bits; kDLUInt with 8 bits is NOT bool and
 * is refused), any strides (NULL means row-major; negative and zero allowed) and byte_offset.
 * Data whose first element is not aligned for its dtype is the one exception to zero-copy: it is
 * copied during the import (and the producer's deleter then runs before this call returns).
 *
 * Ownership: on SF_OK the library owns `managed` and calls its deleter exactly once, when the last
 * tensor viewing it is released. On failure ownership stays with the caller, who must still call
 * the deleter. swiftfunc never writes into imported memory.
 * Statuses: SF_ERR_INVALID_ARGUMENT (NULL, or NULL data with elements), SF_ERR_DEVICE (not CPU),
 * SF_ERR_DTYPE (unsupported dtype or lanes != 1), SF_ERR_SHAPE (bad ndim or sizes, or strides that
 * reach outside what int64_t can address).
 */
sf_status sf_from_dlpack(DLManagedTensor *managed, sf_tensor **out);

/**
 * Imports a DLPack 1.x tensor without copying; as sf_from_dlpack. A version.major other than 1
 * gives SF_ERR_UNSUPPORTED and no other field is read. The READ_ONLY flag is honoured trivially
 * (nothing is ever written). Ownership: on SF_OK the library calls the deleter exactly once when
 * the last view dies; on failure ownership stays with the caller.
 */
sf_status sf_from_dlpack_versioned(struct DLManagedTensorVersioned *managed, sf_tensor **out);

/**
 * Exports `t` as a legacy DLPack tensor that views the same memory (zero-copy). The result keeps
 * the storage alive until its deleter is called; the caller (or the consumer it hands the tensor
 * to) must call `(*out)->deleter(*out)` exactly once. Strides are always filled in (in elements).
 * The data must be treated as read-only: other tensors may share it.
 */
sf_status sf_to_dlpack(sf_tensor *t, DLManagedTensor **out);

/**
 * Exports `t` as a DLPack 1.0 versioned tensor (zero-copy); as sf_to_dlpack. flags is
 * DLPACK_FLAG_BITMASK_READ_ONLY when the storage was imported from another producer, else 0.
 */
sf_status sf_to_dlpack_versioned(sf_tensor *t, struct DLManagedTensorVersioned **out);

/* ---------------------------------------------------------------------------------------------
 * Creation and conversion
 * ------------------------------------------------------------------------------------------- */

/** A 0-d, weakly typed float64 tensor holding `value` (see the promotion rule above). */
sf_status sf_scalar(double value, sf_tensor **out);

/** A tensor of `shape` filled with 0 (torch.zeros). */
sf_status sf_zeros(const int64_t *shape, size_t ndim, sf_dtype dtype, sf_tensor **out);

/** A tensor of `shape` filled with 1 (torch.ones). */
sf_status sf_ones(const int64_t *shape, size_t ndim, sf_dtype dtype, sf_tensor **out);

/** A tensor of `shape` filled with `value` converted to `dtype` (torch.full). */
sf_status sf_full(const int64_t *shape, size_t ndim, double value, sf_dtype dtype, sf_tensor **out);

/**
 * Values start, start+step, ... below `end` (above it when step < 0), as torch.arange.
 * step == 0, non-finite bounds or a count past int64 give SF_ERR_INVALID_ARGUMENT.
 */
sf_status sf_arange(double start, double end, double step, sf_dtype dtype, sf_tensor **out);

/** An n x m identity matrix (torch.eye(n, m)); n, m >= 0. */
sf_status sf_eye(int64_t n, int64_t m, sf_dtype dtype, sf_tensor **out);

/** `steps` evenly spaced values from start to end inclusive (torch.linspace); steps >= 0. */
sf_status sf_linspace(double start, double end, int64_t steps, sf_dtype dtype, sf_tensor **out);

/**
 * `x` converted to `dtype` (torch's x.to(dtype)): floats to integers truncate toward zero,
 * anything to bool is (x != 0). Converting to the same dtype returns a view.
 */
sf_status sf_cast(sf_tensor *x, sf_dtype dtype, sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Random numbers: a counter-based generator (Philox-4x32-10), seeded process-wide.
 * Each call draws a fresh block of counters, so results depend only on the seed and on the
 * sequence of random calls since sf_manual_seed().
 * ------------------------------------------------------------------------------------------- */

/** Reseeds the generator and resets its counter. Always SF_OK. */
sf_status sf_manual_seed(uint64_t seed);

/** Uniform values in [0, 1) of `shape`; dtype must be a float dtype (SF_ERR_DTYPE otherwise). */
sf_status sf_rand(const int64_t *shape, size_t ndim, sf_dtype dtype, sf_tensor **out);

/** Standard normal values of `shape` (Box–Muller); dtype must be a float dtype. */
sf_status sf_randn(const int64_t *shape, size_t ndim, sf_dtype dtype, sf_tensor **out);

/** 1 with probability p, else 0, elementwise (torch.bernoulli(p)); p is a float tensor. */
sf_status sf_bernoulli(sf_tensor *p, sf_tensor **out);

/**
 * Dropout (torch.nn.functional.dropout): with `training`, zeroes each element with probability p
 * and scales the rest by 1/(1-p); without, returns x. 0 <= p <= 1, else SF_ERR_INVALID_ARGUMENT.
 */
sf_status sf_dropout(sf_tensor *x, double p, bool training, sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Elementwise unary ops (torch names). Integer inputs: neg, abs, sign, relu, floor, ceil and round
 * keep the dtype; the others promote to float32. Bool inputs: sign keeps bool; neg, abs, relu,
 * floor, ceil and round give SF_ERR_DTYPE (as torch). floor/ceil/round/sign have zero derivative;
 * round is round-half-to-even as in torch. silu and gelu take float inputs only.
 * ------------------------------------------------------------------------------------------- */

sf_status sf_neg(sf_tensor *x, sf_tensor **out);
sf_status sf_exp(sf_tensor *x, sf_tensor **out);
sf_status sf_log(sf_tensor *x, sf_tensor **out);
sf_status sf_log1p(sf_tensor *x, sf_tensor **out);
sf_status sf_expm1(sf_tensor *x, sf_tensor **out);
sf_status sf_sin(sf_tensor *x, sf_tensor **out);
sf_status sf_cos(sf_tensor *x, sf_tensor **out);
sf_status sf_tan(sf_tensor *x, sf_tensor **out);
sf_status sf_tanh(sf_tensor *x, sf_tensor **out);
sf_status sf_sigmoid(sf_tensor *x, sf_tensor **out);
sf_status sf_sqrt(sf_tensor *x, sf_tensor **out);
sf_status sf_rsqrt(sf_tensor *x, sf_tensor **out);
sf_status sf_abs(sf_tensor *x, sf_tensor **out);
sf_status sf_sign(sf_tensor *x, sf_tensor **out);
sf_status sf_relu(sf_tensor *x, sf_tensor **out);
sf_status sf_floor(sf_tensor *x, sf_tensor **out);
sf_status sf_ceil(sf_tensor *x, sf_tensor **out);
sf_status sf_round(sf_tensor *x, sf_tensor **out);

/** x * sigmoid(x). */
sf_status sf_silu(sf_tensor *x, sf_tensor **out);

/** GELU; exact (erf) when `tanh_approximation` is false, torch's approximate='tanh' otherwise. */
sf_status sf_gelu(sf_tensor *x, bool tanh_approximation, sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Elementwise binary ops, broadcasting and promoting (see the conventions at the top).
 * div is true division as torch's: integer operands give float32 and x/0 gives inf or NaN.
 * Integer arithmetic wraps on overflow. pow promotes like the others; an integer base with a
 * negative integer exponent gives SF_ERR_INVALID_ARGUMENT. On bools, add is logical or, mul
 * logical and, maximum/minimum or/and; sub and pow of bools give SF_ERR_DTYPE.
 * maximum/minimum propagate NaN. Comparisons return bool.
 * ------------------------------------------------------------------------------------------- */

sf_status sf_add(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_sub(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_mul(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_div(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_pow(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_maximum(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_minimum(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_atan2(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_lt(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_le(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_gt(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_ge(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_eq(sf_tensor *a, sf_tensor *b, sf_tensor **out);
sf_status sf_ne(sf_tensor *a, sf_tensor *b, sf_tensor **out);

/** Elementwise `cond ? a : b` (torch.where); cond must be bool; all three broadcast. */
sf_status sf_where(sf_tensor *cond, sf_tensor *a, sf_tensor *b, sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Reductions over a set of dims. `dims` NULL (n_dims 0) means all dims; repeated dims give
 * SF_ERR_INVALID_ARGUMENT. With keepdim the reduced dims stay with size 1.
 * sum/prod of bool or int32 give int64 (as torch); amax/amin of an empty reduction give
 * SF_ERR_SHAPE. argmax/argmin give the int64 row-major index within the reduced dims of the
 * first extreme value (NaN counts as the extreme, as in torch).
 * ------------------------------------------------------------------------------------------- */

sf_status sf_sum(sf_tensor *x, const int64_t *dims, size_t n_dims, bool keepdim, sf_tensor **out);
sf_status sf_prod(sf_tensor *x, const int64_t *dims, size_t n_dims, bool keepdim, sf_tensor **out);
sf_status sf_amax(sf_tensor *x, const int64_t *dims, size_t n_dims, bool keepdim, sf_tensor **out);
sf_status sf_amin(sf_tensor *x, const int64_t *dims, size_t n_dims, bool keepdim, sf_tensor **out);
sf_status sf_argmax(sf_tensor *x, const int64_t *dims, size_t n_dims, bool keepdim, sf_tensor **out);
sf_status sf_argmin(sf_tensor *x, const int64_t *dims, size_t n_dims, bool keepdim, sf_tensor **out);

/** Mean over dims; integer inputs give SF_ERR_DTYPE (as torch). */
sf_status sf_mean(sf_tensor *x, const int64_t *dims, size_t n_dims, bool keepdim, sf_tensor **out);

/** Variance with `correction` (1 = unbiased, torch's default). */
sf_status sf_var(sf_tensor *x, const int64_t *dims, size_t n_dims, int64_t correction, bool keepdim,
                 sf_tensor **out);

/** Standard deviation: sqrt of sf_var. */
sf_status sf_std(sf_tensor *x, const int64_t *dims, size_t n_dims, int64_t correction, bool keepdim,
                 sf_tensor **out);

/** log(sum(exp(x))) over dims, computed stably. */
sf_status sf_logsumexp(sf_tensor *x, const int64_t *dims, size_t n_dims, bool keepdim,
                       sf_tensor **out);

/** softmax along one dim. */
sf_status sf_softmax(sf_tensor *x, int64_t dim, sf_tensor **out);

/** log(softmax(x)) along one dim, computed stably. */
sf_status sf_log_softmax(sf_tensor *x, int64_t dim, sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Movement. Views share storage; a reshape of data that cannot be viewed copies.
 * ------------------------------------------------------------------------------------------- */

/** x with a new shape of the same element count; one entry may be -1 (inferred). */
sf_status sf_reshape(sf_tensor *x, const int64_t *shape, size_t ndim, sf_tensor **out);

/** x with its dims reordered; `dims` is a permutation of 0..ndim-1 (negatives allowed). */
sf_status sf_permute(sf_tensor *x, const int64_t *dims, size_t ndim, sf_tensor **out);

/** x with dims dim0 and dim1 swapped. */
sf_status sf_transpose(sf_tensor *x, int64_t dim0, int64_t dim1, sf_tensor **out);

/**
 * x broadcast to `shape` (torch.expand / broadcast_to): new leading dims may be added, size-1
 * dims grow, -1 keeps a dim's size. A view with stride 0 on the grown dims.
 */
sf_status sf_expand(sf_tensor *x, const int64_t *shape, size_t ndim, sf_tensor **out);

/** x without the given size-1 dims (all size-1 dims when n_dims is 0); other dims are kept. */
sf_status sf_squeeze(sf_tensor *x, const int64_t *dims, size_t n_dims, sf_tensor **out);

/** x with a new size-1 dim at `dim`, in [-ndim-1, ndim]. */
sf_status sf_unsqueeze(sf_tensor *x, int64_t dim, sf_tensor **out);

/**
 * x[start:stop:step] along `dim` (Python slice rules: negative start/stop count from the end and
 * out-of-range bounds are clamped); step must be positive.
 */
sf_status sf_slice(sf_tensor *x, int64_t dim, int64_t start, int64_t stop, int64_t step,
                   sf_tensor **out);

/** x reversed along each of `dims`. */
sf_status sf_flip(sf_tensor *x, const int64_t *dims, size_t n_dims, sf_tensor **out);

/**
 * Constant padding as torch.nn.functional.pad: `pad` holds n_pad = 2k entries (left, right) for
 * the last dim first, then the one before it, ...; k <= ndim. Negative pads crop.
 */
sf_status sf_pad(sf_tensor *x, const int64_t *pad, size_t n_pad, double value, sf_tensor **out);

/** Concatenation of n >= 1 tensors along `dim`; shapes must agree elsewhere; dtypes promote. */
sf_status sf_cat(sf_tensor *const *tensors, size_t n, int64_t dim, sf_tensor **out);

/** Stacking of n >= 1 equally shaped tensors along a new dim `dim` in [-ndim-1, ndim]. */
sf_status sf_stack(sf_tensor *const *tensors, size_t n, int64_t dim, sf_tensor **out);

/** x cut off from differentiation (torch's detach / JAX's stop_gradient); a view. */
sf_status sf_detach(sf_tensor *x, sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Contraction and convolution (OpenBLAS GEMM)
 * ------------------------------------------------------------------------------------------- */

/**
 * torch.matmul: 1-D·1-D is a dot product, 2-D·2-D a matrix product, 1-D operands get a dim
 * prepended (left) or appended (right) that is removed afterwards, and leading batch dims
 * broadcast. Float dtypes only (both promoted to the common float type): SF_ERR_DTYPE otherwise.
 */
sf_status sf_matmul(sf_tensor *a, sf_tensor *b, sf_tensor **out);

/** x @ weight^T + bias (torch.nn.functional.linear); bias may be NULL. */
sf_status sf_linear(sf_tensor *x, sf_tensor *weight, sf_tensor *bias, sf_tensor **out);

/**
 * 2-D convolution (cross-correlation) as torch.nn.functional.conv2d: x is [N, C, H, W] (or
 * [C, H, W]), weight [O, C/groups, KH, KW], bias [O] or NULL. stride, padding and dilation are
 * pairs (H, W), none of the three pointers NULL; stride and dilation >= 1, padding >= 0, groups
 * >= 1 dividing C and O.
 */
sf_status sf_conv2d(sf_tensor *x, sf_tensor *weight, sf_tensor *bias, const int64_t stride[2],
                    const int64_t padding[2], const int64_t dilation[2], int64_t groups,
                    sf_tensor **out);

/**
 * Transposed 2-D convolution as torch.nn.functional.conv_transpose2d (the adjoint of conv2d in
 * x): x is [N, C_in, H, W] (or [C_in, H, W]), weight [C_in, C_out/groups, KH, KW], bias [C_out]
 * or NULL; the result is [N, C_out, H_out, W_out] with H_out = (H - 1) * stride[0] - 2 * padding[0]
 * + dilation[0] * (KH - 1) + output_padding[0] + 1 (W_out likewise). stride, padding,
 * output_padding and dilation are pairs (H, W), none of the four pointers NULL; stride and
 * dilation >= 1, padding >= 0, output_padding >= 0 and smaller than either the stride or the
 * dilation of its dim, groups >= 1 dividing C_in and C_out. (The parameters come in this order;
 * torch's Python signature puts groups before dilation.)
 */
sf_status sf_conv_transpose2d(sf_tensor *x, sf_tensor *weight, sf_tensor *bias, const int64_t stride[2],
                              const int64_t padding[2], const int64_t output_padding[2],
                              const int64_t dilation[2], int64_t groups, sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Linear algebra (torch.linalg; LAPACK from OpenBLAS). Matrices are the last two dims of a float32
 * or float64 tensor, any leading dims a batch. Every function has JVP, VJP and batching rules, so
 * it composes with all the transforms (hessian of a log-determinant, a solve inside a VJP, ...).
 * A matrix dim beyond LAPACK's 32-bit integer is SF_ERR_SHAPE. Failures of the factorization are
 * SF_ERR_INVALID_ARGUMENT with a message naming the op and the batch element, e.g.
 * "sf_linalg_cholesky: the input (batch element [1]) is not positive-definite (the leading minor
 * of order 2 is not positive-definite)"; det/slogdet of a singular matrix and
 * solve_triangular with a zero on the diagonal are not errors (0, -inf, inf/nan), as in torch.
 * cholesky and eigh read one triangle only; their derivatives are those of that reading (a
 * perturbation of the other triangle has no effect).
 * ------------------------------------------------------------------------------------------- */

/**
 * torch.linalg.solve: X with A X = B (left) or X A = B (!left), A [..., n, n] invertible. B is
 * [..., n, k], or a vector: 1-D, or A's shape without its last dim. Batch dims broadcast; float32
 * with float64 computes in float64. A singular matrix is SF_ERR_INVALID_ARGUMENT.
 */
sf_status sf_linalg_solve(sf_tensor *a, sf_tensor *b, bool left, sf_tensor **out);

/**
 * torch.linalg.solve_triangular: X with T X = B (left) or X T = B, T the upper (upper) or lower
 * triangle of A (the other is not read), with ones for its diagonal when unitriangular. B is a
 * matrix; batch dims broadcast. No factorization: a zero on the diagonal gives inf/nan.
 */
sf_status sf_linalg_solve_triangular(sf_tensor *a, sf_tensor *b, bool upper, bool left,
                                     bool unitriangular, sf_tensor **out);

/**
 * torch.linalg.cholesky: L lower triangular with A = L L^T, from the lower triangle of A; with
 * upper, U = L^T (A = U^T U). Not positive-definite: SF_ERR_INVALID_ARGUMENT.
 */
sf_status sf_linalg_cholesky(sf_tensor *a, bool upper, sf_tensor **out);

/**
 * torch.cholesky_solve(B, L, upper): X with A X = B for A = L L^T (A = U^T U when upper), given
 * the factor from sf_linalg_cholesky.
 */
sf_status sf_linalg_cholesky_solve(sf_tensor *b, sf_tensor *factor, bool upper, sf_tensor **out);

/** torch.linalg.inv: the inverse of each matrix (singular: SF_ERR_INVALID_ARGUMENT). */
sf_status sf_linalg_inv(sf_tensor *a, sf_tensor **out);

/**
 * torch.linalg.det: one value per matrix, 0 when singular. Its derivatives, as those of slogdet
 * and logdet, use A^-1: differentiating at a singular matrix is SF_ERR_INVALID_ARGUMENT.
 */
sf_status sf_linalg_det(sf_tensor *a, sf_tensor **out);

/**
 * torch.linalg.slogdet: the sign of det A (-1, 0 or 1; no derivative) into *out_sign and
 * log|det A| (-inf when singular) into *out_logabsdet. On failure neither is set.
 */
sf_status sf_linalg_slogdet(sf_tensor *a, sf_tensor **out_sign, sf_tensor **out_logabsdet);

/** torch.logdet: log det A; nan where det A < 0, -inf where it is 0. */
sf_status sf_linalg_logdet(sf_tensor *a, sf_tensor **out);

/**
 * torch.linalg.eigh: the eigenvalues ([..., n], ascending) into *out_eigenvalues and the
 * eigenvectors (the columns of [..., n, n]) into *out_eigenvectors of the symmetric matrix given by
 * the lower triangle of A (the upper one when upper: UPLO='U'). The eigenvalues' derivatives are
 * always finite; the eigenvectors' are finite only while the eigenvalues are distinct (inf/nan
 * otherwise, as in torch and JAX), and fix the eigenvectors' signs as LAPACK returned them. On
 * failure neither output is set.
 */
sf_status sf_linalg_eigh(sf_tensor *a, bool upper, sf_tensor **out_eigenvalues,
                         sf_tensor **out_eigenvectors);

/** torch.linalg.eigvalsh: the eigenvalues of sf_linalg_eigh alone. */
sf_status sf_linalg_eigvalsh(sf_tensor *a, bool upper, sf_tensor **out);

/**
 * torch.linalg.svd: A = U diag(S) Vh with S descending ([..., k], k = min(m, n)), from one LAPACK
 * gesdd per matrix. full_matrices gives U [..., m, m] and Vh [..., n, n], otherwise U [..., m, k]
 * and Vh [..., k, n]. Derivatives of S are always finite; those of U and Vh (torch's and JAX's)
 * are finite only for distinct, and for non-square A nonzero, singular values (inf/nan
 * otherwise), keep the signs LAPACK chose, and with full_matrices exist only for square A
 * (SF_ERR_UNSUPPORTED otherwise). A matrix with inf/nan entries gives nan. On failure no output
 * is set.
 */
sf_status sf_linalg_svd(sf_tensor *a, bool full_matrices, sf_tensor **out_U, sf_tensor **out_S,
                        sf_tensor **out_Vh);

/** torch.linalg.svdvals: S of sf_linalg_svd alone (no vectors computed; derivative U^T dA V). */
sf_status sf_linalg_svdvals(sf_tensor *a, sf_tensor **out);

/**
 * torch.linalg.pinv(A, atol, rtol): the pseudo-inverse [..., n, m] through the reduced SVD, keeping
 * the singular values above max(atol, rtol * largest). rtol NaN is torch's rtol=None: max(m, n) *
 * eps of the dtype when atol is 0, else 0. Negative tolerances are SF_ERR_INVALID_ARGUMENT.
 */
sf_status sf_linalg_pinv(sf_tensor *a, double atol, double rtol, sf_tensor **out);

/**
 * torch.linalg.qr: A = Q R (geqrf + orgqr, one factorization for both). mode "reduced" (NULL):
 * Q [..., m, k], R [..., k, n], k = min(m, n); "complete": Q [..., m, m], R [..., m, n]; "r": R
 * reduced and Q an empty tensor, as torch. R's diagonal keeps LAPACK's signs. Derivatives (JAX's
 * rule) need m >= n and reduced factors (complete when m == n): SF_ERR_UNSUPPORTED otherwise.
 */
sf_status sf_linalg_qr(sf_tensor *a, const char *mode, sf_tensor **out_Q, sf_tensor **out_R);

/**
 * torch.linalg.lstsq(A, B, rcond) for full-rank A: the least-squares solution of a tall A (m >= n)
 * as R^-1 Q^T B, the minimum-norm one of a wide A through qr(A^T); differentiable through qr and
 * the triangular solves. *out_rank (int64, A's batch dims) counts the singular values above rcond
 * times the largest (rcond NaN: torch's default, eps * max(m, n)). As torch's CPU driver 'gelsy',
 * residuals and singular values are not computed (the Python wrapper returns them empty). A
 * rank-deficient A gives inf/nan (unlike gelsy). B is [..., m, k] or [..., m].
 */
sf_status sf_linalg_lstsq(sf_tensor *a, sf_tensor *b, double rcond, sf_tensor **out_solution,
                          sf_tensor **out_rank);

/**
 * torch.linalg.lu_factor: A = P L U (getrf) packed into *out_LU (L unit lower below the diagonal, U
 * on and above it) and *out_pivots (int32 [..., min(m, n)], 1-based: row i was swapped with
 * pivots[i]). A singular A is not an error. It runs getrf once per output. No derivative:
 * differentiating it is SF_ERR_UNSUPPORTED naming sf_linalg_lu_factor.
 */
sf_status sf_linalg_lu_factor(sf_tensor *a, sf_tensor **out_LU, sf_tensor **out_pivots);

/**
 * torch.linalg.lu_solve(LU, pivots, B, left, adjoint): X with A X = B (A^T X = B when adjoint;
 * X A = B when !left) from sf_linalg_lu_factor's square factors. Pivots outside 1..n are
 * SF_ERR_INVALID_ARGUMENT. Differentiable in B and in LU (L and U as read, the pivots fixed).
 */
sf_status sf_linalg_lu_solve(sf_tensor *lu, sf_tensor *pivots, sf_tensor *b, bool left, bool adjoint,
                             sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Indexing. Index tensors are int32 or int64; negative indices count from the end; an index out
 * of range gives SF_ERR_INVALID_ARGUMENT naming it.
 * ------------------------------------------------------------------------------------------- */

/**
 * out[i][j][k] = x[index[i][j][k]][j][k] for dim 0 and so on (torch.gather / take_along_dim):
 * index has x's rank and index.size(d) <= x.size(d) for d != dim.
 */
sf_status sf_gather(sf_tensor *x, int64_t dim, sf_tensor *index, sf_tensor **out);

/** The entries of x at the 1-D `index` along `dim` (torch.index_select). */
sf_status sf_index_select(sf_tensor *x, int64_t dim, sf_tensor *index, sf_tensor **out);

/**
 * A copy of x with src added at `index` along `dim` (torch.scatter_add, out of place): for dim 0,
 * out[index[i][j]][j] += src[i][j]. index, src and x have the same rank; index.size(d) <=
 * src.size(d) for every d and <= x.size(d) for d != dim; src has x's dtype (SF_ERR_DTYPE otherwise).
 */
sf_status sf_scatter_add(sf_tensor *x, int64_t dim, sf_tensor *index, sf_tensor *src,
                         sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Tensor ops: einsum, diagonals, triangles, scans, sorting, norms, roll, repeat, tile (torch names)
 *
 * All of them are differentiable (to any order) and batchable: sort, argsort and topk return
 * int64 indices and values gathered at them (differentiable through the gather); cumsum and
 * cumprod are one linear-recurrence primitive; the rest are built from movement ops, reductions,
 * where and matmul. Integer inputs of cumsum/cumprod (and bool) give int64, as in torch.
 * ------------------------------------------------------------------------------------------- */

/**
 * torch.einsum: `equation` (a NUL-terminated string such as "bij,bjk->bik") over n >= 1 operands.
 * Subscripts are letters; a subscript repeated within an operand takes its diagonal ("ii->i",
 * "ii" is the trace); "..." stands for broadcast batch dims; without "->" the output is the
 * ellipsis dims then the subscripts that appear once, alphabetically (A-Z before a-z). Sizes of a
 * subscript must agree across operands or be 1 (broadcast). Float contractions are batched GEMMs.
 * A malformed equation, a count or size mismatch give SF_ERR_INVALID_ARGUMENT or SF_ERR_SHAPE
 * with a message naming the subscript.
 */
sf_status sf_einsum(const char *equation, sf_tensor *const *operands, size_t n, sf_tensor **out);

/**
 * torch.diagonal: the `offset` diagonal (above the main one when > 0) of the matrices over dims
 * dim1 and dim2 (rank >= 2, distinct dims); those dims go and the diagonal becomes the last dim.
 */
sf_status sf_diagonal(sf_tensor *x, int64_t offset, int64_t dim1, int64_t dim2, sf_tensor **out);

/**
 * torch.diag_embed: matrices (zeros elsewhere) whose `offset` diagonal over the new dims dim1 and
 * dim2 holds x's last dim; dims count in the result's rank, x.ndim + 1 (torch's -2, -1 put the
 * matrices last).
 */
sf_status sf_diag_embed(sf_tensor *x, int64_t offset, int64_t dim1, int64_t dim2, sf_tensor **out);

/** torch.diag: a 1-D x becomes a matrix with x on its `diagonal`; a 2-D x gives that diagonal. */
sf_status sf_diag(sf_tensor *x, int64_t diagonal, sf_tensor **out);

/** torch.trace: the sum of the main diagonal of a 2-D tensor (integer inputs give int64). */
sf_status sf_trace(sf_tensor *x, sf_tensor **out);

/** torch.tril: x over its last two dims with the elements above `diagonal` set to 0 (column - row > diagonal). */
sf_status sf_tril(sf_tensor *x, int64_t diagonal, sf_tensor **out);

/** torch.triu: x over its last two dims with the elements below `diagonal` set to 0 (column - row < diagonal). */
sf_status sf_triu(sf_tensor *x, int64_t diagonal, sf_tensor **out);

/** torch.cumsum: running sums along `dim`. */
sf_status sf_cumsum(sf_tensor *x, int64_t dim, sf_tensor **out);

/** torch.cumprod: running products along `dim` (the gradient is exact also where x has zeros). */
sf_status sf_cumprod(sf_tensor *x, int64_t dim, sf_tensor **out);

/**
 * torch.sort (stable=True): x sorted along `dim` into *values and the int64 positions of those
 * values in x into *indices. Equal values keep their order; NaN sorts as the largest value.
 * Both out pointers are required.
 */
sf_status sf_sort(sf_tensor *x, int64_t dim, bool descending, sf_tensor **values, sf_tensor **indices);

/** torch.argsort (stable): the int64 indices of sf_sort. */
sf_status sf_argsort(sf_tensor *x, int64_t dim, bool descending, sf_tensor **out);

/**
 * torch.topk: the k largest (`largest`) or smallest values along `dim`, sorted, and their int64
 * indices; 0 <= k <= the dim's size (SF_ERR_INVALID_ARGUMENT otherwise). Ties: lower index first.
 */
sf_status sf_topk(sf_tensor *x, int64_t k, int64_t dim, bool largest, sf_tensor **values, sf_tensor **indices);

/**
 * torch.linalg.vector_norm over dims (NULL/0: all): ord 2 is sqrt(sum x^2), INFINITY max |x|,
 * -INFINITY min |x|, 0 the count of nonzeros, any other p (sum |x|^p)^(1/p). Float inputs only.
 * The gradient at x = 0 is 0 (as torch's), not NaN.
 */
sf_status sf_vector_norm(sf_tensor *x, double ord, const int64_t *dims, size_t n_dims, bool keepdim,
                         sf_tensor **out);

/**
 * torch.linalg.matrix_norm over dims (dim0, dim1): `ord` is "fro" (also for NULL), "1", "-1"
 * (max/min column sum of |x|), "inf", "-inf" (max/min row sum), "nuc" (the sum of the singular
 * values), "2", "-2" (the largest/smallest singular value; through sf_linalg_svdvals, differentiable
 * where it is). Another string gives SF_ERR_INVALID_ARGUMENT.
 */
sf_status sf_matrix_norm(sf_tensor *x, const char *ord, int64_t dim0, int64_t dim1, bool keepdim,
                         sf_tensor **out);

/**
 * torch.roll: x shifted by shifts[i] along dims[i] (elements wrap around); with n_dims 0 the
 * flattened x is rolled by the one shift and reshaped back. n_shifts must equal n_dims (1 without dims).
 */
sf_status sf_roll(sf_tensor *x, const int64_t *shifts, size_t n_shifts, const int64_t *dims, size_t n_dims,
                  sf_tensor **out);

/** torch.Tensor.repeat: x repeated repeats[i] times along dim i; n >= x's rank (leading dims are added). */
sf_status sf_repeat(sf_tensor *x, const int64_t *repeats, size_t n, sf_tensor **out);

/** torch.tile: as sf_repeat, with fewer entries than x's rank allowed (ones are prepended). */
sf_status sf_tile(sf_tensor *x, const int64_t *dims, size_t n, sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Neural-network composites (torch.nn.functional)
 * ------------------------------------------------------------------------------------------- */

/** How a loss reduces its per-element values. */
typedef enum sf_reduction {
    SF_REDUCTION_NONE = 0,
    SF_REDUCTION_MEAN = 1,
    SF_REDUCTION_SUM = 2
} sf_reduction;

/**
 * Layer normalization over the trailing `n` dims given by normalized_shape (which must match x's
 * last dims); weight and bias are optional (NULL) and have normalized_shape.
 */
sf_status sf_layer_norm(sf_tensor *x, const int64_t *normalized_shape, size_t n, sf_tensor *weight,
                        sf_tensor *bias, double eps, sf_tensor **out);

/**
 * Cross-entropy of `logits` [N, C] (or [C]) against class indices `target` [N] (or 0-d), int32
 * or int64 in [0, C).
 */
sf_status sf_cross_entropy(sf_tensor *logits, sf_tensor *target, sf_reduction reduction,
                           sf_tensor **out);

/** Mean squared error between input and target (broadcasting). */
sf_status sf_mse_loss(sf_tensor *input, sf_tensor *target, sf_reduction reduction, sf_tensor **out);

/* ---------------------------------------------------------------------------------------------
 * Neural-network functions: pooling, normalization, losses, activations, attention
 * (torch.nn.functional names, arguments and defaults). Pairs are (H, W); none of their pointers
 * may be NULL. A second result pointer (indices, updated running statistics) may be NULL when
 * it is not wanted; on failure every result pointer holds NULL.
 * ------------------------------------------------------------------------------------------- */

/**
 * 2-D max pooling of float x [N, C, H, W] (or [C, H, W]): windows of kernel_size taps spaced by
 * dilation, every `stride` from -padding (taps in the padding never win); ceil_mode adds a last
 * partial window that starts inside the input or the left padding. kernel_size, stride and
 * dilation >= 1, 0 <= padding <= kernel_size / 2. *out_indices (when not NULL) receives torch's
 * return_indices: the int64 position h * W + w of each maximum within its plane (the first
 * maximum of a window; NaN wins). max_pool2d is a primitive returning these positions followed
 * by a gather, so its derivative sends each cotangent to its window's maximum.
 */
sf_status sf_max_pool2d(sf_tensor *x, const int64_t kernel_size[2], const int64_t stride[2],
                        const int64_t padding[2], const int64_t dilation[2], bool ceil_mode,
                        sf_tensor **out, sf_tensor **out_indices);

/** 1-D max pooling of x [N, C, L] (or [C, L]), as sf_max_pool2d along L. */
sf_status sf_max_pool1d(sf_tensor *x, int64_t kernel_size, int64_t stride, int64_t padding,
                        int64_t dilation, bool ceil_mode, sf_tensor **out, sf_tensor **out_indices);

/**
 * 2-D average pooling of float x [N, C, H, W] (or [C, H, W]); windows as sf_max_pool2d without
 * dilation. Each window's sum is divided by divisor_override when it is nonzero, else by the
 * window's size clipped to the padded input (count_include_pad) or to the input.
 */
sf_status sf_avg_pool2d(sf_tensor *x, const int64_t kernel_size[2], const int64_t stride[2],
                        const int64_t padding[2], bool ceil_mode, bool count_include_pad,
                        int64_t divisor_override, sf_tensor **out);

/** 1-D average pooling of x [N, C, L] (or [C, L]), as sf_avg_pool2d along L. */
sf_status sf_avg_pool1d(sf_tensor *x, int64_t kernel_size, int64_t stride, int64_t padding,
                        bool ceil_mode, bool count_include_pad, sf_tensor **out);

/**
 * Adaptive average pooling of float x [N, C, H, W] (or [C, H, W]) to output_size (OH, OW): output
 * row i averages input rows floor(i H / OH) to ceil((i + 1) H / OH) - 1, and likewise for columns.
 */
sf_status sf_adaptive_avg_pool2d(sf_tensor *x, const int64_t output_size[2], sf_tensor **out);

/** 1-D convolution of x [N, C, L] (or [C, L]) with weight [O, C/groups, K]; bias [O] or NULL. */
sf_status sf_conv1d(sf_tensor *x, sf_tensor *weight, sf_tensor *bias, int64_t stride, int64_t padding,
                    int64_t dilation, int64_t groups, sf_tensor **out);

/**
 * Batch normalization of float x [N, C, ...] per channel. running_mean and running_var ([C]) are
 * both given or both NULL; weight and bias ([C]) may be NULL. Training: normalizes with the
 * batch's mean and biased variance (more than one value per channel needed) and, with running
 * statistics, stores in *out_running_mean / *out_running_var (when not NULL) the updated values
 * (1 - momentum) r + momentum s, s the batch mean and unbiased variance, carrying no derivative.
 * Not training: normalizes with the running statistics, which are required; the updated-statistic
 * pointers receive NULL. Under vmap, running statistics that are not batched cannot be updated
 * from a batched input: SF_ERR_TRANSFORM, as torch.func; inside sf_jit, training with running
 * statistics is SF_ERR_TRANSFORM too (the new values would be traced, not data).
 */
sf_status sf_batch_norm(sf_tensor *x, sf_tensor *running_mean, sf_tensor *running_var,
                        sf_tensor *weight, sf_tensor *bias, bool training, double momentum, double eps,
                        sf_tensor **out, sf_tensor **out_running_mean, sf_tensor **out_running_var);

/**
 * Group normalization of float x [N, C, ...] over num_groups groups of channels (dividing C);
 * weight and bias ([C]) may be NULL.
 */
sf_status sf_group_norm(sf_tensor *x, int64_t num_groups, sf_tensor *weight, sf_tensor *bias,
                        double eps, sf_tensor **out);

/**
 * Rows of weight [V, D] at the int32/int64 `indices` (each in [0, V)): indices.shape + [D].
 * padding_idx (NULL: none; negative counts from V) names a row that receives no gradient.
 */
sf_status sf_embedding(sf_tensor *indices, sf_tensor *weight, const int64_t *padding_idx, sf_tensor **out);

/**
 * Negative log-likelihood of log-probabilities input [N, C, d...] (or [C]) at class indices
 * target [N, d...] (or 0-d), each in [0, C) or equal to ignore_index (then it counts nothing).
 * weight [C] or NULL weighs the classes; the mean divides by the summed weights of the counted
 * targets.
 */
sf_status sf_nll_loss(sf_tensor *input, sf_tensor *target, sf_tensor *weight, int64_t ignore_index,
                      sf_reduction reduction, sf_tensor **out);

/** Mean absolute error between input and target (broadcasting). */
sf_status sf_l1_loss(sf_tensor *input, sf_tensor *target, sf_reduction reduction, sf_tensor **out);

/** Smooth L1: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta >= 0; 0 is L1). */
sf_status sf_smooth_l1_loss(sf_tensor *input, sf_tensor *target, sf_reduction reduction, double beta,
                            sf_tensor **out);

/** Huber: 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (delta > 0). */
sf_status sf_huber_loss(sf_tensor *input, sf_tensor *target, sf_reduction reduction, double delta,
                        sf_tensor **out);

/**
 * Binary cross-entropy of probabilities `input` against `target` (same shape): -w (t log x +
 * (1 - t) log(1 - x)), each log clamped at -100; weight (broadcast) may be NULL. Inputs outside
 * [0, 1] are not checked.
 */
sf_status sf_binary_cross_entropy(sf_tensor *input, sf_tensor *target, sf_tensor *weight,
                                  sf_reduction reduction, sf_tensor **out);

/**
 * Binary cross-entropy of logits, in the stable form; weight (broadcast) and pos_weight
 * (broadcast along the last dim: the weight of the positive term) may be NULL.
 */
sf_status sf_binary_cross_entropy_with_logits(sf_tensor *input, sf_tensor *target, sf_tensor *weight,
                                              sf_tensor *pos_weight, sf_reduction reduction,
                                              sf_tensor **out);

/**
 * Kullback-Leibler divergence of log-probabilities `input` from `target` (probabilities, or
 * log-probabilities with log_target): t (log t - x), 0 where t is 0. torch's 'batchmean' is the
 * SF_REDUCTION_SUM result divided by input's first size.
 */
sf_status sf_kl_div(sf_tensor *input, sf_tensor *target, sf_reduction reduction, bool log_target,
                    sf_tensor **out);

/** log(1 + e^(beta x)) / beta, and x where beta x > threshold (beta finite and nonzero). */
sf_status sf_softplus(sf_tensor *x, double beta, double threshold, sf_tensor **out);

/** x where x > 0, else alpha (e^x - 1). */
sf_status sf_elu(sf_tensor *x, double alpha, sf_tensor **out);

/** x where x > 0, else negative_slope x. */
sf_status sf_leaky_relu(sf_tensor *x, double negative_slope, sf_tensor **out);

/** log(sigmoid(x)), computed stably. */
sf_status sf_logsigmoid(sf_tensor *x, sf_tensor **out);

/** x / max(||x||_p, eps) along dim (p > 0, or INFINITY); the norm's derivative is 0 at 0. */
sf_status sf_normalize(sf_tensor *x, double p, int64_t dim, double eps, sf_tensor **out);

/** Cosine similarity of x1 and x2 (broadcasting) along dim, each norm clamped below at eps. */
sf_status sf_cosine_similarity(sf_tensor *x1, sf_tensor *x2, int64_t dim, double eps, sf_tensor **out);

/**
 * softmax(query key^T scale + mask) value for query [..., L, E], key [..., S, E], value
 * [..., S, Ev] (leading dims broadcast). attn_mask (NULL: none) is bool (true takes part) or
 * float (added), broadcast to [..., L, S]; is_causal masks key j > query i (not with attn_mask).
 * scale NULL means 1 / sqrt(E). dropout_p in [0, 1] drops attention weights (a random draw).
 */
sf_status sf_scaled_dot_product_attention(sf_tensor *query, sf_tensor *key, sf_tensor *value,
                                          sf_tensor *attn_mask, double dropout_p, bool is_causal,
                                          const double *scale, sf_tensor **out);


/* ---------------------------------------------------------------------------------------------
 * Functions and transforms (torch.func)
 *
 * A function is a reference-counted handle to a host callback or to a transformed function.
 * Transforms turn functions into functions (sf_grad, sf_vmap, ...) or evaluate them now (sf_vjp,
 * sf_jvp, sf_linearize), as torch.func does. All of them may be called inside a callback, with
 * the callback's (possibly traced) inputs: that is how a host nests transforms.
 *
 * Inside a callback, ops see traced values: they behave like tensors of the per-example shape.
 * sf_tensor_copy_to reads the primal under grad/jvp (so data-dependent control flow works) and
 * fails with SF_ERR_TRANSFORM under vmap. A traced value kept and used after its transform has
 * returned (an escaped tracer) gives SF_ERR_TRANSFORM.
 * ------------------------------------------------------------------------------------------- */

/** A function from tensors to tensors. */
typedef struct sf_function sf_function;

/**
 * A host function. `inputs` are borrowed for the duration of the call; the callback stores one
 * new reference in each of `outputs[0..n_outputs)` (made by sf_* ops) and returns 0. A nonzero
 * return is a failure: the caller gets SF_ERR_CALLBACK with the message the callback set with
 * sf_set_error() (or that the failing sf_* call it forwards set). Outputs stored before a failure
 * are released by the library.
 */
typedef int (*sf_callback)(void *user_data, sf_tensor *const *inputs, size_t n_inputs,
                           sf_tensor **outputs, size_t n_outputs);

/** In sf_vmap's in_dims/out_dims: the input is not mapped (torch's None). */
#define SF_NOT_MAPPED INT64_MIN

/** What random ops do under vmap (torch.func's randomness). */
typedef enum sf_randomness {
    SF_RANDOMNESS_ERROR = 0,     /**< random ops under vmap are an error (the default). */
    SF_RANDOMNESS_DIFFERENT = 1, /**< each batch element draws its own sample. */
    SF_RANDOMNESS_SAME = 2       /**< one sample shared by the whole batch. */
} sf_randomness;

/**
 * Makes a function from a host callback with n_inputs inputs and n_outputs outputs (n_outputs >=
 * 1). free_user_data (may be NULL) is called with user_data exactly once, when the last reference
 * to the function is released — also when this call fails.
 */
sf_status sf_function_new(sf_callback callback, void *user_data, void (*free_user_data)(void *),
                          size_t n_inputs, size_t n_outputs, sf_function **out);

/** Adds a reference to `f`. NULL is a no-op. */
void sf_function_retain(sf_function *f);

/** Drops a reference to `f`. NULL is a no-op. */
void sf_function_release(sf_function *f);

/**
 * Stores how many inputs and outputs `f` has; either out pointer may be NULL. n_outputs is
 * SF_OUTPUTS_AT_RETURN for a function whose output count is known only when it returns (see
 * sf_function_new_at_return).
 */
sf_status sf_function_arity(sf_function *f, size_t *n_inputs, size_t *n_outputs);

/**
 * Calls `f`. n_inputs and n_outputs must equal its arity (SF_ERR_INVALID_ARGUMENT otherwise; for a
 * function whose outputs are known at return, n_outputs must equal what it returns).
 * On SF_OK each outputs[i] is a new reference; on failure every outputs[i] is NULL.
 */
sf_status sf_call(sf_function *f, sf_tensor *const *inputs, size_t n_inputs, sf_tensor **outputs,
                  size_t n_outputs);

/**
 * torch.func.grad: a function with f's inputs whose outputs are the gradients of f's first output
 * (which must be a 0-d float tensor; SF_ERR_SHAPE names its shape otherwise) with respect to the
 * inputs listed in argnums (NULL with n_argnums 0 means {0}), in argnums order, followed by f's
 * other outputs untouched when has_aux is set. Without has_aux f must have exactly one output.
 * Differentiated inputs must be float tensors (SF_ERR_DTYPE otherwise).
 */
sf_status sf_grad(sf_function *f, const int32_t *argnums, size_t n_argnums, bool has_aux,
                  sf_function **out);

/** torch.func.grad_and_value: as sf_grad, with the value of f's first output after the gradients. */
sf_status sf_grad_and_value(sf_function *f, const int32_t *argnums, size_t n_argnums, bool has_aux,
                            sf_function **out);

/**
 * torch.func.vjp: evaluates f at primals[0..n) into outputs[0..n_out) (n_out = f's output count)
 * and makes *vjp_fn, the pullback: a function from n_out cotangents (shaped like the outputs) to n
 * input cotangents (zeros for integer inputs and for inputs the outputs do not depend on).
 */
sf_status sf_vjp(sf_function *f, sf_tensor *const *primals, size_t n, sf_tensor **outputs,
                 size_t n_out, sf_function **vjp_fn);

/**
 * torch.func.jvp: evaluates f at primals with tangents (each shaped like its primal) and stores
 * the outputs and their tangents (n_out of each).
 */
sf_status sf_jvp(sf_function *f, sf_tensor *const *primals, sf_tensor *const *tangents, size_t n,
                 sf_tensor **outputs, sf_tensor **tangents_out, size_t n_out);

/**
 * torch.func.linearize: evaluates f at primals into outputs and makes *jvp_fn, the function from
 * n input tangents to n_out output tangents at those primals. f runs once, here: jvp_fn replays
 * only the recorded tangent computation (f's callbacks are not called again).
 */
sf_status sf_linearize(sf_function *f, sf_tensor *const *primals, size_t n, sf_tensor **outputs,
                       size_t n_out, sf_function **jvp_fn);

/**
 * torch.func.jacrev: a function whose outputs are, for each output i of f (all but the last ones
 * when has_aux: then f returns (value, aux...)) and each input j in argnums (NULL/0 means {0}), in
 * that order, the Jacobian d out_i / d in_j of shape out_i.shape + in_j.shape; then the aux
 * outputs. chunk_size 0 computes all rows at once, k > 0 at most k at a time.
 */
sf_status sf_jacrev(sf_function *f, const int32_t *argnums, size_t n_argnums, bool has_aux,
                    int64_t chunk_size, sf_function **out);

/** torch.func.jacfwd: the same Jacobians as sf_jacrev, by forward mode (vmap over jvp). */
sf_status sf_jacfwd(sf_function *f, const int32_t *argnums, size_t n_argnums, bool has_aux,
                    sf_randomness randomness, sf_function **out);

/**
 * torch.func.hessian: jacfwd(jacrev(f)) over argnums (NULL/0 means {0}). For each output of f
 * (usually one) and each pair (a, b) of argnums entries in row-major order, the second derivative
 * d2 out / d in_a d in_b of shape out.shape + in_a.shape + in_b.shape.
 */
sf_status sf_hessian(sf_function *f, const int32_t *argnums, size_t n_argnums, sf_function **out);

/**
 * torch.func.vmap: f mapped over dim in_dims[k] of input k (SF_NOT_MAPPED: passed whole to every
 * element; negative dims count from the end); each output gets the batch at out_dims[k] (an
 * output that does not depend on the mapped inputs is broadcast; SF_NOT_MAPPED requires that it
 * does not). in_dims NULL means all 0; out_dims NULL means all 0. n_in and n_out must match f's
 * arity when the arrays are given. chunk_size 0 maps everything at once, k > 0 at most k
 * elements at a time. Inputs mapped with different sizes, in/out dims out of range, or no mapped
 * input at all are errors whose message names the inputs and sizes.
 */
sf_status sf_vmap(sf_function *f, const int64_t *in_dims, size_t n_in, const int64_t *out_dims,
                  size_t n_out, int64_t chunk_size, sf_randomness randomness, sf_function **out);

/* ---------------------------------------------------------------------------------------------
 * Functions whose output count is known when they return
 *
 * A host that learns how many tensors its function returns only by running it (Python, whose
 * function returns a pytree; JAX learns the output structure from its one trace) makes the
 * function with sf_function_new_at_return: the callback appends its outputs to a list, and the
 * library learns their number when the callback returns. The function then runs exactly once per
 * call, whatever transforms are applied to it. Transforms of such a function whose output count
 * depends on it report SF_OUTPUTS_AT_RETURN from sf_function_arity too; call them with
 * sf_call_list (or sf_vjp_list, sf_jvp_list, sf_linearize_list), which append the outputs to a
 * list. sf_call and the array forms still work when the caller knows the count (a different count
 * is SF_ERR_INVALID_ARGUMENT). Such a function must return at least one output and at most SF_MAX_ARITY
 * outputs; otherwise the call fails with SF_ERR_CALLBACK.
 * ------------------------------------------------------------------------------------------- */

/** sf_function_arity's n_outputs for a function whose output count is known only when it returns. */
#define SF_OUTPUTS_AT_RETURN SIZE_MAX

/** A list of tensor references (outputs of a call whose output count is known when it returns). */
typedef struct sf_tensor_list sf_tensor_list;

/** Makes an empty list; free it with sf_tensor_list_free. */
sf_status sf_tensor_list_new(sf_tensor_list **out);

/** Releases the list's references and frees it. NULL is a no-op. */
void sf_tensor_list_free(sf_tensor_list *list);

/** Appends `t`; the list takes a reference of its own (the caller keeps and releases its one). */
sf_status sf_tensor_list_append(sf_tensor_list *list, sf_tensor *t);

/**
 * Appends `t` batched along `dim` (negative dims count from the end; SF_NOT_MAPPED: the same for
 * every batch element). Only a custom function's batching rule reads the dim; plain
 * sf_tensor_list_append means dim 0.
 */
sf_status sf_tensor_list_append_mapped(sf_tensor_list *list, sf_tensor *t, int64_t dim);

/** Stores the number of tensors in the list. */
sf_status sf_tensor_list_size(const sf_tensor_list *list, size_t *out_size);

/** Stores a new reference to entry `index` (SF_ERR_INVALID_ARGUMENT past the end). */
sf_status sf_tensor_list_get(const sf_tensor_list *list, size_t index, sf_tensor **out);

/**
 * A host function that reports its outputs as it returns: it appends each output to `outputs`
 * (sf_tensor_list_append; the list belongs to the library and lives for the call: do not free it)
 * and returns 0; a nonzero return is a failure, as for sf_callback: what
 * it appended is dropped.
 */
typedef int (*sf_list_callback)(void *user_data, sf_tensor *const *inputs, size_t n_inputs,
                                sf_tensor_list *outputs);

/**
 * Makes a function of n_inputs inputs whose output count is known when its callback returns
 * (sf_function_arity reports SF_OUTPUTS_AT_RETURN). free_user_data as for sf_function_new.
 */
sf_status sf_function_new_at_return(sf_list_callback callback, void *user_data,
                                    void (*free_user_data)(void *), size_t n_inputs, sf_function **out);

/** Calls any function and appends its outputs to `outputs` (unchanged on failure). */
sf_status sf_call_list(sf_function *f, sf_tensor *const *inputs, size_t n_inputs,
                       sf_tensor_list *outputs);

/** sf_vjp appending f's outputs to `outputs` (unchanged on failure; *vjp_fn is NULL then). */
sf_status sf_vjp_list(sf_function *f, sf_tensor *const *primals, size_t n, sf_tensor_list *outputs,
                      sf_function **vjp_fn);

/** sf_jvp appending f's outputs to `outputs` and their tangents to `tangents_out`. */
sf_status sf_jvp_list(sf_function *f, sf_tensor *const *primals, sf_tensor *const *tangents, size_t n,
                      sf_tensor_list *outputs, sf_tensor_list *tangents_out);

/** sf_linearize appending f's outputs to `outputs` (unchanged on failure; *jvp_fn is NULL then). */
sf_status sf_linearize_list(sf_function *f, sf_tensor *const *primals, size_t n,
                            sf_tensor_list *outputs, sf_function **jvp_fn);

/**
 * Gives vmap's out_dims once f has returned n_outputs outputs: stores one entry per output in
 * out_dims (preset to 0; SF_NOT_MAPPED and negative dims as in sf_vmap) and returns 0, or nonzero
 * with sf_set_error() to fail the call (SF_ERR_CALLBACK).
 */
typedef int (*sf_out_dims_callback)(void *user_data, size_t n_outputs, int64_t *out_dims);

/**
 * sf_vmap whose out_dims are given after f returns, by `out_dims` (JAX's out_axes matched against
 * the output structure), for functions whose output count is known at return. free_user_data
 * (may be NULL) is called with user_data exactly once, when the made function dies — also when
 * this call fails.
 */
sf_status sf_vmap_at_return(sf_function *f, const int64_t *in_dims, size_t n_in, sf_out_dims_callback out_dims,
                            void *user_data, void (*free_user_data)(void *), int64_t chunk_size,
                            sf_randomness randomness, sf_function **out);

/* ---------------------------------------------------------------------------------------------
 * Staged execution (JAX's jit, torch.compile)
 *
 * sf_jit(f) makes a function with f's arity. Its first call with an input signature (the shapes,
 * dtypes and weak-typedness of the inputs) traces f with abstract values: f's callbacks run once,
 * their ops are recorded into a graph (ops on values that do not depend on the inputs run then
 * and become constants), and the graph is optimized (common subexpressions merged, dead code
 * removed) and cached (at most 64 signatures; the least recently used is dropped). Later calls with
 * that signature replay the graph without calling f's callbacks; threads that call it with a
 * signature another thread is tracing wait for that trace, so the callbacks run once per signature
 * (a thread that is itself tracing does not wait, and traces). A jitted function is an
 * ordinary function: sf_grad(sf_jit(f)), sf_vmap of it, sf_jit of a transformed function and jit
 * inside a callback all work, since a replay goes through the same op entry point as eager calls.
 * - Reading a value that depends on the inputs while tracing (sf_tensor_copy_to, DLPack export)
 *   fails with SF_ERR_TRANSFORM (JAX's concretization error): control flow on input values is not
 *   staged; compute such values outside the jitted function.
 * - Random ops are recorded, not their numbers: every replay draws fresh numbers from the
 *   generator, as the eager call would. Custom functions are recorded as calls: a replay calls
 *   their callbacks (the only host calls it makes).
 * - A graph that captured a traced value of an enclosing transform (a callback closing over a
 *   value of an outer grad, say) is used for that call only, not cached.
 * ------------------------------------------------------------------------------------------- */

/** Makes the staged version of f (see above). */
sf_status sf_jit(sf_function *f, sf_function **out);

/** Stores how many traces a function made by sf_jit has made (SF_ERR_INVALID_ARGUMENT for others). */
sf_status sf_jit_trace_count(sf_function *f, uint64_t *out_count);

/**
 * Stores in *out_text a readable listing of the optimized graph of f at the signature of `inputs`,
 * one equation a line with variable names, types and params (as jax.make_jaxpr prints). For a
 * function made by sf_jit this is its cached graph (traced if needed); any other function is traced
 * for the listing. Free the text with sf_string_free.
 */
sf_status sf_function_graph(sf_function *f, sf_tensor *const *inputs, size_t n_inputs, char **out_text);

/** Frees a string the library returned (sf_function_graph). NULL is a no-op. */
void sf_string_free(char *text);

/**
 * How many times, since the library was loaded, vmap batched a primitive by looping over the
 * batch instead of a batching rule. Built-in ops always have rules, so this stays 0 unless host
 * custom functions without a batching rule are mapped.
 */
sf_status sf_vmap_fallback_count(uint64_t *out_count);

/* -------------------------------------------------------------------------------------------
 * Custom differentiable functions (torch.autograd.Function, JAX custom_vjp/custom_jvp/custom_vmap)
 *
 * A custom function wraps a host computation — a C kernel, a simulator step, a library call —
 * that swiftfunc should not look inside, with rules for its derivatives and its batching. Every
 * transform treats a call of it as ONE operation (like a built-in op): grad/vjp/jacrev use its
 * VJP rule, jvp/jacfwd its JVP rule, vmap its batching rule or else a loop over the batch.
 *
 * The forward always receives concrete tensors (readable with sf_tensor_copy_to or zero-copy
 * with sf_to_dlpack), whatever transforms are active: they are stripped before it runs.
 *
 * Callback conventions (n = n_inputs, m = n_outputs, r = n_residuals; arrays in this order):
 *   forward: inputs[n]                                  -> outputs[m], residuals[r]
 *   vjp:     inputs[n], outputs[m], residuals[r], output cotangents[m] -> input cotangents[n]
 *   jvp:     inputs[n], outputs[m], input tangents[n]   -> output tangents[m]
 *   batch:   see sf_custom_batch_callback               -> outputs[m], residuals[r] (batched)
 * Residuals are saved data for the VJP (JAX's `res`; torch's ctx.save_for_backward). A missing
 * cotangent or tangent is passed as zeros. Returned cotangents/tangents must have the shape of
 * the input/output they belong to (SF_ERR_SHAPE naming the function otherwise); they are
 * converted to its dtype. Cotangents of integer inputs are ignored.
 *
 * Rules are one of two kinds (desc.flags):
 * - Host kernels (the default, flags 0): the rules read data. They are called with concrete
 *   tensors only; vmap loops over a host VJP/JVP (counted by sf_vmap_fallback_count), and the
 *   batch callback is used only when the values it would get are concrete (otherwise, e.g. for
 *   grad of vmap, the loop applies the custom function per element, which stays correct).
 *   Differentiating a host-kernel VJP or JVP again (grad of grad, hessian, jvp of grad) fails
 *   with SF_ERR_TRANSFORM "custom function 'NAME': its VJP is a host kernel and cannot be
 *   differentiated again" — never a silently wrong derivative.
 * - SF_CUSTOM_RULES_USE_OPS: the vjp, jvp and batch callbacks are written with sf_* ops only (they
 *   may read values only as ordinary functions may, see above). They are then ordinary functions
 *   under every transform: differentiated and batched through their ops, so higher-order
 *   derivatives work (hessian needs such a VJP and JVP).
 *
 * Defaults side by side: in C the default (flags 0) is host kernels, since a C rule usually reads
 * data; the Python package follows torch and JAX instead (rules are differentiated again, i.e.
 * SF_CUSTOM_RULES_USE_OPS, unless marked once_differentiable).
 *
 * Residuals carry no derivative: when a rule is differentiated again and a derivative would flow
 * through a residual, the call fails with SF_ERR_TRANSFORM ("... the derivative of a residual
 * ..."). A rule meant to be differentiated again computes what it differentiates from the inputs
 * and outputs it receives (which transforms track).
 *
 * Failures: a nonzero return from any callback becomes SF_ERR_CALLBACK with a message naming
 * the function and the callback and carrying the text the callback set with sf_set_error().
 * Tensors a callback stored before failing are released by the library.
 * ------------------------------------------------------------------------------------------- */

/**
 * The batching rule of a custom function: its forward applied to a whole batch. `inputs[k]` is
 * batched along dim in_dims[k] (SF_NOT_MAPPED: not batched; then it is the same for every
 * element), and at least one input is batched; batch_size is the size of the batched dims. The
 * callback stores n_outputs (= m + r: the outputs, then the residuals) new references in
 * `outputs` and, in out_dims[k], the dim along which outputs[k] is batched (preset to 0;
 * SF_NOT_MAPPED for a value that is the same for every element). Returns 0, or nonzero on failure
 * (as sf_callback). `inputs` are borrowed for the duration of the call.
 */
typedef int (*sf_custom_batch_callback)(void *user_data, sf_tensor *const *inputs, const int64_t *in_dims,
                                        size_t n_inputs, int64_t batch_size, sf_tensor **outputs,
                                        int64_t *out_dims, size_t n_outputs);

/**
 * With SF_CUSTOM_COUNTS_AT_RETURN: the forward appends its outputs to `outputs` and its residuals
 * to `residuals` (sf_tensor_list_append) and returns 0 (nonzero: failure, as sf_callback). Each
 * call's counts are what it appended (at least one output).
 */
typedef int (*sf_custom_forward_list_callback)(void *user_data, sf_tensor *const *inputs, size_t n_inputs,
                                               sf_tensor_list *outputs, sf_tensor_list *residuals);

/**
 * With SF_CUSTOM_COUNTS_AT_RETURN: the batching rule (as sf_custom_batch_callback) appending the
 * batched outputs and residuals with sf_tensor_list_append_mapped (the dim along which each is
 * batched, or SF_NOT_MAPPED; sf_tensor_list_append means dim 0).
 */
typedef int (*sf_custom_batch_list_callback)(void *user_data, sf_tensor *const *inputs, const int64_t *in_dims,
                                             size_t n_inputs, int64_t batch_size, sf_tensor_list *outputs,
                                             sf_tensor_list *residuals);

/**
 * The version of sf_custom_function_desc this header describes. Version 2 added the flag
 * SF_CUSTOM_COUNTS_AT_RETURN and the fields after free_user_data; version 1 descs (without them)
 * are still accepted.
 */
#define SF_CUSTOM_FUNCTION_DESC_VERSION 2

/** Flags of sf_custom_function_desc. */
typedef enum sf_custom_flags {
    SF_CUSTOM_RULES_HOST_KERNELS = 0, /**< the rules read data (the default). */
    SF_CUSTOM_RULES_USE_OPS = 1,      /**< the vjp/jvp/batch callbacks use only sf_* ops. */
    /**
     * n_outputs and n_residuals are learned per call, when forward_list (or batch_list) returns:
     * set forward_list (and optionally batch_list) instead of forward/batch, and leave n_outputs,
     * n_residuals, forward and batch zero. vjp and jvp are called with the arities of the call's
     * counts (n_inputs = n + 2m + r and n_outputs = n for vjp; 2n + m and m for jvp).
     */
    SF_CUSTOM_COUNTS_AT_RETURN = 2
} sf_custom_flags;

/**
 * Describes a custom function (see above). Initialize it with SF_CUSTOM_FUNCTION_DESC_INIT (or
 * set `version` to SF_CUSTOM_FUNCTION_DESC_VERSION and zero the rest), then set the fields.
 */
typedef struct sf_custom_function_desc {
    uint32_t version;        /**< SF_CUSTOM_FUNCTION_DESC_VERSION. */
    uint32_t flags;          /**< sf_custom_flags. */
    const char *name;        /**< for messages (copied); NULL means "custom". */
    size_t n_inputs;         /**< number of inputs. */
    size_t n_outputs;        /**< number of outputs (>= 1). */
    size_t n_residuals;      /**< number of residuals the forward returns after its outputs. */
    sf_callback forward;     /**< required: inputs -> outputs, residuals. */
    sf_callback vjp;         /**< optional (NULL: reverse mode fails with SF_ERR_UNSUPPORTED). */
    sf_callback jvp;         /**< optional (NULL: forward mode fails with SF_ERR_UNSUPPORTED). */
    sf_custom_batch_callback batch; /**< optional (NULL: vmap loops over the batch, counted). */
    void *user_data;         /**< passed to every callback. */
    void (*free_user_data)(void *); /**< may be NULL; see sf_custom_function_new. */
    /* version 2 */
    sf_custom_forward_list_callback forward_list; /**< with SF_CUSTOM_COUNTS_AT_RETURN: required. */
    sf_custom_batch_list_callback batch_list;     /**< with SF_CUSTOM_COUNTS_AT_RETURN: optional. */
} sf_custom_function_desc;

/** An sf_custom_function_desc of the current version with every other field zero. */
#define SF_CUSTOM_FUNCTION_DESC_INIT {SF_CUSTOM_FUNCTION_DESC_VERSION, 0, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}

/**
 * Makes a custom function: an ordinary sf_function of n_inputs inputs and n_outputs outputs,
 * usable with sf_call and every transform. The desc is read during the call only. On SF_OK *out
 * is a new reference; on failure *out is NULL. free_user_data (when set) is called with user_data
 * exactly once: when the function and every function derived from it (transforms, pullbacks) have
 * been released — or before this call returns if it fails with a non-NULL desc of version 1 or 2
 * (a desc of another version is not read at all). A NULL desc or
 * out, a version other than 1 or 2, unknown flags, a NULL forward or n_outputs 0 (or, with
 * SF_CUSTOM_COUNTS_AT_RETURN, a NULL forward_list or a set forward, batch, n_outputs or n_residuals)
 * give SF_ERR_INVALID_ARGUMENT. Callbacks may run on any thread that calls the function.
 */
sf_status sf_custom_function_new(const sf_custom_function_desc *desc, sf_function **out);

/* ---- Export: a traced function as bytes or a file (docs/export.md) ---- */

/**
 * Traces f at the types of the n example_inputs, optimizes the graph and serializes it: the
 * equations, the captured constants (weights closed over by f) and the signature. The bytes hold
 * no host callbacks: f calling a custom function, or drawing random numbers, gives
 * SF_ERR_UNSUPPORTED naming the reason. On SF_OK *out_bytes (free it with sf_bytes_free) holds
 * *out_size bytes; on failure *out_bytes is NULL.
 */
sf_status sf_function_export(sf_function *f, sf_tensor *const *example_inputs, size_t n,
                             void **out_bytes, size_t *out_size);

/**
 * As sf_function_export, also storing metadata_size opaque bytes that the library keeps as they
 * are (the Python binding stores the output structure there); see sf_function_metadata.
 */
sf_status sf_function_export_with_metadata(sf_function *f, sf_tensor *const *example_inputs, size_t n,
                                           const void *metadata, size_t metadata_size,
                                           void **out_bytes, size_t *out_size);

/** Frees bytes the library returned (sf_function_export, sf_function_metadata). NULL is a no-op. */
void sf_bytes_free(void *bytes);

/**
 * Makes a function from exported bytes (read during the call only). The bytes are untrusted: a
 * truncated, corrupted or hostile input gives SF_ERR_INVALID_ARGUMENT with a message naming the
 * problem and its byte offset. The result is an ordinary sf_function, usable with sf_call and every transform;
 * called on inputs of another shape or dtype than the exported ones it gives SF_ERR_SHAPE.
 */
sf_status sf_function_import(const void *bytes, size_t size, sf_function **out);

/** The metadata stored in exported bytes (checked as by sf_function_import); free with sf_bytes_free. */
sf_status sf_function_metadata(const void *bytes, size_t size, void **out_metadata, size_t *out_size);

/** sf_function_export written to the file at path (replaced if it exists). */
sf_status sf_function_save(sf_function *f, sf_tensor *const *example_inputs, size_t n, const char *path);

/** sf_function_import of the file at path (at most 1 GiB). */
sf_status sf_function_load(const char *path, sf_function **out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SWIFTFUNC_H */
