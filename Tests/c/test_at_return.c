/* test_at_return.c — functions whose output count is known when they return, through the C ABI.
 *
 *  1. sf_tensor_list: new/append/append_mapped/size/get/free, reference counting (observed through
 *     a C-owned DLPack producer whose deleter counts its calls), bad arguments naming the function.
 *  2. sf_function_new_at_return: a host callback whose output count is decided at run time (by its
 *     user_data or by the value of an int64 input), called with sf_call_list and with sf_call (the
 *     right and a wrong count); callbacks that fail, append nothing or too much; free_user_data.
 *  3. Transforms of such a function: grad / grad_and_value (with a variable number of aux outputs),
 *     sf_vjp_list, sf_jvp_list, sf_linearize_list (and the array forms), jacrev, jacfwd, hessian,
 *     sf_vmap (out_dims NULL or an array) and sf_vmap_at_return (an out_dims callback), chunking,
 *     nesting. Every value against closed forms in C doubles; the host callback's runs are counted
 *     (exactly once per call).
 *  4. Custom functions with SF_CUSTOM_COUNTS_AT_RETURN (desc version 2): a forward_list with a
 *     run-time number of outputs and residuals, VJP/JVP host kernels that check the layout of what
 *     they receive (n + 2m + r and 2n + m values), vmap by the loop and by a batch_list (with
 *     sf_tensor_list_append_mapped, negative dims and SF_NOT_MAPPED), rules written with ops
 *     (hessian), desc validation, and a version-1 desc of the version-1 size.
 *  5. A function whose count changes between runs, under jacfwd over two inputs (which must run it
 *     once or refuse the change): a right answer or an error, checked in a child process so that
 *     a crash fails one check instead of ending the suite.
 *
 * No expected value is hard-coded: closed forms are computed in C, and the Hessian is also checked
 * against central differences of the closed-form gradient in float64. Runs plain and under
 * AddressSanitizer/LeakSanitizer (make c-test, make asan-test), which is what proves that failing
 * callbacks leak nothing of what they appended. */
#define _POSIX_C_SOURCE 200809L /* fork, waitpid, setrlimit: one check runs in a child process */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "check.h"
#include "swiftfunc.h"
#include "tensor_check.h"

/* Tolerances: closed forms in float64, and central differences with h = 1e-5. */
#define TOL 1e-12
#define FD_TOL 1e-6

/* ------------------------------------------------------------------------------------------------
 * Lists (single tensors in and out: tensor_check.h)
 * ---------------------------------------------------------------------------------------------- */

static sf_tensor_list *list_new(void) {
    sf_tensor_list *list = NULL;
    CHECK_OK(sf_tensor_list_new(&list));
    return list;
}

static size_t list_size(sf_tensor_list *list) {
    size_t n = (size_t)-1;
    CHECK_OK(sf_tensor_list_size(list, &n));
    return n;
}

/* A new reference to entry i (NULL, recorded, on failure). */
static sf_tensor *list_at(sf_tensor_list *list, size_t i) {
    sf_tensor *t = NULL;
    CHECK_OK(sf_tensor_list_get(list, i, &t));
    return t;
}

/* Entry i of `list` is a float64 tensor of `shape` near `expected`. */
static void check_entry(sf_tensor_list *list, size_t i, const int64_t *shape, size_t ndim, const double *expected,
                        double tol, const char *file, int line) {
    sf_tensor *t = NULL;
    sf_status status = sf_tensor_list_get(list, i, &t);
    char what[64];
    snprintf(what, sizeof what, "list entry %zu", i);
    if (status != SF_OK) {
        check_record(0, file, line, what);
        fprintf(stderr, "    sf_tensor_list_get failed: %s\n", sf_last_error());
        return;
    }
    check_tensor(t, shape, ndim, expected, tol, file, line, what);
    sf_tensor_release(t);
}

#define CHECK_ENTRY(list, i, shape, ndim, expected, tol)                                        \
    check_entry((list), (i), (shape), (ndim), (expected), (tol), __FILE__, __LINE__)

/* What a list entry must be: a float64 tensor of `shape` within `tol` of `values`. */
typedef struct entry {
    const int64_t *shape;
    size_t ndim;
    const double *values;
    double tol;
} entry;

/* A new list holding what `fn` returns for `in`: two checks (the new list, then the call). */
static sf_tensor_list *call_list(sf_function *fn, sf_tensor *const *in, size_t n_in, const char *file, int line) {
    sf_tensor_list *list = list_new();
    sf_status status = sf_call_list(fn, in, n_in, list);
    if (!check_record(status == SF_OK, file, line, "sf_call_list(...) == SF_OK"))
        fprintf(stderr, "    got status %d (%s)\n", (int)status, sf_last_error());
    return list;
}

#define CALL_LIST(fn, in, n_in) call_list((fn), (in), (n_in), __FILE__, __LINE__)

/* `list` holds `size` entries, the first `count` of them as `want` says: the size (two checks, as
 * CHECK_EQ(list_size(list), size)) and one check per entry. Then frees the list if `free_list`. */
static void check_list(sf_tensor_list *list, size_t size, const entry *want, size_t count, const char *file, int line,
                       int free_list) {
    size_t got = list_size(list);
    if (!check_record(got == size, file, line, "list_size(list) == size"))
        fprintf(stderr, "    got %zu entries, expected %zu\n", got, size);
    for (size_t i = 0; i < count; i++)
        check_entry(list, i, want[i].shape, want[i].ndim, want[i].values, want[i].tol, file, line);
    if (free_list) sf_tensor_list_free(list);
}

/* The list holds exactly the entries of the array `want` (CHECK_LIST_HEAD: `size` entries, the
 * first COUNT(want) of them checked); then it is freed. */
#define CHECK_LIST(list, want) check_list((list), COUNT(want), (want), COUNT(want), __FILE__, __LINE__, 1)
#define CHECK_LIST_HEAD(list, size, want) check_list((list), (size), (want), COUNT(want), __FILE__, __LINE__, 1)

/* The list holds `size` entries (their values unchecked); then it is freed. */
#define CHECK_LIST_SIZE(list, size) check_list((list), (size), NULL, 0, __FILE__, __LINE__, 1)

/* sf_call_list of `fn` on a new list fails as CHECK_ERROR says and appends nothing. */
#define CHECK_CALL_LIST_ERROR(fn, in, n_in, expected, fragment)                                 \
    do {                                                                                        \
        sf_tensor_list *failing_ = list_new();                                                  \
        CHECK_ERROR(sf_call_list((fn), (in), (n_in), failing_), expected, fragment);            \
        CHECK_EQ(list_size(failing_), 0);                                                       \
        sf_tensor_list_free(failing_);                                                          \
    } while (0)

/* ------------------------------------------------------------------------------------------------
 * What the callbacks below add to the op arena of arena.h (op1, op2, sum_all, put, finish)
 * ---------------------------------------------------------------------------------------------- */

/* A weakly typed scalar (takes x's float64 dtype). */
static sf_tensor *weak(arena *a, double value) {
    sf_tensor *r = NULL;
    if (a->failed) return NULL;
    return keep(a, sf_scalar(value, &r), &r);
}

static sf_tensor *full64(arena *a, const int64_t *shape, size_t ndim, double value) {
    sf_tensor *r = NULL;
    if (a->failed) return NULL;
    return keep(a, sf_full(shape, ndim, value, SF_FLOAT64, &r), &r);
}

/* Appends t to `list` (which takes its own reference). */
static void emit(arena *a, sf_tensor_list *list, sf_tensor *t) {
    if (a->failed || t == NULL) return;
    if (sf_tensor_list_append(list, t) != SF_OK) a->failed = 1;
}

/* ------------------------------------------------------------------------------------------------
 * The function family under test: f(x[, k]) returns `count` outputs, decided at run time,
 *   out_0 = sum(sin(x))            (0-d: what grad differentiates)
 *   out_j = exp(c_j * x), c_j = j/2 (j >= 1, shaped like x)
 * and, with `with_const`, a last output full([2], 7) that does not depend on x.
 * count comes from the user data, or (count 0) from the value of the int64 0-d input k.
 * ---------------------------------------------------------------------------------------------- */

typedef struct fam {
    int calls;        /* how many times the callback ran */
    int count;        /* outputs to return; 0: read k = in[1] */
    int with_const;   /* append full([2], 7) last */
    int fail;         /* append out_0, then fail with a message */
    int fail_silent;  /* return 1 without a message */
    int append_none;  /* return 0 having appended nothing */
    int alternate;    /* count = 2 + calls % 2 (a different count on each call) */
    int huge;         /* append x this many times */
    int mapped_dims;  /* append with sf_tensor_list_append_mapped(…, 5): read only by custom batch rules */
    int list_not_empty; /* times the list handed to the callback was not empty */
    int freed;        /* free_user_data calls */
} fam;

static void free_fam(void *p) { ((fam *)p)->freed++; }

static double coef(int j) { return 0.5 * j; }

static int cb_family(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor_list *outputs) {
    fam *s = ud;
    s->calls++;
    size_t size = 99;
    if (sf_tensor_list_size(outputs, &size) != SF_OK || size != 0) s->list_not_empty++;
    if (s->append_none) return 0;
    if (s->fail_silent) return 1;
    if (s->huge) {
        for (int i = 0; i < s->huge; i++)
            if (sf_tensor_list_append(outputs, in[0]) != SF_OK) return 1;
        return 0;
    }
    int count = s->count;
    if (s->alternate) count = 2 + s->calls % 2;
    if (count == 0) {
        int64_t k = 0;
        if (n_in < 2 || sf_tensor_copy_to(in[1], &k, sizeof k) != SF_OK) return 1;
        count = (int)k;
    }
    arena a = {0};
    emit(&a, outputs, sum_all(&a, op1(&a, sf_sin, in[0])));
    if (s->fail) {
        finish(&a);
        sf_set_error("at-return callback exploded");
        return 1;
    }
    for (int j = 1; j < count; j++) {
        sf_tensor *y = op1(&a, sf_exp, op2(&a, sf_mul, in[0], weak(&a, coef(j))));
        if (s->mapped_dims && !a.failed && y) {
            if (sf_tensor_list_append_mapped(outputs, y, 5) != SF_OK) a.failed = 1;
        } else {
            emit(&a, outputs, y);
        }
    }
    if (s->with_const) {
        const int64_t two[1] = {2};
        emit(&a, outputs, full64(&a, two, 1, 7.0));
    }
    return finish(&a);
}

static sf_function *family(fam *s, size_t n_inputs) {
    sf_function *f = NULL;
    CHECK_OK(sf_function_new_at_return(cb_family, s, free_fam, n_inputs, &f));
    return f;
}

/* ---- the references ------------------------------------------------------------------------- */

#define L 3
#define B 5
static const int64_t SHAPE_L[1] = {L};
static const double X[L] = {0.3, -0.7, 1.1};
static const double XB[B * L] = {0.3, -0.7, 1.1, -1.2, 0.5, 0.05, 0.9, -0.1, -0.4, 1.3, 0.2, -0.9, -0.6, 0.8, 0.35};

static double ref_sum_sin(const double *x) {
    double s = 0;
    for (int i = 0; i < L; i++) s += sin(x[i]);
    return s;
}

/* out_j for j >= 1 (L values). */
static void ref_out(const double *x, int j, double *out) {
    for (int i = 0; i < L; i++) out[i] = exp(coef(j) * x[i]);
}

/* d out_j / dx, elementwise (j >= 1). */
static void ref_dout(const double *x, int j, double *out) {
    for (int i = 0; i < L; i++) out[i] = coef(j) * exp(coef(j) * x[i]);
}

static void ref_cos(const double *x, double *out) {
    for (int i = 0; i < L; i++) out[i] = cos(x[i]);
}

/* ref_cos as a vector_fn (for central differences). */
static void cos_fn(const double *x, double *out, void *ctx UNUSED) { ref_cos(x, out); }

/* d out_0 along t: sum(cos(x) t). */
static double ref_dsum_sin(const double *x, const double *t) {
    double d = 0;
    for (int i = 0; i < L; i++) d += cos(x[i]) * t[i];
    return d;
}

/* diag(v) as an L x L matrix. */
static void diag(const double *v, double *out) {
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++) out[i * L + j] = i == j ? v[i] : 0.0;
}

/* Checks list entries offset + j, j in [first, count), against the family's outputs out_j at x. */
static void check_family(sf_tensor_list *list, size_t offset, const double *x, int first, int count, const char *file,
                         int line) {
    double v[L], s = ref_sum_sin(x);
    for (int j = first; j < count; j++) {
        if (j == 0) {
            check_entry(list, offset, NULL, 0, &s, TOL, file, line);
        } else {
            ref_out(x, j, v);
            check_entry(list, offset + (size_t)j, SHAPE_L, 1, v, TOL, file, line);
        }
    }
}

/* Entries [offset, offset + count): out_0 .. out_{count-1}. */
#define CHECK_FAMILY(list, offset, x, count) check_family((list), (offset), (x), 0, (count), __FILE__, __LINE__)

/* `list` holds exactly out_0 .. out_{count-1} at x (the size checked as by CHECK_EQ(list_size(list),
 * count)); frees it. */
static void check_family_list(sf_tensor_list *list, const double *x, int count, const char *file, int line) {
    check_list(list, (size_t)count, NULL, 0, file, line, 0);
    check_family(list, 0, x, 0, count, file, line);
    sf_tensor_list_free(list);
}

#define CHECK_FAMILY_LIST(list, x, count) check_family_list((list), (x), (count), __FILE__, __LINE__)

/* `list` holds exactly cos(X) (what grad or a Jacobian gives for out_0 at X), then, with_value,
 * out_0 .. out_{count-1} or else the aux outputs out_1 .. out_{count-1}; frees it. */
static void check_gradient_list(sf_tensor_list *list, int with_value, int count, const char *file, int line) {
    double cos_x[L];
    ref_cos(X, cos_x);
    const entry gradient[1] = {{SHAPE_L, 1, cos_x, TOL}};
    check_list(list, (size_t)(count + with_value), gradient, 1, file, line, 0);
    check_family(list, (size_t)with_value, X, !with_value, count, file, line);
    sf_tensor_list_free(list);
}

#define CHECK_GRADIENT_AND_AUX(list, count) check_gradient_list((list), 0, (count), __FILE__, __LINE__)
#define CHECK_GRADIENT_VALUE_AND_AUX(list, count) check_gradient_list((list), 1, (count), __FILE__, __LINE__)

/* `list` holds exactly the tangents of out_0 .. out_{count-1} at x along t; frees it. */
static void check_tangent_list(sf_tensor_list *list, const double *x, const double *t, int count, const char *file,
                               int line) {
    double d = ref_dsum_sin(x, t), v[L], w[L];
    check_list(list, (size_t)count, NULL, 0, file, line, 0);
    check_entry(list, 0, NULL, 0, &d, TOL, file, line);
    for (int j = 1; j < count; j++) {
        ref_dout(x, j, v);
        for (int i = 0; i < L; i++) w[i] = v[i] * t[i];
        check_entry(list, (size_t)j, SHAPE_L, 1, w, TOL, file, line);
    }
    sf_tensor_list_free(list);
}

#define CHECK_TANGENT_LIST(list, x, t, count) check_tangent_list((list), (x), (t), (count), __FILE__, __LINE__)

