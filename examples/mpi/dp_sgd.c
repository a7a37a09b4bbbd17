/* Differentially private SGD (DP-SGD) of a small MLP on the digits, data-parallel over MPI, in C.
 * The algorithm of bindings/python/examples/dp_sgd_mpi.py: each rank computes the per-sample
 * gradients of its share of a Poisson-sampled batch with vmap(grad(loss)), clips each one to norm
 * <= CLIP and sums them; MPI_Allreduce reads that sum straight from the memory of the swiftfunc
 * tensor (exported with sf_to_dlpack) and writes the total into a buffer that swiftfunc then views
 * (imported with sf_from_dlpack): no copy either way. Every rank adds the same Gaussian noise (same
 * seed) and takes the same step, so the parameters do not depend on the number of ranks.
 *
 *   mpicc -std=c11 -Iinclude examples/mpi/dp_sgd.c -o dp_sgd -L.build/release -lswiftfunc -lm
 *   python3 examples/mpi/write_digits.py digits.bin      # once: the data (see examples/mpi/README.md)
 *   mpirun -np 2 ./dp_sgd digits.bin [--steps K] [--save params.f32] [--fail-rank R --fail-step S]
 *
 * Any failure on any rank prints its message and calls MPI_Abort, which ends every rank: the others
 * would otherwise wait in MPI_Allreduce forever. */
#define _POSIX_C_SOURCE 199309L
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "swiftfunc.h"

/* The Python example's defaults: a 64-64-10 MLP, expected batch 64, 15 epochs. */
enum { PIXELS = 64, HIDDEN = 64, CLASSES = 10, IMAGES = 1797, N_PARAMS = 4 };
static const double BATCH = 64, EPOCHS = 15, LR = 0.5, CLIP = 1.0, SIGMA = 1.5;
static const uint64_t SEED = 0;

static int rank = 0, world = 1;

/* Ends the whole job: prints the message with the rank, then MPI_Abort (mpirun kills every rank). */
static void die(const char *what, const char *message) {
    fprintf(stderr, "dp_sgd: rank %d: %s: %s\n", rank, what, message);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1); /* not reached */
}