/* ------------------------------------------------------------------------------------------------
 * A C-owned DLPack producer whose deleter counts its calls: the one observer of reference counts.
 * ---------------------------------------------------------------------------------------------- */

static int deleter_calls;

typedef struct producer {
    DLManagedTensor managed;
    int64_t shape[1];
    double *data;
} producer;

static void producer_deleter(DLManagedTensor *self) {
    producer *p = self->manager_ctx;
    deleter_calls++;
    free(p->data);
    free(p);
}

static DLManagedTensor *produce(const double *values, int64_t n) {
    producer *p = calloc(1, sizeof *p);
    p->data = malloc(sizeof(double) * (size_t)n);
    memcpy(p->data, values, sizeof(double) * (size_t)n);
    p->shape[0] = n;
    p->managed.dl_tensor.data = p->data;
    p->managed.dl_tensor.device.device_type = kDLCPU;
    p->managed.dl_tensor.device.device_id = 0;
    p->managed.dl_tensor.ndim = 1;
    p->managed.dl_tensor.dtype.code = kDLFloat;
    p->managed.dl_tensor.dtype.bits = 64;
    p->managed.dl_tensor.dtype.lanes = 1;
    p->managed.dl_tensor.shape = p->shape;
    p->managed.dl_tensor.strides = NULL;
    p->managed.dl_tensor.byte_offset = 0;
    p->managed.manager_ctx = p;
    p->managed.deleter = producer_deleter;
    return &p->managed;
}

/* ------------------------------------------------------------------------------------------------
 * 1. sf_tensor_list
 * ---------------------------------------------------------------------------------------------- */

static void test_tensor_list(void) {
    sf_tensor_list *list = list_new();
    CHECK(list != NULL);
    CHECK_EQ(list_size(list), 0);

    /* The list holds its own reference: the caller's release does not free the tensor. */
    const double values[L] = {1.5, -2.0, 0.25};
    DLManagedTensor *managed = produce(values, L);
    sf_tensor *t = NULL;
    deleter_calls = 0;
    CHECK_OK(sf_from_dlpack(managed, &t));
    CHECK_OK(sf_tensor_list_append(list, t));
    sf_tensor_release(t);
    CHECK_EQ(deleter_calls, 0);
    CHECK_EQ(list_size(list), 1);
    CHECK_ENTRY(list, 0, SHAPE_L, 1, values, 0);

    /* get returns a new reference each time: releasing them leaves the list's. */
    sf_tensor *a = list_at(list, 0), *b = list_at(list, 0);
    sf_tensor_release(a);
    CHECK_TENSOR(b, SHAPE_L, 1, values, 0);
    sf_tensor_release(b);
    CHECK_EQ(deleter_calls, 0);
    CHECK_ENTRY(list, 0, SHAPE_L, 1, values, 0);

    /* append_mapped: any dim (the list does not interpret it), SF_NOT_MAPPED, negative. */
    sf_tensor *s0 = NULL;
    CHECK_OK(sf_full(SHAPE_L, 1, 3.0, SF_FLOAT64, &s0));
    CHECK_OK(sf_tensor_list_append_mapped(list, s0, SF_NOT_MAPPED));
    CHECK_OK(sf_tensor_list_append_mapped(list, s0, -1));
    CHECK_OK(sf_tensor_list_append(list, s0)); /* the same tensor three times */
    sf_tensor_release(s0);
    CHECK_EQ(list_size(list), 4);
    const double threes[L] = {3, 3, 3};
    for (size_t i = 1; i < 4; i++) CHECK_ENTRY(list, i, SHAPE_L, 1, threes, 0);
    CHECK_ENTRY(list, 0, SHAPE_L, 1, values, 0);

    /* Out of range and NULL arguments: SF_ERR_INVALID_ARGUMENT naming the function, out NULL. */
    sf_tensor *out = NULL;
    CHECK_ERROR_NULL(out, sf_tensor_list_get(list, 4, &out), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_get");
    CHECK(strstr(sf_last_error(), "out of range") != NULL);
    CHECK_ERROR_NULL(out, sf_tensor_list_get(list, SIZE_MAX, &out), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_get");
    CHECK_ERROR_NULL(out, sf_tensor_list_get(NULL, 0, &out), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_get");
    CHECK_ERROR(sf_tensor_list_get(list, 0, NULL), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_get");
    size_t n = 77;
    CHECK_ERROR(sf_tensor_list_size(NULL, &n), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_size");
    CHECK_ERROR(sf_tensor_list_size(list, NULL), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_size");
    sf_tensor *one = make64(values, SHAPE_L, 1);
    CHECK_ERROR(sf_tensor_list_append(NULL, one), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_append");
    CHECK_ERROR(sf_tensor_list_append(list, NULL), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_append");
    CHECK_ERROR(sf_tensor_list_append_mapped(NULL, one, 0), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_append_mapped");
    CHECK_ERROR(sf_tensor_list_append_mapped(list, NULL, 0), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_append_mapped");
    CHECK_ERROR(sf_tensor_list_new(NULL), SF_ERR_INVALID_ARGUMENT, "sf_tensor_list_new");
    CHECK_EQ(list_size(list), 4); /* the failed appends added nothing */
    sf_tensor_release(one);

    /* Freeing the list drops its references; one taken before stays valid. */
    sf_tensor *kept = list_at(list, 0);
    sf_tensor_list_free(list);
    CHECK_EQ(deleter_calls, 0);
    CHECK_TENSOR(kept, SHAPE_L, 1, values, 0);
    sf_tensor_release(kept);
    CHECK_EQ(deleter_calls, 1);

    /* A list freed with entries frees them (the deleter runs with the list). */
    managed = produce(values, L);
    list = list_new();
    CHECK_OK(sf_from_dlpack(managed, &t));
    CHECK_OK(sf_tensor_list_append(list, t));
    CHECK_OK(sf_tensor_list_append(list, t));
    sf_tensor_release(t);
    CHECK_EQ(deleter_calls, 1);
    sf_tensor_list_free(list);
    CHECK_EQ(deleter_calls, 2);

    sf_tensor_list_free(NULL); /* a no-op */
}

/* ------------------------------------------------------------------------------------------------
 * 2. sf_function_new_at_return, sf_call_list, sf_call
 * ---------------------------------------------------------------------------------------------- */

static void test_call(void) {
    fam s = {0};
    s.count = 3;
    sf_function *f = family(&s, 1);
    size_t n_in = 0, n_out = 0;
    CHECK_OK(sf_function_arity(f, &n_in, &n_out));
    CHECK_EQ(n_in, 1);
    CHECK(n_out == SF_OUTPUTS_AT_RETURN);

    sf_tensor *x = make64(X, SHAPE_L, 1);
    /* sf_call_list appends after what the list holds. */
    sf_tensor_list *list = list_new();
    sf_tensor *marker = NULL;
    CHECK_OK(sf_full(NULL, 0, -42.0, SF_FLOAT64, &marker));
    CHECK_OK(sf_tensor_list_append(list, marker));
    CHECK_OK(sf_call_list(f, &x, 1, list));
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(list_size(list), 4);
    CHECK_ENTRY(list, 0, NULL, 0, &(double){-42.0}, 0);
    CHECK_FAMILY(list, 1, X, 3);
    sf_tensor_list_free(list);

    /* The same function returns another count when its user data says so. */
    s.count = 5;
    CHECK_FAMILY_LIST(CALL_LIST(f, &x, 1), X, 5);
    CHECK_EQ(s.calls, 2);

    /* sf_call with the right count works; a wrong one is SF_ERR_INVALID_ARGUMENT, outputs NULL. */
    sf_tensor *r[6] = {NULL};
    CHECK_OK(sf_call(f, &x, 1, r, 5));
    CHECK_EQ(s.calls, 3);
    double v[L];
    CHECK_SCALAR(r[0], ref_sum_sin(X), TOL);
    for (int j = 1; j < 5; j++) {
        ref_out(X, j, v);
        CHECK_TENSOR(r[j], SHAPE_L, 1, v, TOL);
    }
    release_all(r, 5);
    fill_garbage(r, 6);
    CHECK_ERROR(sf_call(f, &x, 1, r, 4), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK(all_null(r, 4));
    CHECK(r[4] == GARBAGE); /* past the given count: untouched */
    fill_garbage(r, 6);
    CHECK_ERROR(sf_call(f, &x, 1, r, 6), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK(all_null(r, 6));
    CHECK(strstr(sf_last_error(), "5") != NULL); /* says how many it returned */
    CHECK_ERROR(sf_call(f, &x, 1, NULL, 0), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK_ERROR(sf_call(f, &x, 1, NULL, 5), SF_ERR_INVALID_ARGUMENT, "sf_call");

    /* A wrong input count: nothing appended. */
    list = list_new();
    CHECK_ERROR(sf_call_list(f, &x, 2, list), SF_ERR_INVALID_ARGUMENT, "sf_call_list");
    CHECK_ERROR(sf_call_list(NULL, &x, 1, list), SF_ERR_INVALID_ARGUMENT, "sf_call_list");
    CHECK_ERROR(sf_call_list(f, &x, 1, NULL), SF_ERR_INVALID_ARGUMENT, "sf_call_list");
    CHECK_ERROR(sf_call_list(f, NULL, 1, list), SF_ERR_INVALID_ARGUMENT, "sf_call_list");
    sf_tensor *null_input = NULL;
    CHECK_ERROR(sf_call_list(f, &null_input, 1, list), SF_ERR_INVALID_ARGUMENT, "sf_call_list");
    CHECK_EQ(list_size(list), 0);
    CHECK_EQ(s.calls, 6); /* the sf_call with wrong output counts ran it (not with a NULL array); these did not */

    sf_tensor_list_free(list);
    CHECK_EQ(s.list_not_empty, 0);

    /* The count read from an input's value: f(x, k) returns k outputs. */
    fam sk = {0};
    sf_function *fk = family(&sk, 2);
    for (int64_t k = 1; k <= 4; k++) {
        sf_tensor *kt = scalar_i64(k), *in[2] = {x, kt};
        CHECK_FAMILY_LIST(CALL_LIST(fk, in, 2), X, (int)k);
        fill_garbage(r, 6);
        CHECK_OK(sf_call(fk, in, 2, r, (size_t)k));
        CHECK_SCALAR(r[0], ref_sum_sin(X), TOL);
        release_all(r, (size_t)k);
        sf_tensor_release(kt);
    }
    CHECK_EQ(sk.calls, 8);
    CHECK_EQ(sk.list_not_empty, 0);

    /* The dim of sf_tensor_list_append_mapped (5 here) is ignored outside custom batching rules:
     * also under vmap, where out_dims (NULL: 0) decide. */
    s.count = 2;
    s.mapped_dims = 1;
    CHECK_FAMILY_LIST(CALL_LIST(f, &x, 1), X, 2);
    const int64_t shape_bl[2] = {2, L};
    double two_rows[2 * L], e1[2 * L];
    for (int i = 0; i < L; i++) two_rows[i] = X[i], two_rows[L + i] = -X[i];
    for (int i = 0; i < 2 * L; i++) e1[i] = exp(coef(1) * two_rows[i]);
    sf_tensor *xb = make64(two_rows, shape_bl, 2);
    sf_function *vf = NULL;
    CHECK_OK(sf_vmap(f, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &vf));
    list = CALL_LIST(vf, &xb, 1);
    CHECK_EQ(list_size(list), 2);
    CHECK_ENTRY(list, 1, shape_bl, 2, e1, TOL);
    sf_tensor_list_free(list);
    RELEASE_FUNCTIONS(vf, fk);
    RELEASE_TENSORS(xb, marker, x);
    s.mapped_dims = 0;

    CHECK_EQ(sk.freed, 1);
    CHECK_EQ(s.freed, 0);
    sf_function_release(f);
    CHECK_EQ(s.freed, 1);
}

static void test_call_failures(void) {
    fam s = {0};
    s.count = 3;
    sf_function *f = family(&s, 1);
    sf_tensor *x = make64(X, SHAPE_L, 1), *r[3];
    sf_tensor_list *list = list_new();
    sf_tensor *marker = make64(X, SHAPE_L, 1);
    CHECK_OK(sf_tensor_list_append(list, marker));
    sf_tensor_release(marker);

    /* Nonzero return after appending: SF_ERR_CALLBACK with the message; what it appended is
     * dropped (LSan) and the caller's list is unchanged. */
    s.fail = 1;
    CHECK_ERROR(sf_call_list(f, &x, 1, list), SF_ERR_CALLBACK, "at-return callback exploded");
    CHECK(strstr(sf_last_error(), "callback") != NULL);
    CHECK_EQ(list_size(list), 1);
    fill_garbage(r, 3);
    CHECK_ERROR(sf_call(f, &x, 1, r, 3), SF_ERR_CALLBACK, "at-return callback exploded");
    CHECK(all_null(r, 3));
    s.fail = 0;

    s.fail_silent = 1;
    sf_set_error("stale message from before");
    CHECK_STATUS(sf_call_list(f, &x, 1, list), SF_ERR_CALLBACK);
    CHECK(strstr(sf_last_error(), "callback") != NULL);
    CHECK(strstr(sf_last_error(), "stale") == NULL);
    s.fail_silent = 0;

    /* Returning 0 with no output is a failure too. */
    s.append_none = 1;
    CHECK_ERROR(sf_call_list(f, &x, 1, list), SF_ERR_CALLBACK, "no output");
    fill_garbage(r, 3);
    CHECK_STATUS(sf_call(f, &x, 1, r, 1), SF_ERR_CALLBACK);
    CHECK(r[0] == NULL);
    s.append_none = 0;
    CHECK_EQ(list_size(list), 1);

    /* At most SF_MAX_ARITY (65536) outputs: exactly that many works, one more is SF_ERR_CALLBACK. */
    s.huge = SF_MAX_ARITY;
    CHECK_OK(sf_call_list(f, &x, 1, list));
    CHECK_EQ(list_size(list), SF_MAX_ARITY + 1);
    sf_tensor_list_free(list);
    list = list_new();
    s.huge = SF_MAX_ARITY + 1;
    CHECK_STATUS(sf_call_list(f, &x, 1, list), SF_ERR_CALLBACK);
    CHECK(strstr(sf_last_error(), "65536") != NULL);
    CHECK_EQ(list_size(list), 0);
    s.huge = 0;

    /* After the failures it works again. */
    CHECK_OK(sf_call_list(f, &x, 1, list));
    CHECK_FAMILY(list, 0, X, 3);
    sf_tensor_list_free(list);
    sf_tensor_release(x);
    CHECK_EQ(s.list_not_empty, 0);
    sf_function_release(f);
    CHECK_EQ(s.freed, 1);

    /* free_user_data runs exactly once, also when sf_function_new_at_return fails. */
    const struct {
        sf_list_callback callback;
        size_t n_inputs;
    } refused[] = {{NULL, 1}, {cb_family, SF_MAX_ARITY + 1}, {cb_family, SIZE_MAX}};
    fam bad = {0};
    sf_function *g = NULL;
    for (size_t i = 0; i < COUNT(refused); i++) {
        CHECK_ERROR_NULL(g, sf_function_new_at_return(refused[i].callback, &bad, free_fam, refused[i].n_inputs, &g),
                         SF_ERR_INVALID_ARGUMENT, "sf_function_new_at_return");
        CHECK_EQ(bad.freed, i + 1);
    }
    CHECK_ERROR(sf_function_new_at_return(cb_family, &bad, free_fam, 1, NULL), SF_ERR_INVALID_ARGUMENT,
                "sf_function_new_at_return");
    CHECK_EQ(bad.freed, 4);
    /* NULL free_user_data is allowed. */
    CHECK_OK(sf_function_new_at_return(cb_family, &bad, NULL, 1, &g));
    sf_function_release(g);
    CHECK_EQ(bad.freed, 4);
    CHECK_EQ(bad.calls, 0);

    /* Derived functions keep the user data alive. */
    fam kept = {0};
    kept.count = 1;
    sf_function *h = family(&kept, 1), *gh = NULL;
    CHECK_OK(sf_grad(h, NULL, 0, false, &gh));
    sf_function_release(h);
    CHECK_EQ(kept.freed, 0);
    x = make64(X, SHAPE_L, 1);
    sf_tensor *grad = NULL;
    CHECK_OK(sf_call(gh, &x, 1, &grad, 1));
    RELEASE_TENSORS(grad, x);
    sf_function_release(gh);
    CHECK_EQ(kept.freed, 1);
}

/* ------------------------------------------------------------------------------------------------
 * 3. Transforms of an at-return function
 * ---------------------------------------------------------------------------------------------- */

static void test_grad(void) {
    fam s = {0}; /* count from k */
    sf_function *f = family(&s, 2), *g = NULL, *ga = NULL, *gv = NULL, *gva = NULL;
    sf_tensor *x = make64(X, SHAPE_L, 1), *r[8] = {NULL};
    double cos_x[L];
    ref_cos(X, cos_x);

    CHECK_OK(sf_grad(f, NULL, 0, false, &g));
    CHECK_OK(sf_grad(f, NULL, 0, true, &ga));
    CHECK_OK(sf_grad_and_value(f, NULL, 0, false, &gv));
    CHECK_OK(sf_grad_and_value(f, NULL, 0, true, &gva));
    size_t n_in = 0, n_out = 0;
    CHECK_OK(sf_function_arity(ga, &n_in, &n_out));
    CHECK_EQ(n_in, 2);
    CHECK(n_out == SF_OUTPUTS_AT_RETURN); /* the aux count depends on f */
    CHECK_OK(sf_function_arity(gva, &n_in, &n_out));
    CHECK(n_out == SF_OUTPUTS_AT_RETURN);

    /* Without has_aux f must return exactly one output, so grad has n_argnums outputs (and
     * grad_and_value n_argnums + 1) whatever f: the header reports SF_OUTPUTS_AT_RETURN only for
     * "transforms of such a function whose output count depends on it", and sf_function_arity
     * only "for a function whose output count is known only when it returns". */
    CHECK_OK(sf_function_arity(g, &n_in, &n_out));
    CHECK_EQ(n_in, 2);
    CHECK_EQ(n_out, 1);
    CHECK_OK(sf_function_arity(gv, &n_in, &n_out));
    CHECK_EQ(n_out, 2);

    sf_tensor *k1 = scalar_i64(1), *in1[2] = {x, k1};
    s.calls = 0;
    CHECK_OK(sf_call(g, in1, 2, r, 1));
    CHECK_EQ(s.calls, 1);
    CHECK_TENSOR(r[0], SHAPE_L, 1, cos_x, TOL);
    release_all(r, 1);
    CHECK_GRADIENT_AND_AUX(CALL_LIST(g, in1, 2), 1);
    CHECK_EQ(s.calls, 2);
    CHECK_OK(sf_call(gv, in1, 2, r, 2));
    CHECK_EQ(s.calls, 3);
    CHECK_TENSOR(r[0], SHAPE_L, 1, cos_x, TOL);
    CHECK_SCALAR(r[1], ref_sum_sin(X), TOL);
    release_all(r, 2);

    /* has_aux with f returning a single output: an error at call time. */
    CHECK_CALL_LIST_ERROR(ga, in1, 2, SF_ERR_INVALID_ARGUMENT, "has_aux");

    /* has_aux with a variable number of aux outputs: k - 1 of them. */
    for (int64_t k = 2; k <= 4; k++) {
        sf_tensor *kt = scalar_i64(k), *in[2] = {x, kt};
        s.calls = 0;
        CHECK_GRADIENT_AND_AUX(CALL_LIST(ga, in, 2), (int)k);
        CHECK_EQ(s.calls, 1);
        /* grad_and_value: gradient, value, aux. */
        CHECK_GRADIENT_VALUE_AND_AUX(CALL_LIST(gva, in, 2), (int)k);
        CHECK_EQ(s.calls, 2);

        /* sf_call with the right count, and a wrong one. */
        CHECK_OK(sf_call(ga, in, 2, r, (size_t)k));
        CHECK_EQ(s.calls, 3);
        CHECK_TENSOR(r[0], SHAPE_L, 1, cos_x, TOL);
        release_all(r, (size_t)k);
        fill_garbage(r, 8);
        CHECK_ERROR(sf_call(ga, in, 2, r, (size_t)k + 1), SF_ERR_INVALID_ARGUMENT, "sf_call");
        CHECK(all_null(r, (size_t)k + 1));

        /* Without has_aux, more than one output is an error naming the cause. */
        fill_garbage(r, 1);
        CHECK_ERROR(sf_call(g, in, 2, r, 1), SF_ERR_INVALID_ARGUMENT, "has_aux");
        CHECK(r[0] == NULL);
        sf_tensor_release(kt);
    }

    RELEASE_TENSORS(k1, x);
    RELEASE_FUNCTIONS(g, ga, gv, gva, f);
    CHECK_EQ(s.freed, 1);
}

static void test_vjp_jvp_linearize(void) {
    fam s = {0}; /* count from k */
    sf_function *f = family(&s, 2), *pullback = NULL, *jvp_fn = NULL;
    sf_tensor *x = make64(X, SHAPE_L, 1), *k3 = scalar_i64(3), *in[2] = {x, k3}, *r[4];

    /* ---- sf_vjp_list: the function runs once, the pullback never runs it. */
    sf_tensor_list *outputs = list_new();
    CHECK_OK(sf_vjp_list(f, in, 2, outputs, &pullback));
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(list_size(outputs), 3);
    CHECK_FAMILY(outputs, 0, X, 3);
    size_t n_in = 0, n_out = 0;
    CHECK_OK(sf_function_arity(pullback, &n_in, &n_out));
    CHECK_EQ(n_in, 3);
    CHECK_EQ(n_out, 2);
    /* cotangents g0 (0-d), g1, g2: xbar = g0 cos(x) + sum_j g_j c_j exp(c_j x); kbar = 0 (int64). */
    const double g0 = 0.7, g1[L] = {1.0, -2.0, 0.5}, g2[L] = {-0.3, 0.4, 2.5};
    sf_tensor *cot[3] = {scalar64(g0), make64(g1, SHAPE_L, 1), make64(g2, SHAPE_L, 1)}, *bars[2] = {NULL};
    for (int rep = 0; rep < 2; rep++) {
        CHECK_OK(sf_call(pullback, cot, 3, bars, 2));
        double expected[L], d1[L], d2[L];
        ref_dout(X, 1, d1);
        ref_dout(X, 2, d2);
        for (int i = 0; i < L; i++) expected[i] = g0 * cos(X[i]) + g1[i] * d1[i] + g2[i] * d2[i];
        CHECK_TENSOR(bars[0], SHAPE_L, 1, expected, TOL);
        CHECK(is_int64_zeros(bars[1], 1));
        release_all(bars, 2);
    }
    CHECK_EQ(s.calls, 1);
    sf_function_release(pullback);
    sf_tensor_list_free(outputs);

    /* ---- sf_jvp_list: out_0' = sum(cos(x) t), out_j' = c_j exp(c_j x) t. */
    const double tv[L] = {0.5, -1.5, 2.0};
    sf_tensor *tx = make64(tv, SHAPE_L, 1), *tk = scalar_i64(0), *tangents[2] = {tx, tk};
    outputs = list_new();
    sf_tensor_list *touts = list_new();
    s.calls = 0;
    CHECK_OK(sf_jvp_list(f, in, tangents, 2, outputs, touts));
    CHECK_EQ(s.calls, 1);
    CHECK_FAMILY_LIST(outputs, X, 3);
    CHECK_TANGENT_LIST(touts, X, tv, 3);
    outputs = list_new();
    touts = list_new();
    CHECK_ERROR(sf_jvp_list(f, in, tangents, 2, outputs, NULL), SF_ERR_INVALID_ARGUMENT, "sf_jvp_list");
    CHECK_ERROR(sf_jvp_list(f, in, tangents, 2, NULL, touts), SF_ERR_INVALID_ARGUMENT, "sf_jvp_list");
    CHECK_ERROR(sf_jvp_list(f, in, tangents, 1, outputs, touts), SF_ERR_INVALID_ARGUMENT, "sf_jvp_list");
    CHECK_ERROR(sf_jvp_list(f, in, NULL, 2, outputs, touts), SF_ERR_INVALID_ARGUMENT, "sf_jvp_list");
    s.fail = 1;
    CHECK_ERROR(sf_jvp_list(f, in, tangents, 2, outputs, touts), SF_ERR_CALLBACK, "at-return callback exploded");
    s.fail = 0;
    CHECK_EQ(list_size(outputs), 0);
    CHECK_EQ(list_size(touts), 0);
    sf_tensor_list_free(outputs);
    sf_tensor_list_free(touts);

    sf_tensor *tr[4];
    s.calls = 0;
    CHECK_OK(sf_jvp(f, in, tangents, 2, r, tr, 3));
    CHECK_EQ(s.calls, 1);
    CHECK_SCALAR(tr[0], ref_dsum_sin(X, tv), TOL);
    release_all(r, 3);
    release_all(tr, 3);
    fill_garbage(r, 4);
    fill_garbage(tr, 4);
    CHECK_ERROR(sf_jvp(f, in, tangents, 2, r, tr, 2), SF_ERR_INVALID_ARGUMENT, "sf_jvp");
    CHECK(all_null(r, 2) && all_null(tr, 2));

    /* ---- sf_linearize_list: f runs once, at linearize time; jvp_fn calls never run it. */
    outputs = list_new();
    s.calls = 0;
    CHECK_OK(sf_linearize_list(f, in, 2, outputs, &jvp_fn));
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(list_size(outputs), 3);
    CHECK_FAMILY(outputs, 0, X, 3);
    CHECK_OK(sf_function_arity(jvp_fn, &n_in, &n_out));
    CHECK_EQ(n_in, 2);
    CHECK_EQ(n_out, 3);
    const double tv2[L] = {-1.0, 0.25, 3.0};
    sf_tensor *tx2 = make64(tv2, SHAPE_L, 1);
    for (int rep = 0; rep < 2; rep++) {
        const double *tvals = rep ? tv2 : tv;
        sf_tensor *tin[2] = {rep ? tx2 : tx, tk};
        CHECK_TANGENT_LIST(CALL_LIST(jvp_fn, tin, 2), X, tvals, 3);
        CHECK_OK(sf_call(jvp_fn, tin, 2, tr, 3));
        CHECK_SCALAR(tr[0], ref_dsum_sin(X, tvals), TOL);
        release_all(tr, 3);
    }
    CHECK_EQ(s.calls, 1);
    sf_function_release(jvp_fn);
    sf_tensor_list_free(outputs);

    /* ---- What sf_vjp* and sf_linearize* (the same signatures) do alike. The array forms: the right
     * count runs f once (sf_vjp's out_0 checked too), a wrong one fails with every output NULL.
     * Bad calls: an error naming the function, the made function NULL, the list unchanged (the
     * list forms; sf_vjp_list also with f NULL). */
    typedef sf_status (*list_form)(sf_function *, sf_tensor *const *, size_t, sf_tensor_list *, sf_function **);
    typedef sf_status (*array_form)(sf_function *, sf_tensor *const *, size_t, sf_tensor **, size_t, sf_function **);
    const struct {
        list_form list_fn;
        const char *list_name;
        size_t wrong_n_in;
        int null_f;
        array_form array_fn;
        const char *array_name;
        size_t wrong_n_out;
        int out0_checked;
    } makers[] = {{sf_vjp_list, "sf_vjp_list", 1, 1, sf_vjp, "sf_vjp", 4, 1},
                  {sf_linearize_list, "sf_linearize_list", 3, 0, sf_linearize, "sf_linearize", 2, 0}};
    for (size_t i = 0; i < COUNT(makers); i++) {
        sf_function *made = NULL;
        s.calls = 0;
        CHECK_OK(makers[i].array_fn(f, in, 2, r, 3, &made));
        CHECK_EQ(s.calls, 1);
        if (makers[i].out0_checked) CHECK_SCALAR(r[0], ref_sum_sin(X), TOL);
        release_all(r, 3);
        sf_function_release(made);
        fill_garbage(r, 4);
        CHECK_ERROR_NULL(made, makers[i].array_fn(f, in, 2, r, makers[i].wrong_n_out, &made), SF_ERR_INVALID_ARGUMENT,
                         makers[i].array_name);
        CHECK(all_null(r, makers[i].wrong_n_out));

        list_form make = makers[i].list_fn;
        const char *name = makers[i].list_name;
        outputs = list_new();
        CHECK_ERROR_NULL(made, make(f, in, makers[i].wrong_n_in, outputs, &made), SF_ERR_INVALID_ARGUMENT, name);
        CHECK_ERROR(make(f, in, 2, outputs, NULL), SF_ERR_INVALID_ARGUMENT, name);
        CHECK_ERROR_NULL(made, make(f, in, 2, NULL, &made), SF_ERR_INVALID_ARGUMENT, name);
        if (makers[i].null_f)
            CHECK_ERROR_NULL(made, make(NULL, in, 2, outputs, &made), SF_ERR_INVALID_ARGUMENT, name);
        s.fail = 1;
        CHECK_ERROR_NULL(made, make(f, in, 2, outputs, &made), SF_ERR_CALLBACK, "at-return callback exploded");
        s.fail = 0;
        CHECK_EQ(list_size(outputs), 0);
        sf_tensor_list_free(outputs);
    }

    release_all(cot, 3);
    RELEASE_TENSORS(tx, tx2, tk, k3, x);
    sf_function_release(f);
    CHECK_EQ(s.freed, 1);
}

static void test_jacobians(void) {
    fam s = {0}; /* count from k */
    sf_function *f = family(&s, 2), *jr = NULL, *jr2 = NULL, *jra = NULL, *jf = NULL, *jfa = NULL, *h = NULL;
    sf_tensor *x = make64(X, SHAPE_L, 1), *k3 = scalar_i64(3), *in[2] = {x, k3};
    double cos_x[L], v[L], m1[L * L], m2[L * L];
    ref_cos(X, cos_x);
    ref_dout(X, 1, v);
    diag(v, m1);
    ref_dout(X, 2, v);
    diag(v, m2);
    const int64_t shape_ll[2] = {L, L};

    CHECK_OK(sf_jacrev(f, NULL, 0, false, 0, &jr));
    CHECK_OK(sf_jacrev(f, NULL, 0, false, 2, &jr2));
    CHECK_OK(sf_jacrev(f, NULL, 0, true, 0, &jra));
    CHECK_OK(sf_jacfwd(f, NULL, 0, false, SF_RANDOMNESS_ERROR, &jf));
    CHECK_OK(sf_jacfwd(f, NULL, 0, true, SF_RANDOMNESS_ERROR, &jfa));
    size_t n_out = 0;
    CHECK_OK(sf_function_arity(jr, NULL, &n_out));
    CHECK(n_out == SF_OUTPUTS_AT_RETURN);
    CHECK_OK(sf_function_arity(jfa, NULL, &n_out));
    CHECK(n_out == SF_OUTPUTS_AT_RETURN);

    /* Without has_aux: one Jacobian per output: cos(x) [L], diag(c_j exp(c_j x)) [L, L]. */
    const entry jacobians[3] = {{SHAPE_L, 1, cos_x, TOL}, {shape_ll, 2, m1, TOL}, {shape_ll, 2, m2, TOL}};
    sf_function *without_aux[3] = {jr, jr2, jf};
    for (size_t t = 0; t < 3; t++) {
        s.calls = 0;
        CHECK_LIST(CALL_LIST(without_aux[t], in, 2), jacobians);
        CHECK_EQ(s.calls, 1);
    }

    /* With has_aux: the Jacobian of out_0, then out_1, out_2 untouched; a variable aux count. */
    sf_function *with_aux[2] = {jra, jfa};
    for (size_t t = 0; t < 2; t++) {
        for (int64_t k = 2; k <= 4; k++) {
            sf_tensor *kt = scalar_i64(k), *ink[2] = {x, kt}, *r[4];
            s.calls = 0;
            CHECK_GRADIENT_AND_AUX(CALL_LIST(with_aux[t], ink, 2), (int)k);
            CHECK_EQ(s.calls, 1);
            CHECK_OK(sf_call(with_aux[t], ink, 2, r, (size_t)k));
            CHECK_TENSOR(r[0], SHAPE_L, 1, cos_x, TOL);
            release_all(r, (size_t)k);
            sf_tensor_release(kt);
        }
    }

    /* hessian: k = 1: diag(-sin x); k = 2 also d2 exp(c x)/dx2 = c^2 exp(c x) on the diagonal of
     * an [L, L, L] tensor. Checked against closed forms and central differences of the gradient. */
    CHECK_OK(sf_hessian(f, NULL, 0, &h));
    sf_tensor *k1 = scalar_i64(1), *in1[2] = {x, k1}, *k2 = scalar_i64(2), *in2[2] = {x, k2};
    double minus_sin[L], hess0[L * L], fd0[L * L], hess1[L * L * L];
    for (int i = 0; i < L; i++) minus_sin[i] = -sin(X[i]);
    diag(minus_sin, hess0);
    central_difference_jacobian(cos_fn, NULL, X, L, L, 1e-5, fd0); /* d(cos x_i)/dx_j */
    for (int i = 0; i < L * L * L; i++) hess1[i] = 0;
    for (int i = 0; i < L; i++) hess1[i * L * L + i * L + i] = coef(1) * coef(1) * exp(coef(1) * X[i]);
    const int64_t shape_lll[3] = {L, L, L};
    const entry hessians[2] = {{shape_ll, 2, hess0, TOL}, {shape_lll, 3, hess1, TOL}};
    s.calls = 0;
    sf_tensor_list *list = CALL_LIST(h, in1, 2);
    CHECK_EQ(s.calls, 1);
    CHECK_EQ(list_size(list), 1);
    CHECK_ENTRY(list, 0, shape_ll, 2, hess0, TOL);
    CHECK_ENTRY(list, 0, shape_ll, 2, fd0, FD_TOL);
    sf_tensor_list_free(list);
    s.calls = 0;
    CHECK_LIST(CALL_LIST(h, in2, 2), hessians);
    CHECK_EQ(s.calls, 1);

    RELEASE_TENSORS(k1, k2, k3, x);
    RELEASE_FUNCTIONS(h, jr, jr2, jra, jf, jfa, f);
    CHECK_EQ(s.freed, 1);
}

/* ---- vmap ---------------------------------------------------------------------------------- */

/* An out_dims callback: dims[0..n_set) then `rest`; counts its calls. */
typedef struct dims_spec {
    int calls;
    size_t last_n;
    int not_preset; /* entries that were not preset to 0 */
    int64_t dims[8];
    size_t n_set;
    int64_t rest;
    int fail;
    int freed;
} dims_spec;

static void free_dims(void *p) { ((dims_spec *)p)->freed++; }

static int cb_dims(void *ud, size_t n_outputs, int64_t *out_dims) {
    dims_spec *d = ud;
    d->calls++;
    d->last_n = n_outputs;
    for (size_t i = 0; i < n_outputs; i++)
        if (out_dims[i] != 0) d->not_preset++;
    if (d->fail) {
        sf_set_error("out_dims callback exploded");
        return 1;
    }
    for (size_t i = 0; i < n_outputs; i++) out_dims[i] = i < d->n_set ? d->dims[i] : d->rest;
    return 0;
}

/* Row b of XB. */
static const double *xrow(int b) { return XB + b * L; }

/* The batched out_0 [B]. */
static void ref_batched_sum_sin(double *out) {
    for (int b = 0; b < B; b++) out[b] = ref_sum_sin(xrow(b));
}

/* The batched out_j: [B, L] (transposed: [L, B]). */
static void ref_batched_out(int j, int transposed, double *out) {
    for (int b = 0; b < B; b++) {
        double v[L];
        ref_out(xrow(b), j, v);
        for (int i = 0; i < L; i++) out[transposed ? i * B + b : b * L + i] = v[i];
    }
}

static void test_vmap(void) {
    fam s = {0};
    sf_function *f = family(&s, 2), *m0 = NULL, *m_arr = NULL, *m_wrong = NULL, *m_chunk = NULL;
    const int64_t shape_bl[2] = {B, L}, shape_lb[2] = {L, B}, shape_b[1] = {B};
    sf_tensor *xb = make64(XB, shape_bl, 2), *k3 = scalar_i64(3), *in[2] = {xb, k3};
    const int64_t in_dims[2] = {0, SF_NOT_MAPPED};
    double sums[B], o1[B * L], o2[B * L], o1t[B * L], o2t[B * L];
    ref_batched_sum_sin(sums);
    ref_batched_out(1, 0, o1);
    ref_batched_out(2, 0, o2);
    ref_batched_out(1, 1, o1t);
    ref_batched_out(2, 1, o2t);
    const entry batched[3] = {{shape_b, 1, sums, TOL}, {shape_bl, 2, o1, TOL}, {shape_bl, 2, o2, TOL}};

    /* out_dims NULL: every output batched at 0; the function runs once per call. */
    CHECK_OK(sf_vmap(f, in_dims, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &m0));
    size_t n_out = 0;
    CHECK_OK(sf_function_arity(m0, NULL, &n_out));
    CHECK(n_out == SF_OUTPUTS_AT_RETURN);
    for (int rep = 1; rep <= 2; rep++) {
        s.calls = 0;
        CHECK_LIST(CALL_LIST(m0, in, 2), batched);
        CHECK_EQ(s.calls, 1);
    }
    sf_tensor *r[4];
    CHECK_OK(sf_call(m0, in, 2, r, 3));
    CHECK_TENSOR(r[2], shape_bl, 2, o2, TOL);
    release_all(r, 3);

    /* An explicit out_dims array of the right count works ... */
    const int64_t dims3[3] = {0, 1, -1};
    CHECK_OK(sf_vmap(f, in_dims, 2, dims3, 3, 0, SF_RANDOMNESS_ERROR, &m_arr));
    s.calls = 0;
    CHECK_OK(sf_call(m_arr, in, 2, r, 3));
    CHECK_EQ(s.calls, 1);
    CHECK_TENSOR(r[0], shape_b, 1, sums, TOL);
    CHECK_TENSOR(r[1], shape_lb, 2, o1t, TOL);
    CHECK_TENSOR(r[2], shape_lb, 2, o2t, TOL);
    release_all(r, 3);
    /* ... and the wrong count is accepted when the function is made, refused when it returns. */
    const int64_t dims2[2] = {0, 0};
    CHECK_OK(sf_vmap(f, in_dims, 2, dims2, 2, 0, SF_RANDOMNESS_ERROR, &m_wrong));
    CHECK_CALL_LIST_ERROR(m_wrong, in, 2, SF_ERR_INVALID_ARGUMENT, "out_dims");
    fill_garbage(r, 3);
    CHECK_STATUS(sf_call(m_wrong, in, 2, r, 3), SF_ERR_INVALID_ARGUMENT);
    CHECK(all_null(r, 3));
    /* k = 2 makes the two-entry array right. */
    sf_tensor *k2 = scalar_i64(2), *in2[2] = {xb, k2};
    CHECK_OK(sf_call(m_wrong, in2, 2, r, 2));
    CHECK_TENSOR(r[1], shape_bl, 2, o1, TOL);
    release_all(r, 2);
    /* Bad arrays are still refused when the function is made. */
    sf_function *bad = NULL;
    CHECK_ERROR_NULL(bad, sf_vmap(f, in_dims, 2, NULL, 2, 0, SF_RANDOMNESS_ERROR, &bad), SF_ERR_INVALID_ARGUMENT,
                     "sf_vmap");
    CHECK_ERROR_NULL(bad, sf_vmap(f, in_dims, 1, NULL, 0, 0, SF_RANDOMNESS_ERROR, &bad), SF_ERR_INVALID_ARGUMENT,
                     "sf_vmap");

    /* chunk_size 2 over B = 5: three chunks, so three runs, and the same values. */
    CHECK_OK(sf_vmap(f, in_dims, 2, NULL, 0, 2, SF_RANDOMNESS_ERROR, &m_chunk));
    s.calls = 0;
    CHECK_LIST(CALL_LIST(m_chunk, in, 2), batched);
    CHECK_EQ(s.calls, 3);

    /* A function that returns a different count for each chunk: an error, not a wrong result. */
    fam alt = {0};
    alt.alternate = 1;
    sf_function *fa = family(&alt, 1), *ma = NULL;
    CHECK_OK(sf_vmap(fa, NULL, 0, NULL, 0, 2, SF_RANDOMNESS_ERROR, &ma));
    CHECK_CALL_LIST_ERROR(ma, &xb, 1, SF_ERR_INVALID_ARGUMENT, "chunk");
    RELEASE_FUNCTIONS(ma, fa);
    CHECK_EQ(alt.freed, 1);

    /* A failing callback under vmap. */
    s.fail = 1;
    CHECK_CALL_LIST_ERROR(m0, in, 2, SF_ERR_CALLBACK, "at-return callback exploded");
    s.fail = 0;

    RELEASE_TENSORS(k2, k3, xb);
    RELEASE_FUNCTIONS(m0, m_arr, m_wrong, m_chunk);
    CHECK_EQ(s.freed, 0);
    sf_function_release(f);
    CHECK_EQ(s.freed, 1);
}

static void test_vmap_at_return(void) {
    fam s = {0};
    s.with_const = 1; /* f(x, k): out_0, out_1, out_2 (k = 3), then full([2], 7) */
    sf_function *f = family(&s, 2), *m = NULL;
    const int64_t shape_bl[2] = {B, L}, shape_lb[2] = {L, B}, shape_b[1] = {B}, shape_2[1] = {2};
    sf_tensor *xb = make64(XB, shape_bl, 2), *k3 = scalar_i64(3), *in[2] = {xb, k3};
    const int64_t in_dims[2] = {0, SF_NOT_MAPPED};
    double sums[B], o1t[B * L], o2[B * L];
    const double sevens[2] = {7, 7};
    ref_batched_sum_sin(sums);
    ref_batched_out(1, 1, o1t);
    ref_batched_out(2, 0, o2);
    const entry mixed[4] = {{shape_b, 1, sums, TOL}, {shape_lb, 2, o1t, TOL}, {shape_bl, 2, o2, TOL}, {shape_2, 1, sevens, 0}};

    /* Mixed dims: 0, 1, -2 (= 0 for a [B, L] result), SF_NOT_MAPPED for the constant. */
    dims_spec d = {0};
    d.n_set = 4;
    d.dims[0] = 0;
    d.dims[1] = 1;
    d.dims[2] = -2;
    d.dims[3] = SF_NOT_MAPPED;
    CHECK_OK(sf_vmap_at_return(f, in_dims, 2, cb_dims, &d, free_dims, 0, SF_RANDOMNESS_ERROR, &m));
    size_t n_out = 0;
    CHECK_OK(sf_function_arity(m, NULL, &n_out));
    CHECK(n_out == SF_OUTPUTS_AT_RETURN);
    CHECK_EQ(d.calls, 0); /* asked only when f returns */
    for (int rep = 1; rep <= 2; rep++) {
        s.calls = 0;
        CHECK_LIST(CALL_LIST(m, in, 2), mixed);
        CHECK_EQ(s.calls, 1);
        CHECK_EQ(d.calls, rep);
        CHECK_EQ(d.last_n, 4);
    }
    CHECK_EQ(d.not_preset, 0);

    /* SF_NOT_MAPPED for an output that depends on the mapped input: an error. */
    d.dims[1] = SF_NOT_MAPPED;
    sf_tensor_list *list = list_new();
    CHECK_ERROR(sf_call_list(m, in, 2, list), SF_ERR_INVALID_ARGUMENT, "SF_NOT_MAPPED");
    CHECK_EQ(list_size(list), 0);
    d.dims[1] = 1;
    /* A dim out of range for the output. */
    d.dims[1] = 3;
    CHECK_ERROR(sf_call_list(m, in, 2, list), SF_ERR_INVALID_ARGUMENT, "out of range");
    d.dims[1] = 1;
    /* A failing out_dims callback: SF_ERR_CALLBACK with its message. */
    d.fail = 1;
    CHECK_ERROR(sf_call_list(m, in, 2, list), SF_ERR_CALLBACK, "out_dims callback exploded");
    CHECK_EQ(list_size(list), 0);
    d.fail = 0;
    /* sf_call with the right and a wrong count. */
    sf_tensor *r[5];
    CHECK_OK(sf_call(m, in, 2, r, 4));
    CHECK_TENSOR(r[3], shape_2, 1, sevens, 0);
    release_all(r, 4);
    fill_garbage(r, 5);
    CHECK_STATUS(sf_call(m, in, 2, r, 5), SF_ERR_INVALID_ARGUMENT);
    CHECK(all_null(r, 5));
    /* Another count: the callback is told it. */
    sf_tensor *k2 = scalar_i64(2), *in2[2] = {xb, k2};
    /* dims[2] = -2 now falls on the constant: unbatched, so broadcast along -2 + 2 = 0 */
    const int64_t shape_b2[2] = {B, 2};
    double sevens_b[B * 2];
    for (int i = 0; i < B * 2; i++) sevens_b[i] = 7;
    const entry mixed2[3] = {{shape_b, 1, sums, TOL}, {shape_lb, 2, o1t, TOL}, {shape_b2, 2, sevens_b, 0}};
    CHECK_OK(sf_call_list(m, in2, 2, list));
    CHECK_EQ(d.last_n, 3);
    CHECK_LIST(list, mixed2);

    /* chunk_size: one run of f and one out_dims question per chunk; the same values. */
    dims_spec dc = d;
    dc.calls = 0;
    dc.freed = 0;
    sf_function *mc = NULL;
    CHECK_OK(sf_vmap_at_return(f, in_dims, 2, cb_dims, &dc, free_dims, 2, SF_RANDOMNESS_ERROR, &mc));
    s.calls = 0;
    CHECK_LIST(CALL_LIST(mc, in, 2), mixed);
    CHECK_EQ(s.calls, 3);
    CHECK_EQ(dc.calls, 3);
    sf_function_release(mc);
    CHECK_EQ(dc.freed, 1);

    /* free_user_data: once when the made function dies, and once when sf_vmap_at_return fails
     * (f NULL, out_dims NULL, chunk_size -1, in_dims of the wrong count, an unknown randomness,
     * out NULL). */
    CHECK_EQ(d.freed, 0);
    sf_function_release(m);
    CHECK_EQ(d.freed, 1);
    const struct {
        sf_function *f;
        size_t n_in;
        sf_out_dims_callback out_dims;
        int64_t chunk_size;
        sf_randomness randomness;
    } refused[] = {{NULL, 2, cb_dims, 0, SF_RANDOMNESS_ERROR},
                   {f, 2, NULL, 0, SF_RANDOMNESS_ERROR},
                   {f, 2, cb_dims, -1, SF_RANDOMNESS_ERROR},
                   {f, 1, cb_dims, 0, SF_RANDOMNESS_ERROR},
                   {f, 2, cb_dims, 0, (sf_randomness)7}};
    dims_spec e = {0};
    sf_function *bad = NULL;
    for (size_t i = 0; i < COUNT(refused); i++) {
        CHECK_ERROR_NULL(bad,
                         sf_vmap_at_return(refused[i].f, in_dims, refused[i].n_in, refused[i].out_dims, &e, free_dims,
                                           refused[i].chunk_size, refused[i].randomness, &bad),
                         SF_ERR_INVALID_ARGUMENT, "sf_vmap_at_return");
        CHECK_EQ(e.freed, i + 1);
    }
    CHECK_ERROR(sf_vmap_at_return(f, in_dims, 2, cb_dims, &e, free_dims, 0, SF_RANDOMNESS_ERROR, NULL),
                SF_ERR_INVALID_ARGUMENT, "sf_vmap_at_return");
    CHECK_EQ(e.freed, 6);
    /* NULL free_user_data and NULL user_data are fine; in_dims NULL means all 0. */
    fam one = {0};
    one.count = 2;
    sf_function *f1 = family(&one, 1), *m1 = NULL;
    CHECK_OK(sf_vmap_at_return(f1, NULL, 0, cb_dims, &e, NULL, 0, SF_RANDOMNESS_ERROR, &m1));
    e.n_set = 0;
    e.rest = 0;
    const entry sums_only[1] = {{shape_b, 1, sums, TOL}};
    CHECK_LIST_HEAD(CALL_LIST(m1, &xb, 1), 2, sums_only);
    RELEASE_FUNCTIONS(m1, f1);
    CHECK_EQ(e.freed, 6);
    CHECK_EQ(one.freed, 1);

    RELEASE_TENSORS(k2, k3, xb);
    sf_function_release(f);
    CHECK_EQ(s.freed, 1);
}

/* vmap_at_return(grad(f, has_aux)): per-example gradients at dim 0, the aux at dim 1. */
static void test_nesting(void) {
    fam s = {0};
    sf_function *f = family(&s, 2), *g = NULL, *m = NULL;
    CHECK_OK(sf_grad(f, NULL, 0, true, &g));
    dims_spec d = {.n_set = 1, .dims = {0}, .rest = 1};
    const int64_t in_dims[2] = {0, SF_NOT_MAPPED};
    CHECK_OK(sf_vmap_at_return(g, in_dims, 2, cb_dims, &d, free_dims, 0, SF_RANDOMNESS_ERROR, &m));
    sf_function_release(g); /* m holds it */
    const int64_t shape_bl[2] = {B, L}, shape_lb[2] = {L, B};
    sf_tensor *xb = make64(XB, shape_bl, 2);
    double grads[B * L], aux[B * L];
    for (int b = 0; b < B; b++) ref_cos(xrow(b), grads + b * L);
    for (int64_t k = 2; k <= 4; k++) {
        sf_tensor *kt = scalar_i64(k), *in[2] = {xb, kt};
        s.calls = 0;
        d.calls = 0;
        sf_tensor_list *list = CALL_LIST(m, in, 2);
        CHECK_EQ(s.calls, 1);
        CHECK_EQ(d.calls, 1);
        CHECK_EQ(d.last_n, k);
        CHECK_EQ(list_size(list), k);
        CHECK_ENTRY(list, 0, shape_bl, 2, grads, TOL);
        for (int j = 1; j < k; j++) {
            ref_batched_out(j, 1, aux);
            CHECK_ENTRY(list, (size_t)j, shape_lb, 2, aux, TOL);
        }
        sf_tensor_list_free(list);
        sf_tensor_release(kt);
    }

    /* jacrev of vmap: f's first output per example is sum(sin(x_b)).
     * d out0[b] / d x[c, i] = (b == c) cos(x[b, i]): [B, B, L] */
    double jac[B * B * L];
    for (int b = 0; b < B; b++)
        for (int c = 0; c < B; c++)
            for (int i = 0; i < L; i++) jac[(b * B + c) * L + i] = b == c ? cos(XB[c * L + i]) : 0.0;
    const int64_t shape_bbl[3] = {B, B, L};
    const entry jacobian[1] = {{shape_bbl, 3, jac, TOL}};
    sf_function *v = NULL, *jv = NULL;
    CHECK_OK(sf_vmap(f, in_dims, 2, NULL, 0, 0, SF_RANDOMNESS_ERROR, &v));
    CHECK_OK(sf_jacrev(v, NULL, 0, false, 0, &jv));
    sf_tensor *k1 = scalar_i64(1), *in1[2] = {xb, k1};
    s.calls = 0;
    CHECK_LIST(CALL_LIST(jv, in1, 2), jacobian);
    CHECK_EQ(s.calls, 1);
    RELEASE_FUNCTIONS(jv, v, m);
    RELEASE_TENSORS(k1, xb);
    CHECK_EQ(d.freed, 1);
    sf_function_release(f);
    CHECK_EQ(s.freed, 1);
}

/* f(x) = (sin(x), cos(x)): an ordinary function with a known count. */
static int cb_sin_cos(void *ud UNUSED, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out, size_t n_out UNUSED) {
    arena a = {0};
    put(&a, out, 0, op1(&a, sf_sin, in[0]));
    put(&a, out, 1, op1(&a, sf_cos, in[0]));
    return finish(&a);
}

static void test_more_compositions(void) {
    const int64_t shape_bl[2] = {B, L}, shape_lb[2] = {L, B}, shape_b[1] = {B}, shape_2[1] = {2};
    sf_tensor *x = make64(X, SHAPE_L, 1), *xb = make64(XB, shape_bl, 2);
    const double tv[L] = {0.5, -1.5, 2.0}, zeros2[2] = {0, 0};
    sf_tensor *t = make64(tv, SHAPE_L, 1);
    double v[L], w[L];

    /* An output that does not depend on x (full([2], 7)) gets a zero tangent, from jvp and from
     * the linear map; its cotangent contributes nothing. */
    fam s = {0};
    s.count = 2;
    s.with_const = 1;
    sf_function *f = family(&s, 1), *jvp_fn = NULL, *pullback = NULL;
    sf_tensor_list *outputs = list_new(), *touts = list_new();
    CHECK_OK(sf_jvp_list(f, &x, &t, 1, outputs, touts));
    CHECK_EQ(list_size(touts), 3);
    CHECK_ENTRY(outputs, 2, shape_2, 1, ((const double[2]){7, 7}), 0);
    CHECK_ENTRY(touts, 2, shape_2, 1, zeros2, 0);
    sf_tensor_list_free(outputs);
    sf_tensor_list_free(touts);
    outputs = list_new();
    s.calls = 0;
    CHECK_OK(sf_linearize_list(f, &x, 1, outputs, &jvp_fn));
    touts = CALL_LIST(jvp_fn, &t, 1);
    CHECK_EQ(list_size(touts), 3);
    ref_dout(X, 1, v);
    for (int i = 0; i < L; i++) w[i] = v[i] * tv[i];
    CHECK_ENTRY(touts, 1, SHAPE_L, 1, w, TOL);
    CHECK_ENTRY(touts, 2, shape_2, 1, zeros2, 0);
    CHECK_EQ(s.calls, 1);
    sf_tensor_list_free(touts);
    sf_tensor_list_free(outputs);
    sf_function_release(jvp_fn);

    /* The pullback: cotangents checked for count and shape. */
    outputs = list_new();
    CHECK_OK(sf_vjp_list(f, &x, 1, outputs, &pullback));
    const double g0 = -1.25, g1[L] = {2.0, 0.5, -1.0}, g2[2] = {3, 4};
    sf_tensor *cots[3] = {scalar64(g0), make64(g1, SHAPE_L, 1), make64(g2, shape_2, 1)}, *xbar = NULL;
    CHECK_OK(sf_call(pullback, cots, 3, &xbar, 1));
    for (int i = 0; i < L; i++) w[i] = g0 * cos(X[i]) + g1[i] * v[i];
    CHECK_TENSOR(xbar, SHAPE_L, 1, w, TOL);
    sf_tensor_release(xbar);
    sf_tensor *wrong[3] = {cots[0], cots[1], cots[1]};
    CHECK_ERROR_NULL(xbar, sf_call(pullback, wrong, 3, &xbar, 1), SF_ERR_SHAPE, "cotangent 2");
    xbar = GARBAGE;
    CHECK_STATUS(sf_call(pullback, cots, 2, &xbar, 1), SF_ERR_INVALID_ARGUMENT);
    CHECK(xbar == NULL);
    release_all(cots, 3);
    sf_function_release(pullback);
    sf_tensor_list_free(outputs);
    sf_function_release(f);
    CHECK_EQ(s.freed, 1);

    /* jvp of grad (forward over reverse): the tangent of cos(x) is -sin(x) t. */
    fam s1 = {0};
    s1.count = 1;
    sf_function *f1 = family(&s1, 1), *g1f = NULL;
    CHECK_OK(sf_grad(f1, NULL, 0, false, &g1f));
    outputs = list_new();
    touts = list_new();
    s1.calls = 0;
    CHECK_OK(sf_jvp_list(g1f, &x, &t, 1, outputs, touts));
    CHECK_EQ(s1.calls, 1);
    ref_cos(X, v);
    for (int i = 0; i < L; i++) w[i] = -sin(X[i]) * tv[i];
    CHECK_ENTRY(outputs, 0, SHAPE_L, 1, v, TOL);
    CHECK_ENTRY(touts, 0, SHAPE_L, 1, w, TOL);
    sf_tensor_list_free(outputs);
    sf_tensor_list_free(touts);
    /* grad with respect to an int64 input: SF_ERR_DTYPE when called. */
    fam sk = {0};
    sf_function *fk = family(&sk, 2), *gk = NULL;
    const int32_t argnum1[1] = {1};
    CHECK_OK(sf_grad(fk, argnum1, 1, false, &gk));
    sf_tensor *k1 = scalar_i64(1), *xk[2] = {x, k1};
    outputs = list_new();
    CHECK_STATUS(sf_call_list(gk, xk, 2, outputs), SF_ERR_DTYPE);
    CHECK_EQ(list_size(outputs), 0);
    sf_tensor_list_free(outputs);
    sf_function_release(gk);

    /* vmap over an empty batch: the shapes of zero elements. */
    s1.count = 2;
    const int64_t shape_0l[2] = {0, L}, shape_0[1] = {0};
    const entry empty[2] = {{shape_0, 1, NULL, 0}, {shape_0l, 2, NULL, 0}};
    sf_tensor *x0 = make64(NULL, shape_0l, 2);
    sf_function *vm = NULL;
    CHECK_OK(sf_vmap(f1, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &vm));
    CHECK_LIST(CALL_LIST(vm, &x0, 1), empty);

    /* linearize of vmap: once at linearize time, never for the linear map. */
    double tbv[B * L], d0[B], d1[B * L], sums[B], o1[B * L];
    for (int i = 0; i < B * L; i++) tbv[i] = 0.1 * (i % 7) - 0.3;
    for (int b = 0; b < B; b++) {
        d0[b] = ref_dsum_sin(xrow(b), tbv + b * L);
        for (int i = 0; i < L; i++) d1[b * L + i] = coef(1) * exp(coef(1) * XB[b * L + i]) * tbv[b * L + i];
    }
    ref_batched_sum_sin(sums);
    ref_batched_out(1, 0, o1);
    const entry batched_tangents[2] = {{shape_b, 1, d0, TOL}, {shape_bl, 2, d1, TOL}};
    sf_tensor *tb = make64(tbv, shape_bl, 2);
    outputs = list_new();
    s1.calls = 0;
    CHECK_OK(sf_linearize_list(vm, &xb, 1, outputs, &jvp_fn));
    CHECK_EQ(s1.calls, 1);
    CHECK_EQ(list_size(outputs), 2);
    CHECK_ENTRY(outputs, 0, shape_b, 1, sums, TOL);
    CHECK_ENTRY(outputs, 1, shape_bl, 2, o1, TOL);
    for (int rep = 0; rep < 2; rep++) CHECK_LIST(CALL_LIST(jvp_fn, &tb, 1), batched_tangents);
    CHECK_EQ(s1.calls, 1);
    sf_tensor_list_free(outputs);
    sf_function_release(jvp_fn);

    /* vmap of vmap_at_return: x3 [2, B, L]; inner out dims 0 and 1, outer 0. */
    double x3v[2 * B * L];
    for (int i = 0; i < B * L; i++) x3v[i] = XB[i], x3v[B * L + i] = 0.5 * XB[i] - 0.1;
    const int64_t shape_2bl[3] = {2, B, L}, shape_2b[2] = {2, B}, shape_2lb[3] = {2, L, B};
    double e0[2 * B], e1[2 * L * B];
    for (int o = 0; o < 2; o++)
        for (int b = 0; b < B; b++) {
            e0[o * B + b] = ref_sum_sin(x3v + (o * B + b) * L);
            for (int i = 0; i < L; i++) e1[(o * L + i) * B + b] = exp(coef(1) * x3v[(o * B + b) * L + i]);
        }
    const entry nested[2] = {{shape_2b, 2, e0, TOL}, {shape_2lb, 3, e1, TOL}};
    sf_tensor *x3 = make64(x3v, shape_2bl, 3);
    dims_spec d = {.n_set = 1, .dims = {0}, .rest = 1};
    sf_function *inner = NULL, *outer = NULL;
    CHECK_OK(sf_vmap_at_return(f1, NULL, 0, cb_dims, &d, free_dims, 0, SF_RANDOMNESS_ERROR, &inner));
    CHECK_OK(sf_vmap(inner, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &outer));
    s1.calls = 0;
    CHECK_LIST(CALL_LIST(outer, &x3, 1), nested);
    CHECK_EQ(s1.calls, 1);
    CHECK_EQ(d.calls, 1);
    RELEASE_FUNCTIONS(outer, inner);
    CHECK_EQ(d.freed, 1);

    /* vmap_at_return of a function whose count is known: the callback is told it; sf_call_list
     * calls known-count functions too. */
    double sinb[B * L], cosb[B * L];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < L; i++) sinb[i * B + b] = sin(XB[b * L + i]), cosb[b * L + i] = cos(XB[b * L + i]);
    for (int i = 0; i < L; i++) v[i] = sin(X[i]);
    const entry sin_cos_b[2] = {{shape_lb, 2, sinb, TOL}, {shape_bl, 2, cosb, TOL}}, sin_x[1] = {{SHAPE_L, 1, v, TOL}};
    sf_function *sc = NULL, *vsc = NULL;
    CHECK_OK(sf_function_new(cb_sin_cos, NULL, NULL, 1, 2, &sc));
    dims_spec dk = {.n_set = 2, .dims = {1, 0}};
    CHECK_OK(sf_vmap_at_return(sc, NULL, 0, cb_dims, &dk, free_dims, 0, SF_RANDOMNESS_ERROR, &vsc));
    size_t n_out = 0;
    CHECK_OK(sf_function_arity(vsc, NULL, &n_out));
    CHECK_EQ(n_out, 2);
    CHECK_LIST(CALL_LIST(vsc, &xb, 1), sin_cos_b);
    CHECK_EQ(dk.last_n, 2);
    CHECK_LIST_HEAD(CALL_LIST(sc, &x, 1), 2, sin_x);
    sf_function_release(vsc);
    CHECK_EQ(dk.freed, 1);
    sf_function_release(sc);

    /* "The function then runs exactly once per call, whatever transforms are applied to it":
     * also for jacfwd and hessian over two inputs. */
    fam s2 = {0};
    s2.count = 1;
    sf_function *f2 = family(&s2, 2), *jf2 = NULL, *h2 = NULL;
    const int32_t both[2] = {0, 1};
    CHECK_OK(sf_jacfwd(f2, both, 2, false, SF_RANDOMNESS_ERROR, &jf2));
    CHECK_OK(sf_hessian(f2, both, 2, &h2));
    sf_tensor *xy[2] = {x, t};
    ref_cos(X, v);
    const entry jacobians[2] = {{SHAPE_L, 1, v, TOL}, {SHAPE_L, 1, ((const double[L]){0}), 0}}; /* out_0 ignores y */
    s2.calls = 0;
    CHECK_LIST(CALL_LIST(jf2, xy, 2), jacobians);
    CHECK_EQ(s2.calls, 1);
    s2.calls = 0;
    CHECK_LIST_SIZE(CALL_LIST(h2, xy, 2), 4);
    CHECK_EQ(s2.calls, 1);
    RELEASE_FUNCTIONS(jf2, h2, f2);
    CHECK_EQ(s2.freed, 1);

    RELEASE_TENSORS(x3, tb, x0, k1, t, xb, x);
    RELEASE_FUNCTIONS(vm, fk, g1f, f1);
    CHECK_EQ(s1.freed, 1);
    CHECK_EQ(sk.freed, 1);
}

/* Runs `body` in a child process (so that a crash of the library fails one check instead of
 * ending the suite). Returns the child's exit status, or 128 + the signal that killed it. */
static int run_isolated(int (*body)(void)) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        _exit(body()); /* _exit: no leak check of the child's deliberately abandoned state */
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* jacfwd over two inputs of a function that returns 3 outputs on its first run and 2 on its
 * second. Right: one run (3 outputs, so 3 x 2 Jacobians), or an error status (as vmap gives for
 * chunks that return different counts) with nothing appended. 0 if so. */
static int jacfwd_of_changing_count(void) {
    fam s = {0};
    s.alternate = 1;
    s.calls = 0; /* runs: 2 + 1 % 2 = 3 outputs, then 2 + 2 % 2 = 2 */
    sf_function *f = NULL, *jf = NULL;
    if (sf_function_new_at_return(cb_family, &s, NULL, 2, &f) != SF_OK) return 2;
    const int32_t both[2] = {0, 1};
    if (sf_jacfwd(f, both, 2, false, SF_RANDOMNESS_ERROR, &jf) != SF_OK) return 3;
    sf_tensor *x = NULL, *in[2];
    if (sf_tensor_from_data(X, SF_FLOAT64, SHAPE_L, 1, &x) != SF_OK) return 4;
    in[0] = in[1] = x;
    sf_tensor_list *list = NULL;
    if (sf_tensor_list_new(&list) != SF_OK) return 5;
    sf_status status = sf_call_list(jf, in, 2, list);
    size_t n = 0;
    sf_tensor_list_size(list, &n);
    int ok = status == SF_OK ? s.calls == 1 && n == 6 : n == 0;
    if (!ok) fprintf(stderr, "    jacfwd: status %d, %zu outputs, %d runs of f\n", (int)status, n, s.calls);
    sf_tensor_list_free(list);
    sf_tensor_release(x);
    sf_function_release(jf);
    sf_function_release(f);
    return ok ? 0 : 1;
}

/* A function whose count differs between runs, under jacfwd over two inputs (which must run it
 * once, or refuse the changed count): a right answer or an error, never a crash or a mix. */
static void test_count_changing_between_runs(void) {
    int rc = run_isolated(jacfwd_of_changing_count);
    if (!CHECK(rc == 0)) fprintf(stderr, "    the child exited with %d (%s)\n", rc, rc > 128 ? "killed by a signal: a crash" : "a wrong result");

    /* The other order (2 outputs, then 3) in this process: one run giving 2 x 2 Jacobians, or an
     * error with nothing appended. */
    fam s = {0};
    s.alternate = 1;
    s.calls = 1; /* runs: 2 + 2 % 2 = 2, then 2 + 3 % 2 = 3 */
    sf_function *f = family(&s, 2), *jf = NULL;
    const int32_t both[2] = {0, 1};
    CHECK_OK(sf_jacfwd(f, both, 2, false, SF_RANDOMNESS_ERROR, &jf));
    sf_tensor *x = make64(X, SHAPE_L, 1), *in[2] = {x, x};
    sf_tensor_list *list = list_new();
    s.calls = 1;
    sf_status status = sf_call_list(jf, in, 2, list);
    if (status == SF_OK) {
        CHECK_EQ(s.calls, 2); /* one run */
        double cos_x[L], v[L], m1[L * L], zeros[L * L] = {0};
        const int64_t shape_ll[2] = {L, L};
        ref_cos(X, cos_x);
        ref_dout(X, 1, v);
        diag(v, m1);
        const entry jacobians[4] = {
            {SHAPE_L, 1, cos_x, TOL}, {SHAPE_L, 1, zeros, 0}, {shape_ll, 2, m1, TOL}, {shape_ll, 2, zeros, 0}};
        CHECK_LIST(list, jacobians);
    } else {
        CHECK_LIST_SIZE(list, 0);
    }
    sf_tensor_release(x);
    RELEASE_FUNCTIONS(jf, f);
    CHECK_EQ(s.freed, 1);
}

/* ------------------------------------------------------------------------------------------------
 * 4. Custom functions with SF_CUSTOM_COUNTS_AT_RETURN
 *
 * powers(x) -> y_j = x^(j+1) for j < m (m from the user data, so decided per call), residuals
 * res_j = (j+1) x^j (the derivative of y_j) for j < m, then a marker full(x.shape, 1000 + m):
 * r = m + 1. The rules check what they receive against that layout.
 * ---------------------------------------------------------------------------------------------- */

typedef struct cstate {
    int m;
    int forward_calls, vjp_calls, jvp_calls, batch_calls;
    size_t vjp_n_in, vjp_n_out, jvp_n_in, jvp_n_out;
    int layout_errors;
    int64_t last_batch_size;
    int fail_forward, fail_batch, zero_outputs, zero_batch_outputs, alternate;
    int freed;
} cstate;

static void free_cstate(void *p) { ((cstate *)p)->freed++; }

static double ipow(double x, int k) {
    double r = 1;
    for (int i = 0; i < k; i++) r *= x;
    return r;
}

/* Whether t holds `numel` values equal to expected[k] (within 1e-12 relative). */
static int host_equals(sf_tensor *t, const double *expected, int64_t numel) {
    int64_t shape[SF_MAX_NDIM], n = 0;
    size_t ndim;
    double *v = host_read(t, shape, &ndim, &n);
    int ok = v != NULL && n == numel;
    for (int64_t k = 0; ok && k < n; k++) ok = fabs(v[k] - expected[k]) <= 1e-12 * (1 + fabs(expected[k]));
    free(v);
    return ok;
}

/* Appends a new float64 tensor of `shape` holding `values` (batched along `dim`; plain
 * sf_tensor_list_append when `plain`). */
static int append_values(sf_tensor_list *list, const double *values, const int64_t *shape, size_t ndim, int plain, int64_t dim) {
    sf_tensor *t = NULL;
    if (sf_tensor_from_data(values, SF_FLOAT64, shape, ndim, &t) != SF_OK) return 1;
    sf_status status = plain ? sf_tensor_list_append(list, t) : sf_tensor_list_append_mapped(list, t, dim);
    sf_tensor_release(t);
    return status == SF_OK ? 0 : 1;
}

/* Computes the forward on x (any shape, elementwise) and appends it: m outputs, m + 1 residuals.
 * For the batching rule, `dim` is the batch dim of x (appended with it, odd j as a negative dim,
 * and the marker, the same for every element, as SF_NOT_MAPPED); dim < 0 means the plain forward. */
static int powers_kernel(cstate *s, sf_tensor *x_t, int m, int64_t dim, int fail,
                         sf_tensor_list *outputs, sf_tensor_list *residuals) {
    int64_t shape[SF_MAX_NDIM], numel;
    size_t ndim;
    double *x = host_read(x_t, shape, &ndim, &numel);
    if (!x) return 1;
    double *buf = malloc(sizeof(double) * (size_t)(numel > 0 ? numel : 1));
    int rc = 0;
    int batched = dim >= 0;
    for (int j = 0; j < m && rc == 0; j++) {
        for (int64_t k = 0; k < numel; k++) buf[k] = ipow(x[k], j + 1);
        int64_t d = batched && (j % 2) ? dim - (int64_t)ndim : dim;
        rc = append_values(outputs, buf, shape, ndim, !batched || (j == 0 && dim == 0), d);
        if (rc == 0 && fail) {
            sf_set_error(batched ? "batch kernel exploded" : "forward kernel exploded");
            rc = 1;
        }
    }
    for (int j = 0; j < m && rc == 0; j++) {
        for (int64_t k = 0; k < numel; k++) buf[k] = (j + 1) * ipow(x[k], j);
        rc = append_values(residuals, buf, shape, ndim, !batched, dim);
    }
    if (rc == 0) { /* the marker: an element's shape */
        int64_t mshape[SF_MAX_NDIM];
        size_t mndim = 0;
        for (size_t i = 0; i < ndim; i++)
            if (!batched || (int64_t)i != dim) mshape[mndim++] = shape[i];
        int64_t mnumel = shape_numel(mshape, mndim);
        for (int64_t k = 0; k < mnumel; k++) buf[k] = 1000 + m;
        rc = append_values(residuals, buf, mshape, mndim, !batched, SF_NOT_MAPPED);
    }
    (void)s;
    free(buf);
    free(x);
    return rc;
}

static int powers_forward_list(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor_list *outputs,
                               sf_tensor_list *residuals) {
    cstate *s = ud;
    s->forward_calls++;
    if (n_in != 1) {
        s->layout_errors++;
        sf_set_error("forward_list: wrong n_inputs");
        return 1;
    }
    if (s->zero_outputs) return 0;
    int m = s->alternate ? 1 + s->forward_calls % 2 : s->m;
    return powers_kernel(s, in[0], m, -1, s->fail_forward, outputs, residuals);
}

static int powers_batch_list(void *ud, sf_tensor *const *in, const int64_t *in_dims, size_t n_in, int64_t batch_size,
                             sf_tensor_list *outputs, sf_tensor_list *residuals) {
    cstate *s = ud;
    s->batch_calls++;
    s->last_batch_size = batch_size;
    if (n_in != 1 || in_dims[0] == SF_NOT_MAPPED) {
        s->layout_errors++;
        sf_set_error("batch_list: wrong inputs");
        return 1;
    }
    int64_t shape[SF_MAX_NDIM];
    if (sf_tensor_shape(in[0], shape, SF_MAX_NDIM) != SF_OK) return 1;
    if (shape[in_dims[0]] != batch_size) s->layout_errors++;
    if (s->zero_batch_outputs) return 0;
    return powers_kernel(s, in[0], s->m, in_dims[0], s->fail_batch, outputs, residuals);
}

/* Checks the values a rule receives: x, y_0..y_{m-1} (= x^(j+1)) and, for the VJP, the residuals
 * (j+1) x^j and the marker 1000 + m. Counts mismatches in s->layout_errors. */
static void check_layout(cstate *s, sf_tensor *const *in, int m, int with_residuals) {
    int64_t shape[SF_MAX_NDIM], numel;
    size_t ndim;
    double *x = host_read(in[0], shape, &ndim, &numel);
    if (!x) {
        s->layout_errors++;
        return;
    }
    double *e = malloc(sizeof(double) * (size_t)(numel > 0 ? numel : 1));
    for (int j = 0; j < m; j++) {
        for (int64_t k = 0; k < numel; k++) e[k] = ipow(x[k], j + 1);
        if (!host_equals(in[1 + j], e, numel)) s->layout_errors++;
        if (with_residuals) {
            for (int64_t k = 0; k < numel; k++) e[k] = (j + 1) * ipow(x[k], j);
            if (!host_equals(in[1 + m + j], e, numel)) s->layout_errors++;
        }
    }
    if (with_residuals) {
        for (int64_t k = 0; k < numel; k++) e[k] = 1000 + m;
        if (!host_equals(in[1 + 2 * m], e, numel)) s->layout_errors++;
    }
    free(e);
    free(x);
}

/* VJP host kernel: (x, y[m], res[m + 1], g[m]) -> xbar = sum_j g_j * res_j. */
static int powers_vjp(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    cstate *s = ud;
    s->vjp_calls++;
    s->vjp_n_in = n_in;
    s->vjp_n_out = n_out;
    if (n_in < 5 || (n_in - 2) % 3 != 0 || n_out != 1) {
        s->layout_errors++;
        sf_set_error("powers vjp: unexpected arity");
        return 1;
    }
    int m = (int)((n_in - 2) / 3);
    check_layout(s, in, m, 1);
    int64_t shape[SF_MAX_NDIM], numel, n2;
    size_t ndim, nd2;
    double *acc = host_read(in[0], shape, &ndim, &numel);
    if (!acc) return 1;
    for (int64_t k = 0; k < numel; k++) acc[k] = 0;
    for (int j = 0; j < m; j++) {
        int64_t sh[SF_MAX_NDIM];
        double *res = host_read(in[1 + m + j], sh, &nd2, &n2);
        double *g = host_read(in[1 + m + (m + 1) + j], sh, &nd2, &n2);
        if (res && g && n2 == numel)
            for (int64_t k = 0; k < numel; k++) acc[k] += g[k] * res[k];
        else
            s->layout_errors++;
        free(res);
        free(g);
    }
    sf_status status = sf_tensor_from_data(acc, SF_FLOAT64, shape, ndim, &out[0]);
    free(acc);
    return status == SF_OK ? 0 : 1;
}

/* JVP host kernel: (x, y[m], t) -> t * (j+1) x^j for each j. */
static int powers_jvp(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    cstate *s = ud;
    s->jvp_calls++;
    s->jvp_n_in = n_in;
    s->jvp_n_out = n_out;
    if (n_in < 3 || n_out != n_in - 2) {
        s->layout_errors++;
        sf_set_error("powers jvp: unexpected arity");
        return 1;
    }
    int m = (int)n_out;
    check_layout(s, in, m, 0);
    int64_t shape[SF_MAX_NDIM], numel, n2, sh[SF_MAX_NDIM];
    size_t ndim, nd2;
    double *x = host_read(in[0], shape, &ndim, &numel);
    double *t = host_read(in[1 + m], sh, &nd2, &n2);
    int rc = 0;
    if (!x || !t || n2 != numel) rc = 1;
    double *buf = malloc(sizeof(double) * (size_t)(numel > 0 ? numel : 1));
    for (int j = 0; j < m && rc == 0; j++) {
        for (int64_t k = 0; k < numel; k++) buf[k] = t[k] * (j + 1) * ipow(x[k], j);
        if (sf_tensor_from_data(buf, SF_FLOAT64, shape, ndim, &out[j]) != SF_OK) rc = 1;
    }
    free(buf);
    free(x);
    free(t);
    return rc;
}

/* Rules written with ops (for SF_CUSTOM_RULES_USE_OPS): from x only, so they differentiate. */
static sf_tensor *ops_slope(arena *a, sf_tensor *x, int j) { /* (j+1) x^j */
    sf_tensor *p = weak(a, j + 1);
    for (int i = 0; i < j; i++) p = op2(a, sf_mul, p, x);
    return p;
}

static int powers_vjp_ops(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    cstate *s = ud;
    s->vjp_calls++;
    s->vjp_n_in = n_in;
    s->vjp_n_out = n_out;
    int m = (int)((n_in - 2) / 3);
    arena a = {0};
    sf_tensor *acc = NULL;
    for (int j = 0; j < m; j++) {
        sf_tensor *term = op2(&a, sf_mul, in[2 + 2 * m + j], ops_slope(&a, in[0], j));
        acc = acc ? op2(&a, sf_add, acc, term) : term;
    }
    put(&a, out, 0, acc);
    return finish(&a);
}

static int powers_jvp_ops(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    cstate *s = ud;
    s->jvp_calls++;
    s->jvp_n_in = n_in;
    s->jvp_n_out = n_out;
    int m = (int)n_out;
    arena a = {0};
    for (int j = 0; j < m; j++) put(&a, out, (size_t)j, op2(&a, sf_mul, in[1 + m], ops_slope(&a, in[0], j)));
    return finish(&a);
}

static sf_function *powers(cstate *s, uint32_t flags, int with_batch, int ops_rules) {
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.flags = flags;
    desc.name = "powers";
    desc.n_inputs = 1;
    desc.forward_list = powers_forward_list;
    desc.batch_list = with_batch ? powers_batch_list : NULL;
    desc.vjp = ops_rules ? powers_vjp_ops : powers_vjp;
    desc.jvp = ops_rules ? powers_jvp_ops : powers_jvp;
    desc.user_data = s;
    desc.free_user_data = free_cstate;
    return custom_function(&desc);
}

/* loss(x) = sum_j (j+1) sum(y_j) with y = custom(x); with_aux: then y_0..y_{m-1} as aux. */
typedef struct loss_ud {
    sf_function *custom;
    int with_aux;
    int calls;
    int only; /* > 0: only the term of y_{only-1} (the other outputs get no cotangent) */
} loss_ud;

static int cb_custom_loss(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor_list *outputs) {
    loss_ud *u = ud;
    u->calls++;
    sf_tensor_list *ys = NULL;
    if (sf_tensor_list_new(&ys) != SF_OK) return 1;
    arena a = {0};
    size_t m = 0;
    if (sf_call_list(u->custom, in, 1, ys) != SF_OK || sf_tensor_list_size(ys, &m) != SF_OK) a.failed = 1;
    sf_tensor *total = NULL;
    for (size_t j = 0; j < m && !a.failed; j++) {
        if (u->only > 0 && j + 1 != (size_t)u->only) continue;
        sf_tensor *y = NULL;
        y = keep(&a, sf_tensor_list_get(ys, j, &y), &y);
        sf_tensor *term = op2(&a, sf_mul, sum_all(&a, y), weak(&a, (double)(j + 1)));
        total = total ? op2(&a, sf_add, total, term) : term;
    }
    emit(&a, outputs, total);
    for (size_t j = 0; u->with_aux && j < m && !a.failed; j++) {
        sf_tensor *y = NULL;
        emit(&a, outputs, keep(&a, sf_tensor_list_get(ys, j, &y), &y));
    }
    sf_tensor_list_free(ys);
    return finish(&a);
}

/* The references: y_j = x^(j+1); grad of the loss sum_j (j+1)^2 x^j; its Hessian diagonal
 * sum_j (j+1)^2 j x^(j-1). */
static void ref_pow(const double *x, int n, int j, double *out) {
    for (int i = 0; i < n; i++) out[i] = ipow(x[i], j + 1);
}

static void ref_loss_grad(const double *x, int n, int m, double *out) {
    for (int i = 0; i < n; i++) {
        out[i] = 0;
        for (int j = 0; j < m; j++) out[i] += (j + 1) * (j + 1) * ipow(x[i], j);
    }
}

/* Entries offset + j, j < m, are y_j = x^(j+1), x holding the values of a tensor of `shape`. */
static void check_powers(sf_tensor_list *list, size_t offset, const double *x, const int64_t *shape, size_t ndim, int m,
                         const char *file, int line) {
    int n = (int)shape_numel(shape, ndim);
    double *y = malloc(sizeof(double) * (size_t)n);
    for (int j = 0; j < m; j++) {
        ref_pow(x, n, j, y);
        check_entry(list, offset + (size_t)j, shape, ndim, y, TOL, file, line);
    }
    free(y);
}

#define CHECK_POWERS(list, offset, x, shape, ndim, m)                                           \
    check_powers((list), (offset), (x), (shape), (ndim), (m), __FILE__, __LINE__)

/* A custom forward_list or batch_list that appended no output: a failure (`status`) naming the
 * function and the rule ("at least 1"), with nothing appended to `list`. */
static void check_no_output(sf_status status, sf_tensor_list *list, const char *file, int line) {
    check_record(status != SF_OK, file, line, "the call fails");
    check_record(strstr(sf_last_error(), "custom function 'powers'") != NULL, file, line, "the message names 'powers'");
    check_record(strstr(sf_last_error(), "at least 1") != NULL, file, line, "the message says \"at least 1\"");
    size_t size = list_size(list);
    if (!check_record(size == 0, file, line, "nothing appended")) fprintf(stderr, "    %zu entries\n", size);
}

#define CHECK_NO_OUTPUT(call, list) check_no_output((call), (list), __FILE__, __LINE__)

static void test_custom_at_return(void) {
    cstate s = {0};
    s.m = 3;
    sf_function *custom = powers(&s, SF_CUSTOM_COUNTS_AT_RETURN, 1, 0);
    size_t n_in = 0, n_out = 0;
    CHECK_OK(sf_function_arity(custom, &n_in, &n_out));
    CHECK_EQ(n_in, 1);
    CHECK(n_out == SF_OUTPUTS_AT_RETURN);
    sf_tensor *x = make64(X, SHAPE_L, 1);
    double v[L], w[L];

    /* Calls: m outputs (residuals are not returned), m decided per call. */
    for (int m = 1; m <= 4; m++) {
        s.m = m;
        s.forward_calls = 0;
        sf_tensor_list *list = CALL_LIST(custom, &x, 1);
        CHECK_EQ(s.forward_calls, 1);
        CHECK_EQ(list_size(list), m);
        CHECK_POWERS(list, 0, X, SHAPE_L, 1, m);
        sf_tensor_list_free(list);
    }
    s.m = 2;
    sf_tensor *r[4];
    CHECK_OK(sf_call(custom, &x, 1, r, 2));
    release_all(r, 2);
    fill_garbage(r, 3);
    CHECK_STATUS(sf_call(custom, &x, 1, r, 3), SF_ERR_INVALID_ARGUMENT);
    CHECK(all_null(r, 3));

    /* grad of the loss (has_aux: the m outputs as aux) through the host VJP:
     * n_inputs = n + 2m + r = 1 + 2m + (m + 1), n_outputs = n = 1. */
    loss_ud lu = {custom, 1, 0, 0};
    sf_function *loss = NULL, *g = NULL;
    CHECK_OK(sf_function_new_at_return(cb_custom_loss, &lu, NULL, 1, &loss));
    CHECK_OK(sf_grad(loss, NULL, 0, true, &g));
    for (int m = 1; m <= 3; m++) {
        s.m = m;
        s.forward_calls = s.vjp_calls = 0;
        sf_tensor_list *list = CALL_LIST(g, &x, 1);
        CHECK_EQ(s.forward_calls, 1);
        CHECK_EQ(s.vjp_calls, 1);
        CHECK_EQ(s.vjp_n_in, 3 * m + 2);
        CHECK_EQ(s.vjp_n_out, 1);
        CHECK_EQ(list_size(list), 1 + m);
        ref_loss_grad(X, L, m, v);
        CHECK_ENTRY(list, 0, SHAPE_L, 1, v, TOL);
        CHECK_POWERS(list, 1, X, SHAPE_L, 1, m);
        sf_tensor_list_free(list);
    }

    /* A loss of y_1 alone: the VJP gets zeros as the cotangents of the other outputs. */
    loss_ud lo = {custom, 0, 0, 2};
    sf_function *loss_one = NULL, *g_one = NULL;
    CHECK_OK(sf_function_new_at_return(cb_custom_loss, &lo, NULL, 1, &loss_one));
    CHECK_OK(sf_grad(loss_one, NULL, 0, false, &g_one));
    s.m = 3;
    s.vjp_calls = 0;
    sf_tensor *grad_one = NULL;
    CHECK_OK(sf_call(g_one, &x, 1, &grad_one, 1));
    for (int i = 0; i < L; i++) v[i] = 4 * X[i]; /* d/dx 2 sum(x^2) */
    CHECK_TENSOR(grad_one, SHAPE_L, 1, v, TOL);
    CHECK_EQ(s.vjp_calls, 1);
    CHECK_EQ(s.vjp_n_in, 3 * 3 + 2);
    sf_tensor_release(grad_one);
    RELEASE_FUNCTIONS(g_one, loss_one);

    /* sf_vjp_list on the custom function with explicit cotangents. */
    s.m = 2;
    sf_tensor_list *outputs = list_new();
    sf_function *pullback = NULL;
    s.forward_calls = s.vjp_calls = 0;
    CHECK_OK(sf_vjp_list(custom, &x, 1, outputs, &pullback));
    CHECK_EQ(list_size(outputs), 2);
    CHECK_OK(sf_function_arity(pullback, &n_in, &n_out));
    CHECK_EQ(n_in, 2);
    CHECK_EQ(n_out, 1);
    const double c0[L] = {1.0, -2.0, 0.5}, c1[L] = {0.25, 3.0, -1.0};
    sf_tensor *cot[2] = {make64(c0, SHAPE_L, 1), make64(c1, SHAPE_L, 1)}, *xbar = NULL;
    CHECK_OK(sf_call(pullback, cot, 2, &xbar, 1));
    for (int i = 0; i < L; i++) w[i] = c0[i] + c1[i] * 2 * X[i];
    CHECK_TENSOR(xbar, SHAPE_L, 1, w, TOL);
    sf_tensor_release(xbar);
    CHECK_EQ(s.forward_calls, 1);
    CHECK_EQ(s.vjp_calls, 1);
    CHECK_EQ(s.vjp_n_in, 3 * 2 + 2);
    sf_function_release(pullback);
    sf_tensor_list_free(outputs);
    release_all(cot, 2);

    /* sf_jvp_list through the host JVP: n_inputs = 2n + m, n_outputs = m. */
    const double tv[L] = {0.5, -1.5, 2.0};
    sf_tensor *t = make64(tv, SHAPE_L, 1);
    for (int m = 1; m <= 3; m++) {
        s.m = m;
        s.forward_calls = s.jvp_calls = 0;
        outputs = list_new();
        sf_tensor_list *touts = list_new();
        CHECK_OK(sf_jvp_list(custom, &x, &t, 1, outputs, touts));
        CHECK_EQ(s.forward_calls, 1);
        CHECK_EQ(s.jvp_calls, 1);
        CHECK_EQ(s.jvp_n_in, 2 + m);
        CHECK_EQ(s.jvp_n_out, m);
        CHECK_EQ(list_size(outputs), m);
        CHECK_EQ(list_size(touts), m);
        CHECK_POWERS(outputs, 0, X, SHAPE_L, 1, m);
        for (int j = 0; j < m; j++) {
            for (int i = 0; i < L; i++) w[i] = tv[i] * (j + 1) * ipow(X[i], j);
            CHECK_ENTRY(touts, (size_t)j, SHAPE_L, 1, w, TOL);
        }
        sf_tensor_list_free(outputs);
        sf_tensor_list_free(touts);
    }
    /* jacfwd through the JVP rule: diag((j+1) x^j) per output. */
    s.m = 2;
    sf_function *jf = NULL;
    CHECK_OK(sf_jacfwd(custom, NULL, 0, false, SF_RANDOMNESS_ERROR, &jf));
    outputs = CALL_LIST(jf, &x, 1);
    CHECK_EQ(list_size(outputs), 2);
    const int64_t shape_ll[2] = {L, L};
    double dm[L * L];
    for (int j = 0; j < 2; j++) {
        for (int i = 0; i < L; i++) v[i] = (j + 1) * ipow(X[i], j);
        diag(v, dm);
        CHECK_ENTRY(outputs, (size_t)j, shape_ll, 2, dm, TOL);
    }
    sf_tensor_list_free(outputs);
    sf_function_release(jf);

    /* vmap: by the batch_list (once, no loop), and by the loop of a function without one. */
    const int64_t shape_bl[2] = {B, L}, shape_lb[2] = {L, B};
    double xt[L * B];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < L; i++) xt[i * B + b] = XB[b * L + i];
    sf_tensor *xb = make64(XB, shape_bl, 2), *xbt = make64(xt, shape_lb, 2);
    cstate s2 = {0};
    s2.m = 3;
    sf_function *looped = powers(&s2, SF_CUSTOM_COUNTS_AT_RETURN, 0, 0);
    for (int variant = 0; variant < 3; variant++) {
        /* 0: batch_list, x [B, L] at dim 0; 1: batch_list, x [L, B] at dim 1; 2: the loop */
        cstate *st = variant == 2 ? &s2 : &s;
        sf_function *fn = variant == 2 ? looped : custom, *mapped = NULL;
        int64_t in_dim = variant == 1 ? 1 : 0;
        st->m = 3;
        CHECK_OK(sf_vmap(fn, &in_dim, 1, NULL, 0, 0, SF_RANDOMNESS_ERROR, &mapped));
        uint64_t before = 0, after = 0;
        CHECK_OK(sf_vmap_fallback_count(&before));
        st->forward_calls = st->batch_calls = 0;
        sf_tensor *arg = variant == 1 ? xbt : xb;
        outputs = CALL_LIST(mapped, &arg, 1);
        CHECK_OK(sf_vmap_fallback_count(&after));
        CHECK_EQ(list_size(outputs), 3);
        CHECK_POWERS(outputs, 0, XB, shape_bl, 2, 3);
        sf_tensor_list_free(outputs);
        CHECK_EQ(after - before, variant == 2 ? 1 : 0);
        CHECK_EQ(st->batch_calls, variant == 2 ? 0 : 1);
        CHECK_EQ(st->forward_calls, variant == 2 ? B : 0);
        if (variant != 2) CHECK_EQ(st->last_batch_size, B);

        /* vmap(grad(loss)): per-example gradients, through the batching rule or the loop, then a
         * loop over the host VJP. */
        loss_ud plain = {fn, 0, 0, 0};
        sf_function *lf = NULL, *lg = NULL, *per_example = NULL;
        CHECK_OK(sf_function_new_at_return(cb_custom_loss, &plain, NULL, 1, &lf));
        CHECK_OK(sf_grad(lf, NULL, 0, false, &lg));
        CHECK_OK(sf_vmap(lg, &in_dim, 1, NULL, 0, 0, SF_RANDOMNESS_ERROR, &per_example));
        double e[B * L];
        ref_loss_grad(XB, B * L, 3, e);
        const entry grads[1] = {{shape_bl, 2, e, TOL}};
        st->vjp_calls = 0;
        CHECK_LIST(CALL_LIST(per_example, &arg, 1), grads);
        CHECK_EQ(st->vjp_calls, B);
        CHECK_EQ(st->vjp_n_in, 3 * 3 + 2);
        RELEASE_FUNCTIONS(per_example, lg, lf, mapped);
    }

    /* The loop refuses a forward whose counts differ between batch elements. */
    s2.alternate = 1;
    sf_function *mapped = NULL;
    CHECK_OK(sf_vmap(looped, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &mapped));
    CHECK_CALL_LIST_ERROR(mapped, &xb, 1, SF_ERR_INVALID_ARGUMENT, "powers");
    sf_function_release(mapped);
    s2.alternate = 0;

    /* Failures: forward, batch; appending no output. */
    s.m = 2;
    s.fail_forward = 1;
    outputs = list_new();
    CHECK_ERROR(sf_call_list(custom, &x, 1, outputs), SF_ERR_CALLBACK,
                "custom function 'powers': the forward callback failed: forward kernel exploded");
    CHECK_EQ(list_size(outputs), 0);
    s.fail_forward = 0;
    /* Appending no output: a failure naming the function (the header gives no status for a
     * custom forward_list; sf_function_new_at_return's callback gets SF_ERR_CALLBACK). */
    s.zero_outputs = 1;
    CHECK_NO_OUTPUT(sf_call_list(custom, &x, 1, outputs), outputs);
    s.zero_outputs = 0;
    CHECK_OK(sf_vmap(custom, NULL, 0, NULL, 0, 0, SF_RANDOMNESS_ERROR, &mapped));
    s.fail_batch = 1;
    CHECK_ERROR(sf_call_list(mapped, &xb, 1, outputs), SF_ERR_CALLBACK, "the batch callback failed: batch kernel exploded");
    CHECK_EQ(list_size(outputs), 0);
    s.fail_batch = 0;
    s.zero_batch_outputs = 1;
    CHECK_NO_OUTPUT(sf_call_list(mapped, &xb, 1, outputs), outputs);
    s.zero_batch_outputs = 0;
    CHECK_OK(sf_call_list(mapped, &xb, 1, outputs)); /* works again */
    CHECK_LIST_SIZE(outputs, 2);
    sf_function_release(mapped);

    CHECK_EQ(s.layout_errors, 0);
    CHECK_EQ(s2.layout_errors, 0);

    /* Differentiating the host VJP again is the documented error, not a wrong value. */
    sf_function *h = NULL;
    loss_ud lh = {custom, 0, 0, 0};
    sf_function *lossh = NULL;
    CHECK_OK(sf_function_new_at_return(cb_custom_loss, &lh, NULL, 1, &lossh));
    CHECK_OK(sf_hessian(lossh, NULL, 0, &h));
    outputs = list_new();
    CHECK_ERROR(sf_call_list(h, &x, 1, outputs), SF_ERR_TRANSFORM, "cannot be differentiated again");
    sf_tensor_list_free(outputs);
    RELEASE_FUNCTIONS(h, lossh);

    RELEASE_TENSORS(t, xb, xbt, x);
    RELEASE_FUNCTIONS(g, loss, looped);
    CHECK_EQ(s2.freed, 1);
    CHECK_EQ(s.freed, 0);
    sf_function_release(custom);
    CHECK_EQ(s.freed, 1);
}

/* ref_loss_grad over L values as a vector_fn (ctx: the int m), for central differences. */
static void loss_grad_fn(const double *x, double *out, void *m) { ref_loss_grad(x, L, *(const int *)m, out); }

/* SF_CUSTOM_RULES_USE_OPS | SF_CUSTOM_COUNTS_AT_RETURN: the rules differentiate (hessian). */
static void test_custom_ops_rules(void) {
    cstate s = {0};
    s.m = 3;
    sf_function *custom = powers(&s, SF_CUSTOM_RULES_USE_OPS | SF_CUSTOM_COUNTS_AT_RETURN, 0, 1);
    loss_ud lu = {custom, 0, 0, 0};
    sf_function *loss = NULL, *g = NULL, *h = NULL;
    CHECK_OK(sf_function_new_at_return(cb_custom_loss, &lu, NULL, 1, &loss));
    CHECK_OK(sf_grad(loss, NULL, 0, false, &g));
    CHECK_OK(sf_hessian(loss, NULL, 0, &h));
    sf_tensor *x = make64(X, SHAPE_L, 1);
    const int64_t shape_ll[2] = {L, L};
    for (int m = 1; m <= 3; m++) {
        s.m = m;
        double v[L], hd[L], hm[L * L];
        sf_tensor_list *list = CALL_LIST(g, &x, 1);
        ref_loss_grad(X, L, m, v);
        CHECK_ENTRY(list, 0, SHAPE_L, 1, v, TOL);
        sf_tensor_list_free(list);
        list = CALL_LIST(h, &x, 1);
        CHECK_EQ(list_size(list), 1);
        for (int i = 0; i < L; i++) {
            hd[i] = 0;
            for (int j = 1; j < m; j++) hd[i] += (j + 1) * (j + 1) * j * ipow(X[i], j - 1);
        }
        diag(hd, hm);
        CHECK_ENTRY(list, 0, shape_ll, 2, hm, TOL);
        /* and against central differences of the closed-form gradient */
        double fd[L * L];
        central_difference_jacobian(loss_grad_fn, &m, X, L, L, 1e-5, fd);
        CHECK_ENTRY(list, 0, shape_ll, 2, fd, FD_TOL);
        sf_tensor_list_free(list);
        CHECK_EQ(s.vjp_n_in, 3 * m + 2);
    }
    sf_tensor_release(x);
    RELEASE_FUNCTIONS(h, g, loss, custom);
    CHECK_EQ(s.freed, 1);
}

/* ---- desc validation and version 1 ---------------------------------------------------------- */

/* The version-1 layout: sf_custom_function_desc without the version-2 fields. */
typedef struct desc_v1 {
    uint32_t version;
    uint32_t flags;
    const char *name;
    size_t n_inputs;
    size_t n_outputs;
    size_t n_residuals;
    sf_callback forward;
    sf_callback vjp;
    sf_callback jvp;
    sf_custom_batch_callback batch;
    void *user_data;
    void (*free_user_data)(void *);
} desc_v1;

_Static_assert(sizeof(desc_v1) == offsetof(sf_custom_function_desc, forward_list),
               "version 1 ends where version 2's fields begin");

/* square(x) = x^2 as host kernels: forward, and vjp (x, y, g) -> 2 x g. */
static int square_forward(void *ud, sf_tensor *const *in, size_t n_in UNUSED, sf_tensor **out, size_t n_out UNUSED) {
    ((cstate *)ud)->forward_calls++;
    int64_t shape[SF_MAX_NDIM], numel;
    size_t ndim;
    double *x = host_read(in[0], shape, &ndim, &numel);
    if (!x) return 1;
    for (int64_t k = 0; k < numel; k++) x[k] *= x[k];
    sf_status status = sf_tensor_from_data(x, SF_FLOAT64, shape, ndim, &out[0]);
    free(x);
    return status == SF_OK ? 0 : 1;
}

static int square_vjp(void *ud, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out UNUSED) {
    cstate *s = ud;
    s->vjp_calls++;
    s->vjp_n_in = n_in;
    int64_t shape[SF_MAX_NDIM], numel, sh[SF_MAX_NDIM], n2;
    size_t ndim, nd2;
    double *x = host_read(in[0], shape, &ndim, &numel);
    double *g = host_read(in[2], sh, &nd2, &n2);
    int rc = 1;
    if (x && g && n2 == numel) {
        for (int64_t k = 0; k < numel; k++) x[k] = 2 * x[k] * g[k];
        rc = sf_tensor_from_data(x, SF_FLOAT64, shape, ndim, &out[0]) == SF_OK ? 0 : 1;
    }
    free(x);
    free(g);
    return rc;
}

/* A batching rule that is never called (only its presence matters). */
static int dummy_batch(void *ud UNUSED, sf_tensor *const *in UNUSED, const int64_t *in_dims UNUSED, size_t n_in UNUSED,
                       int64_t batch_size UNUSED, sf_tensor **out UNUSED, int64_t *out_dims UNUSED, size_t n_out UNUSED) {
    sf_set_error("dummy_batch must not run");
    return 1;
}

static void test_custom_descs(void) {
    cstate s = {0};
    s.m = 2;
    sf_function *f = NULL;

    /* SF_CUSTOM_COUNTS_AT_RETURN with fields that must stay zero, or without forward_list. */
    sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
    desc.flags = SF_CUSTOM_COUNTS_AT_RETURN;
    desc.name = "bad";
    desc.n_inputs = 1;
    desc.forward_list = powers_forward_list;
    desc.user_data = &s;
    desc.free_user_data = free_cstate;

    desc.forward = square_forward;
    CHECK_ERROR_NULL(f, sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "sf_custom_function_new");
    CHECK(strstr(sf_last_error(), "'bad'") != NULL);
    CHECK_EQ(s.freed, 1);
    desc.forward = NULL;

    desc.n_outputs = 1;
    CHECK_ERROR_NULL(f, sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "n_outputs");
    CHECK_EQ(s.freed, 2);
    desc.n_outputs = 0;

    desc.n_residuals = 1;
    CHECK_ERROR(sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "n_residuals");
    CHECK_EQ(s.freed, 3);
    desc.n_residuals = 0;

    desc.batch = dummy_batch;
    CHECK_ERROR(sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "batch");
    CHECK_EQ(s.freed, 4);
    desc.batch = NULL;

    desc.forward_list = NULL;
    CHECK_ERROR_NULL(f, sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "forward_list");
    CHECK_EQ(s.freed, 5);
    desc.forward_list = powers_forward_list;

    desc.flags = 4;
    CHECK_ERROR(sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "unknown flags");
    CHECK_EQ(s.freed, 6);
    desc.flags = SF_CUSTOM_COUNTS_AT_RETURN;

    /* version 3: refused, and the desc is not read (free_user_data not called). */
    desc.version = 3;
    CHECK_ERROR_NULL(f, sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "version is 3");
    CHECK_EQ(s.freed, 6);

    /* version 1 with SF_CUSTOM_COUNTS_AT_RETURN: the flag does not exist in version 1. */
    desc.version = 1;
    CHECK_ERROR_NULL(f, sf_custom_function_new(&desc, &f), SF_ERR_INVALID_ARGUMENT, "flags");
    CHECK_EQ(s.freed, 7);

    /* The valid version-2 desc. */
    desc.version = SF_CUSTOM_FUNCTION_DESC_VERSION;
    CHECK_OK(sf_custom_function_new(&desc, &f));
    sf_function_release(f);
    CHECK_EQ(s.freed, 8);

    /* A version-1 desc of exactly the version-1 size (heap, so ASan sees any read past it). */
    cstate s1 = {0};
    desc_v1 *v1 = malloc(sizeof *v1);
    memset(v1, 0, sizeof *v1);
    v1->version = 1;
    v1->name = "square_v1";
    v1->n_inputs = 1;
    v1->n_outputs = 1;
    v1->forward = square_forward;
    v1->vjp = square_vjp;
    v1->user_data = &s1;
    v1->free_user_data = free_cstate;
    sf_function *sq = NULL;
    CHECK_OK(sf_custom_function_new((const sf_custom_function_desc *)(const void *)v1, &sq));
    size_t n_out = 0;
    CHECK_OK(sf_function_arity(sq, NULL, &n_out));
    CHECK_EQ(n_out, 1);
    sf_tensor *x = make64(X, SHAPE_L, 1), *y = NULL;
    CHECK_OK(sf_call(sq, &x, 1, &y, 1));
    double v[L];
    for (int i = 0; i < L; i++) v[i] = X[i] * X[i];
    CHECK_TENSOR(y, SHAPE_L, 1, v, TOL);
    sf_tensor_release(y);
    const double gv[L] = {1.0, -0.5, 2.0};
    sf_tensor *gt = make64(gv, SHAPE_L, 1), *xbar = NULL, *out1 = NULL;
    sf_function *pullback = NULL;
    CHECK_OK(sf_vjp(sq, &x, 1, &out1, 1, &pullback));
    CHECK_OK(sf_call(pullback, &gt, 1, &xbar, 1));
    for (int i = 0; i < L; i++) v[i] = 2 * X[i] * gv[i];
    CHECK_TENSOR(xbar, SHAPE_L, 1, v, TOL);
    CHECK_EQ(s1.vjp_n_in, 3);
    RELEASE_TENSORS(xbar, out1);
    RELEASE_FUNCTIONS(pullback, sq);
    CHECK_EQ(s1.freed, 1);
    /* version 1 with flag 2, from the version-1 struct */
    v1->flags = SF_CUSTOM_COUNTS_AT_RETURN;
    CHECK_ERROR_NULL(sq, sf_custom_function_new((const sf_custom_function_desc *)(const void *)v1, &sq),
                     SF_ERR_INVALID_ARGUMENT, "flags");
    CHECK_EQ(s1.freed, 2);
    free(v1);

    /* A full desc with version = 1 ignores the version-2 fields (set here to non-NULL). */
    cstate s3 = {0};
    sf_custom_function_desc full = SF_CUSTOM_FUNCTION_DESC_INIT;
    full.version = 1;
    full.name = "square_v1_full";
    full.n_inputs = 1;
    full.n_outputs = 1;
    full.forward = square_forward;
    full.vjp = square_vjp;
    full.user_data = &s3;
    full.free_user_data = free_cstate;
    full.forward_list = powers_forward_list;
    full.batch_list = powers_batch_list;
    CHECK_OK(sf_custom_function_new(&full, &sq));
    CHECK_OK(sf_call(sq, &x, 1, &y, 1));
    for (int i = 0; i < L; i++) v[i] = X[i] * X[i];
    CHECK_TENSOR(y, SHAPE_L, 1, v, TOL);
    sf_tensor_release(y);
    CHECK_EQ(s3.forward_calls, 1);
    sf_function_release(sq);
    CHECK_EQ(s3.freed, 1);
    RELEASE_TENSORS(gt, x);
}

int main(void) {
    test_tensor_list();
    test_call();
    test_call_failures();
    test_grad();
    test_vjp_jvp_linearize();
    test_jacobians();
    test_vmap();
    test_vmap_at_return();
    test_nesting();
    test_more_compositions();
    test_count_changing_between_runs();
    test_custom_at_return();
    test_custom_ops_rules();
    test_custom_descs();
    return check_summary();
}