#define CHECK(call)                                                  \
    do {                                                             \
        if ((call) != SF_OK) die(#call, sf_last_error());            \
    } while (0)

/* ---- data ---------------------------------------------------------------------------------- */

/* The digits: IMAGES records of 64 pixel values (0..16) and a label, one byte each, in
 * scikit-learn's order (examples/mpi/write_digits.py). Every fifth image is a test image, as in
 * the Python example. */
typedef struct {
    float *x;      /* [n, 64], pixels / 16 */
    int64_t *y;    /* [n] */
    int64_t n;
} digits;

static void load_digits(const char *path, digits *train, digits *test) {
    unsigned char *bytes = malloc((size_t)IMAGES * (PIXELS + 1));
    FILE *file = fopen(path, "rb");
    if (!file) die(path, "cannot open (write it with examples/mpi/write_digits.py)");
    size_t got = fread(bytes, PIXELS + 1, IMAGES, file);
    int extra = fgetc(file);
    fclose(file);
    if (got != IMAGES || extra != EOF) die(path, "not the digits file (1797 records of 65 bytes)");
    digits *sets[2] = {train, test};
    for (int s = 0; s < 2; s++) {
        sets[s]->x = malloc(sizeof(float) * IMAGES * PIXELS);
        sets[s]->y = malloc(sizeof(int64_t) * IMAGES);
        sets[s]->n = 0;
    }
    for (int64_t i = 0; i < IMAGES; i++) {
        digits *d = i % 5 == 0 ? test : train;
        const unsigned char *record = bytes + i * (PIXELS + 1);
        for (int k = 0; k < PIXELS; k++) d->x[d->n * PIXELS + k] = (float)record[k] / 16.0f;
        d->y[d->n++] = record[PIXELS];
    }
    free(bytes);
}

/* Rows `rows` of a data set as two tensors (float32 [m, 64] and int64 [m]). */
static void gather_rows(const digits *d, const int64_t *rows, int64_t m, sf_tensor **x, sf_tensor **y) {
    float *xs = malloc(sizeof(float) * (size_t)(m > 0 ? m : 1) * PIXELS);
    int64_t *ys = malloc(sizeof(int64_t) * (size_t)(m > 0 ? m : 1));
    for (int64_t i = 0; i < m; i++) {
        memcpy(xs + i * PIXELS, d->x + rows[i] * PIXELS, sizeof(float) * PIXELS);
        ys[i] = d->y[rows[i]];
    }
    const int64_t x_shape[2] = {m, PIXELS}, y_shape[1] = {m};
    CHECK(sf_tensor_from_data(xs, SF_FLOAT32, x_shape, 2, x));
    CHECK(sf_tensor_from_data(ys, SF_INT64, y_shape, 1, y));
    free(xs);
    free(ys);
}

/* The batches' random numbers (splitmix64): the same seed on every rank, so every rank draws the
 * same batch and takes its share of it. */
static double uniform(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* ---- the model ------------------------------------------------------------------------------ */

static const int64_t param_shapes[N_PARAMS][2] = {{HIDDEN, PIXELS}, {HIDDEN, 0}, {CLASSES, HIDDEN}, {CLASSES, 0}};
static const size_t param_ndims[N_PARAMS] = {2, 1, 2, 1};
static int64_t param_size(int p) { return param_shapes[p][0] * (param_ndims[p] == 2 ? param_shapes[p][1] : 1); }

/* logits = W2 relu(W1 x + b1) + b2, for one sample or a batch. */
static sf_status logits_of(sf_tensor *const *params, sf_tensor *x, sf_tensor **out) {
    sf_tensor *pre = NULL, *hidden = NULL;
    sf_status s = sf_linear(x, params[0], params[1], &pre);
    if (s == SF_OK) s = sf_relu(pre, &hidden);
    if (s == SF_OK) s = sf_linear(hidden, params[2], params[3], out);
    sf_tensor_release(pre);
    sf_tensor_release(hidden);
    return s;
}

/* loss(W1, b1, W2, b2, x, y) = cross_entropy(logits, y) for one sample. */
static int sample_loss(void *user_data, sf_tensor *const *in, size_t n_in, sf_tensor **out, size_t n_out) {
    (void)user_data, (void)n_in, (void)n_out;
    sf_tensor *logits = NULL;
    sf_status s = logits_of(in, in[4], &logits);
    if (s == SF_OK) s = sf_cross_entropy(logits, in[5], SF_REDUCTION_MEAN, &out[0]);
    sf_tensor_release(logits);
    return s == SF_OK ? 0 : 1;
}

/* a <- f(a, b), releasing the old a (keeps the chains of ops below readable). */
typedef sf_status (*binary_op)(sf_tensor *, sf_tensor *, sf_tensor **);
static void update(sf_tensor **a, binary_op f, sf_tensor *b) {
    sf_tensor *result = NULL;
    CHECK(f(*a, b, &result));
    sf_tensor_release(*a);
    *a = result;
}
static void update_scalar(sf_tensor **a, binary_op f, double value) {
    sf_tensor *s = NULL;
    CHECK(sf_scalar(value, &s));
    update(a, f, s);
    sf_tensor_release(s);
}

/* sum_i g_i * min(1, CLIP / |g_i|) over the samples (x, y), flattened into one float32 vector of
 * `count` elements (the parameters one after the other). */
static sf_tensor *clipped_sum(sf_function *per_sample, sf_tensor *const *params, sf_tensor *x, sf_tensor *y,
                              int64_t m, int64_t count) {
    sf_tensor *flat = NULL;
    if (m == 0) {
        CHECK(sf_zeros(&count, 1, SF_FLOAT32, &flat));
        return flat;
    }
    sf_tensor *inputs[6] = {params[0], params[1], params[2], params[3], x, y}, *grads[N_PARAMS] = {NULL};
    CHECK(sf_call(per_sample, inputs, 6, grads, N_PARAMS));
    /* Per-sample squared norms over all parameters, then the clipping factors. */
    sf_tensor *squares = NULL;
    const int64_t dim1 = 1, rows[2] = {m, -1};
    for (int p = 0; p < N_PARAMS; p++) {
        sf_tensor *g = NULL, *sum = NULL;
        CHECK(sf_reshape(grads[p], rows, 2, &g));
        update(&g, sf_mul, g);
        CHECK(sf_sum(g, &dim1, 1, false, &sum));
        sf_tensor_release(g);
        if (squares) {
            update(&squares, sf_add, sum);
            sf_tensor_release(sum);
        } else {
            squares = sum;
        }
    }
    sf_tensor *scale = NULL, *clip = NULL;
    CHECK(sf_sqrt(squares, &scale));
    update_scalar(&scale, sf_add, 1e-6);
    CHECK(sf_scalar(CLIP, &clip));
    update(&clip, sf_div, scale); /* CLIP / (|g_i| + 1e-6) */
    update_scalar(&clip, sf_minimum, 1.0);
    /* Each gradient times its factor, summed over the samples, flattened, concatenated. */
    sf_tensor *pieces[N_PARAMS] = {NULL};
    for (int p = 0; p < N_PARAMS; p++) {
        const int64_t factor_shape[3] = {m, 1, 1}, dim0 = 0, flat_shape = -1;
        sf_tensor *factor = NULL, *sum = NULL;
        CHECK(sf_reshape(clip, factor_shape, 1 + param_ndims[p], &factor));
        update(&grads[p], sf_mul, factor);
        CHECK(sf_sum(grads[p], &dim0, 1, false, &sum));
        CHECK(sf_reshape(sum, &flat_shape, 1, &pieces[p]));
        sf_tensor_release(factor);
        sf_tensor_release(sum);
        sf_tensor_release(grads[p]);
    }
    CHECK(sf_cat(pieces, N_PARAMS, 0, &flat));
    for (int p = 0; p < N_PARAMS; p++) sf_tensor_release(pieces[p]);
    sf_tensor_release(squares);
    sf_tensor_release(scale);
    sf_tensor_release(clip);
    return flat;
}

/* ---- the combination over MPI, zero-copy ---------------------------------------------------- */

/* A receive buffer handed to swiftfunc: the DLPack tensor owns the memory and its shape. */
typedef struct {
    DLManagedTensor managed;
    int64_t shape[1];
    float data[];
} received;

static void free_received(DLManagedTensor *self) { free(self->manager_ctx); }

/* The sum over all ranks of `local` (a contiguous float32 vector), as a swiftfunc tensor. MPI reads
 * the tensor's own memory (sf_to_dlpack) and writes into a buffer that swiftfunc adopts
 * (sf_from_dlpack; freed when the last view dies). `addresses` gets both data pointers. */
static sf_tensor *allreduce_sum(sf_tensor *local, int64_t count, const void *addresses[2]) {
    DLManagedTensor *sent = NULL;
    CHECK(sf_to_dlpack(local, &sent));
    const void *send = (const char *)sent->dl_tensor.data + sent->dl_tensor.byte_offset;
    received *r = malloc(sizeof(received) + sizeof(float) * (size_t)count);
    if (!r) die("allreduce_sum", "out of memory");
    int status = MPI_Allreduce(send, r->data, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    sent->deleter(sent); /* MPI is done reading */
    if (status != MPI_SUCCESS) die("MPI_Allreduce", "failed");
    r->shape[0] = count;
    r->managed = (DLManagedTensor){
        .dl_tensor = {.data = r->data, .device = {kDLCPU, 0}, .ndim = 1, .dtype = {kDLFloat, 32, 1},
                      .shape = r->shape, .strides = NULL, .byte_offset = 0},
        .manager_ctx = r,
        .deleter = free_received};
    sf_tensor *total = NULL;
    if (sf_from_dlpack(&r->managed, &total) != SF_OK) {
        free(r); /* on failure the buffer is still ours */
        die("sf_from_dlpack", sf_last_error());
    }
    if (addresses) {
        /* What swiftfunc sees of the result: its own export of `total`. */
        DLManagedTensor *view = NULL;
        CHECK(sf_to_dlpack(total, &view));
        addresses[0] = send;
        addresses[1] = (const char *)view->dl_tensor.data + view->dl_tensor.byte_offset;
        view->deleter(view);
        if (addresses[1] != (const void *)r->data) die("allreduce_sum", "swiftfunc copied the received sum");
    }
    return total;
}

/* ---- training ------------------------------------------------------------------------------- */

static double test_accuracy(sf_tensor *const *params, const digits *test) {
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)test->n);
    for (int64_t i = 0; i < test->n; i++) rows[i] = i;
    sf_tensor *x = NULL, *y = NULL, *logits = NULL, *predicted = NULL;
    gather_rows(test, rows, test->n, &x, &y);
    CHECK(logits_of(params, x, &logits));
    const int64_t dim1 = 1;
    CHECK(sf_argmax(logits, &dim1, 1, false, &predicted));
    int64_t *labels = malloc(sizeof(int64_t) * (size_t)test->n);
    CHECK(sf_tensor_copy_to(predicted, labels, sizeof(int64_t) * (size_t)test->n));
    int64_t right = 0;
    for (int64_t i = 0; i < test->n; i++) right += labels[i] == test->y[i];
    sf_tensor_release(x), sf_tensor_release(y), sf_tensor_release(logits), sf_tensor_release(predicted);
    free(rows);
    free(labels);
    return (double)right / (double)test->n;
}

static double seconds_of(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now(void) { return seconds_of(CLOCK_MONOTONIC); }
static double cpu_now(void) { return seconds_of(CLOCK_PROCESS_CPUTIME_ID); }

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of values[1..n-1] (the first step warms up), sorting them; 0 when there are none. */
static double median_after_first(double *values, long n) {
    long skip = n > 1 ? 1 : 0;
    if (n - skip <= 0) return 0;
    qsort(values + skip, (size_t)(n - skip), sizeof *values, compare_doubles);
    return values[skip + (n - skip) / 2];
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    const char *data_path = NULL, *save_path = NULL;
    long steps_option = -1, fail_rank = -1, fail_step = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps_option = atol(argv[++i]);
        else if (!strcmp(argv[i], "--save") && i + 1 < argc) save_path = argv[++i];
        else if (!strcmp(argv[i], "--fail-rank") && i + 1 < argc) fail_rank = atol(argv[++i]);
        else if (!strcmp(argv[i], "--fail-step") && i + 1 < argc) fail_step = atol(argv[++i]);
        else if (argv[i][0] != '-' && !data_path) data_path = argv[i];
        else die("usage", "dp_sgd DIGITS_FILE [--steps K] [--save FILE] [--fail-rank R --fail-step S]");
    }
    if (!data_path) die("usage", "dp_sgd DIGITS_FILE [--steps K] [--save FILE] [--fail-rank R --fail-step S]");
    CHECK(sf_set_num_threads(1)); /* one rank per core */
    digits train, test;
    load_digits(data_path, &train, &test);

    /* The same seed on every rank: the same initial parameters (torch's Linear initialization,
     * uniform in +-1/sqrt(fan_in)) and the same noise. */
    CHECK(sf_manual_seed(SEED));
    sf_tensor *params[N_PARAMS];
    int64_t count = 0;
    for (int p = 0; p < N_PARAMS; p++) {
        sf_tensor *u = NULL;
        CHECK(sf_rand(param_shapes[p], param_ndims[p], SF_FLOAT32, &u));
        double bound = 1.0 / sqrt(p < 2 ? PIXELS : HIDDEN);
        update_scalar(&u, sf_mul, 2 * bound);
        update_scalar(&u, sf_sub, bound);
        params[p] = u;
        count += param_size(p);
    }

    sf_function *loss = NULL, *grad = NULL, *per_sample = NULL;
    CHECK(sf_function_new(sample_loss, NULL, NULL, 6, 1, &loss));
    const int32_t argnums[N_PARAMS] = {0, 1, 2, 3};
    CHECK(sf_grad(loss, argnums, N_PARAMS, false, &grad));
    const int64_t in_dims[6] = {SF_NOT_MAPPED, SF_NOT_MAPPED, SF_NOT_MAPPED, SF_NOT_MAPPED, 0, 0};
    CHECK(sf_vmap(grad, in_dims, 6, NULL, 0, 0, SF_RANDOMNESS_ERROR, &per_sample));

    const double q = BATCH / (double)train.n;
    const long steps = steps_option >= 0 ? steps_option : lround(EPOCHS / q);
    const long per_epoch = lround(1 / q);
    if (rank == 0) {
        printf("DP-SGD of a %d-%d-%d MLP (%lld parameters) on digits from C: %lld training and %lld test "
               "images, %d process(es), %ld steps\n", PIXELS, HIDDEN, CLASSES, (long long)count,
               (long long)train.n, (long long)test.n, world, steps);
        printf("  batches: Poisson sampling, rate %.4f (expected size %.0f); clip %g, noise multiplier %g, lr %g\n",
               q, BATCH, CLIP, SIGMA, LR);
    }
    uint64_t batch_state = SEED;
    int64_t *batch = malloc(sizeof(int64_t) * (size_t)train.n), *mine = malloc(sizeof(int64_t) * (size_t)train.n);
    /* Per step: seconds, of them in the Allreduce (waiting for the other ranks included), and the
     * CPU seconds of everything else (the work itself: unlike the wall time, it does not grow when
     * other programs share the cores). */
    double *times = malloc(sizeof(double) * (size_t)(steps > 0 ? steps : 1));
    double *waits = malloc(sizeof(double) * (size_t)(steps > 0 ? steps : 1));
    double *work = malloc(sizeof(double) * (size_t)(steps > 0 ? steps : 1));
    for (long step = 1; step <= steps; step++) {
        double start = now(), cpu_start = cpu_now();
        int64_t n_batch = 0, m = 0;
        for (int64_t i = 0; i < train.n; i++)
            if (uniform(&batch_state) < q) batch[n_batch++] = i;
        for (int64_t i = rank; i < n_batch; i += world) mine[m++] = batch[i];
        sf_tensor *x = NULL, *y = NULL;
        gather_rows(&train, mine, m, &x, &y);
        if (step == fail_step && rank == fail_rank) {
            /* A real library error on this rank: images of 63 pixels do not fit the first layer. */
            sf_tensor *wrong = NULL;
            CHECK(sf_slice(x, 1, 0, PIXELS - 1, 1, &wrong));
            fprintf(stderr, "dp_sgd: rank %d: --fail-rank: step %ld feeds images of 63 pixels\n", rank, step);
            sf_tensor_release(x);
            x = wrong;
        }
        sf_tensor *local = clipped_sum(per_sample, params, x, y, m, count);
        const void *addresses[2];
        double reduce_start = now(), cpu_before = cpu_now();
        sf_tensor *summed = allreduce_sum(local, count, step == 1 ? addresses : NULL);
        waits[step - 1] = now() - reduce_start;
        double cpu_after = cpu_now();
        if (step == 1 && rank == 0)
            printf("  zero-copy: MPI reads the tensor at %p and swiftfunc views MPI's result at %p ok\n",
                   addresses[0], addresses[1]);

        /* (sum + sigma * CLIP * noise) / BATCH, the same noise on every rank; then each parameter
         * takes its slice of that vector. */
        sf_tensor *noise = NULL;
        CHECK(sf_randn(&count, 1, SF_FLOAT32, &noise));
        update_scalar(&noise, sf_mul, SIGMA * CLIP);
        update(&noise, sf_add, summed);
        update_scalar(&noise, sf_mul, LR / BATCH);
        int64_t offset = 0;
        for (int p = 0; p < N_PARAMS; p++) {
            sf_tensor *slice = NULL, *step_p = NULL;
            CHECK(sf_slice(noise, 0, offset, offset + param_size(p), 1, &slice));
            CHECK(sf_reshape(slice, param_shapes[p], param_ndims[p], &step_p));
            update(&params[p], sf_sub, step_p);
            sf_tensor_release(slice);
            sf_tensor_release(step_p);
            offset += param_size(p);
        }
        sf_tensor_release(noise), sf_tensor_release(summed), sf_tensor_release(local);
        sf_tensor_release(x), sf_tensor_release(y);
        times[step - 1] = now() - start;
        work[step - 1] = cpu_before - cpu_start + cpu_now() - cpu_after;
        if (rank == 0 && (step % per_epoch == 0 || step == steps))
            printf("  step %4ld (epoch %5.1f): test accuracy %.3f\n", step, (double)step * q,
                   test_accuracy(params, &test));
    }

    /* Data parallelism must leave every rank with the same parameters. */
    float *flat = malloc(sizeof(float) * (size_t)count), *reference = malloc(sizeof(float) * (size_t)count);
    for (int p = 0, offset = 0; p < N_PARAMS; offset += (int)param_size(p), p++)
        CHECK(sf_tensor_copy_to(params[p], flat + offset, sizeof(float) * (size_t)param_size(p)));
    memcpy(reference, flat, sizeof(float) * (size_t)count);
    MPI_Bcast(reference, (int)count, MPI_FLOAT, 0, MPI_COMM_WORLD);
    double worst = 0;
    for (int64_t i = 0; i < count; i++) worst = fmax(worst, fabs((double)flat[i] - (double)reference[i]));
    if (worst > 1e-6) die("parameters", "this rank's parameters differ from rank 0's");
    if (rank == 0) {
        printf("  every rank holds rank 0's parameters ok\n");
        printf("  test accuracy %.3f (epsilon: as dp_sgd_mpi.py's for the same rate, noise multiplier and steps)\n",
               test_accuracy(params, &test));
        printf("  median step %.2f ms on %d process(es): Allreduce %.2f ms, work %.2f ms of CPU\n",
               1e3 * median_after_first(times, steps), world, 1e3 * median_after_first(waits, steps),
               1e3 * median_after_first(work, steps));
        if (save_path) {
            FILE *out = fopen(save_path, "wb");
            if (!out || fwrite(flat, sizeof(float), (size_t)count, out) != (size_t)count || fclose(out) != 0)
                die(save_path, "cannot write the parameters");
        }
    }

    for (int p = 0; p < N_PARAMS; p++) sf_tensor_release(params[p]);
    sf_function_release(per_sample), sf_function_release(grad), sf_function_release(loss);
    free(flat), free(reference), free(times), free(waits), free(work), free(batch), free(mine);
    free(train.x), free(train.y), free(test.x), free(test.y);
    MPI_Finalize();
    return 0;
}
