// Tests of swiftfunc.hpp: every wrapper function against values computed here (loops or closed
// forms), the exception path through callbacks, reference counting (sf_tensor_retain/release and
// sf_function_retain/release are interposed below and counted per handle), and the lifetime of
// callback contexts. Built twice by `make cpp-wrapper-test`, once with AddressSanitizer/LSan.
// Prints "N passed, M failed" and exits 1 on a failure.
#include "swiftfunc.hpp"

#include <dlfcn.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

// MARK: - Counting retain/release by interposition

// The executable's definitions take precedence over the library's for every call the wrapper
// makes; each forwards to the library's own function found with RTLD_NEXT.
namespace {
std::mutex ledger_lock;
std::map<const void*, long>& ledger() {  // per handle: retains - releases made through the wrapper
    static std::map<const void*, long> net;
    return net;
}
std::atomic<long> tensor_retains{0}, tensor_releases{0}, function_retains{0}, function_releases{0};

template <class F> F real_symbol(const char* name) {
    void* symbol = dlsym(RTLD_NEXT, name);
    if (!symbol) {
        std::fprintf(stderr, "dlsym(%s) failed\n", name);
        std::abort();
    }
    F f;
    std::memcpy(&f, &symbol, sizeof f);
    return f;
}
void note(const void* handle, long delta) {
    std::lock_guard<std::mutex> guard(ledger_lock);
    ledger()[handle] += delta;
}
long net_of(const void* handle) {
    std::lock_guard<std::mutex> guard(ledger_lock);
    auto it = ledger().find(handle);
    return it == ledger().end() ? 0 : it->second;
}
}  // namespace

extern "C" {
void sf_tensor_retain(sf_tensor* t) {
    static auto real = real_symbol<void (*)(sf_tensor*)>("sf_tensor_retain");
    if (t) tensor_retains++, note(t, +1);
    real(t);
}
void sf_tensor_release(sf_tensor* t) {
    static auto real = real_symbol<void (*)(sf_tensor*)>("sf_tensor_release");
    if (t) tensor_releases++, note(t, -1);
    real(t);
}
void sf_function_retain(sf_function* f) {
    static auto real = real_symbol<void (*)(sf_function*)>("sf_function_retain");
    if (f) function_retains++, note(f, +1);
    real(f);
}
void sf_function_release(sf_function* f) {
    static auto real = real_symbol<void (*)(sf_function*)>("sf_function_release");
    if (f) function_releases++, note(f, -1);
    real(f);
}
}

// MARK: - A small test harness

namespace {
int check_failures = 0;

struct TestCase {
    const char* name;
    void (*body)();
};
std::vector<TestCase>& registry() {
    static std::vector<TestCase> tests;
    return tests;
}
struct Registrar {
    Registrar(const char* name, void (*body)()) { registry().push_back({name, body}); }
};

#define TEST(name)                                     \
    static void test_##name();                         \
    static Registrar registrar_##name(#name, test_##name); \
    static void test_##name()

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            check_failures++;                                                                \
            std::fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);  \
        }                                                                                    \
    } while (0)

// Checks that `expr` throws sf::Error with `status` and a message containing `fragment`.
#define CHECK_ERROR(expr, status_, fragment)                                                            \
    do {                                                                                                \
        try {                                                                                           \
            (void)(expr);                                                                               \
            check_failures++;                                                                           \
            std::fprintf(stderr, "  %s:%d: %s did not throw\n", __FILE__, __LINE__, #expr);             \
        } catch (const sf::Error& e) {                                                                  \
            if (e.status() != (status_) || std::string(e.what()).find(fragment) == std::string::npos) { \
                check_failures++;                                                                       \
                std::fprintf(stderr, "  %s:%d: %s threw status %d \"%s\", expected %d \"...%s...\"\n",   \
                             __FILE__, __LINE__, #expr, (int)e.status(), e.what(), (int)(status_),      \
                             fragment);                                                                 \
            }                                                                                           \
        }                                                                                               \
    } while (0)

void check_values_at(const char* file, int line, const char* what, const sf::Tensor& t,
                     const std::vector<double>& expected, double tol) {
    std::vector<double> got = t.to_vector<double>();
    bool ok = got.size() == expected.size();
    for (size_t i = 0; ok && i < got.size(); i++) {
        double scale = std::fmax(1.0, std::fabs(expected[i]));
        ok = (std::isnan(expected[i]) && std::isnan(got[i])) || std::fabs(got[i] - expected[i]) <= tol * scale;
    }
    if (!ok) {
        check_failures++;
        std::fprintf(stderr, "  %s:%d: %s: got [", file, line, what);
        for (double v : got) std::fprintf(stderr, " %.9g", v);
        std::fprintf(stderr, " ], expected [");
        for (double v : expected) std::fprintf(stderr, " %.9g", v);
        std::fprintf(stderr, " ]\n");
    }
}
#define CHECK_VALUES(t, ...) check_values_at(__FILE__, __LINE__, #t, (t), __VA_ARGS__, 1e-6)
#define CHECK_CLOSE(t, expected, tol) check_values_at(__FILE__, __LINE__, #t, (t), (expected), (tol))

using V = std::vector<double>;

// Applies `f` to every element of `x` (as doubles).
template <class F> V map_values(const V& x, F f) {
    V out;
    for (double v : x) out.push_back(f(v));
    return out;
}
}  // namespace

// MARK: - Versions and errors

TEST(version_and_abi) {
    sf::check_abi();
    CHECK(sf::abi_version() == SF_ABI_VERSION);
    std::string expected = std::to_string(SF_VERSION_MAJOR) + "." + std::to_string(SF_VERSION_MINOR) + "." +
                           std::to_string(SF_VERSION_PATCH);
    CHECK(sf::version() == expected);
}

TEST(thread_count) {
    int saved = sf::get_num_threads();
    sf::set_num_threads(1);
    CHECK(sf::get_num_threads() == 1);
    CHECK_ERROR(sf::set_num_threads(0), SF_ERR_INVALID_ARGUMENT, "sf_set_num_threads: the thread count must be between 1 and 1024");
    CHECK(sf::get_num_threads() == 1);
    sf::set_num_threads(saved);
    CHECK(sf::get_num_threads() == saved);
}

TEST(error_carries_status_and_message) {
    sf::Tensor a = sf::ones({3, 4}), b = sf::ones({5, 6});
    CHECK_ERROR(sf::matmul(a, b), SF_ERR_SHAPE, "sf_matmul: shapes [3, 4] and [5, 6]");
    CHECK_ERROR(sf::add(a, sf::Tensor()), SF_ERR_INVALID_ARGUMENT, "sf_add");
    CHECK_ERROR(sf::sum(a, {0, 0}), SF_ERR_INVALID_ARGUMENT, "sf_sum");
    try {
        sf::matmul(a, b);
    } catch (const std::runtime_error& e) {  // sf::Error is a std::runtime_error
        CHECK(std::string(e.what()) == sf_last_error());
    }
}

// MARK: - Tensor basics

TEST(from_data_and_accessors) {
    sf::Tensor t = sf::from_data({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {2, 3});
    CHECK(t.defined());
    CHECK(t.ndim() == 2);
    CHECK(t.shape() == (sf::Shape{2, 3}));
    CHECK(t.size(0) == 2 && t.size(-1) == 3);
    CHECK_ERROR(t.size(2), SF_ERR_INVALID_ARGUMENT, "out of range");
    CHECK(t.dtype() == sf::kFloat32);
    CHECK(t.numel() == 6);
    CHECK(t.to_vector<float>() == (std::vector<float>{1, 2, 3, 4, 5, 6}));
    CHECK(t.to_vector<int64_t>() == (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));

    std::vector<double> d = {0.5, -1.5};
    CHECK(sf::from_data(d).dtype() == sf::kFloat64);
    CHECK(sf::from_data(d).shape() == (sf::Shape{2}));
    CHECK(sf::from_data(d.data(), {2, 1}).shape() == (sf::Shape{2, 1}));
    CHECK(sf::from_data(std::vector<int32_t>{7, 8}).dtype() == sf::kInt32);
    CHECK(sf::from_data({int64_t{9}}, {}).ndim() == 0);
    CHECK(sf::from_data({int64_t{9}}, {}).item<int64_t>() == 9);

    sf::Tensor b = sf::from_data(std::vector<bool>{true, false, true}, {3});
    CHECK(b.dtype() == sf::kBool);
    CHECK(b.to_vector<bool>() == (std::vector<bool>{true, false, true}));
    CHECK(sf::from_data({false, true}).to_vector<double>() == (V{0, 1}));

    sf::Tensor empty = sf::from_data(std::vector<float>{}, {0, 3});
    CHECK(empty.numel() == 0 && empty.shape() == (sf::Shape{0, 3}));
    CHECK(empty.to_vector<float>().empty());

    CHECK_ERROR(sf::from_data(std::vector<double>{1, 2, 3}, {2, 2}), SF_ERR_SHAPE, "3 values for shape [2, 2]");
    CHECK_ERROR(sf::from_data(std::vector<bool>{true}, {2}), SF_ERR_SHAPE, "1 values for shape [2]");
    CHECK_ERROR(sf::from_data(std::vector<double>{1}, {-1}), SF_ERR_SHAPE, "sf_tensor_from_data");
    CHECK_ERROR(sf::ones({2}).item(), SF_ERR_SHAPE, "2 elements");
    CHECK_ERROR(sf::Tensor().numel(), SF_ERR_INVALID_ARGUMENT, "");
    CHECK(sf::scalar(2.5).item() == 2.5);
    CHECK(sf::scalar(2.5).ndim() == 0);
}

TEST(to_and_cast) {
    sf::Tensor x = sf::from_data({1.7, -1.7, 0.0});
    CHECK(x.to(sf::kInt32).to_vector<int32_t>() == (std::vector<int32_t>{1, -1, 0}));
    CHECK(sf::cast(x, sf::kBool).to_vector<bool>() == (std::vector<bool>{true, true, false}));
    CHECK(sf::cast(x, sf::kFloat32).dtype() == sf::kFloat32);
    CHECK(x.to(sf::kFloat64).get() == x.get());  // same dtype: the input itself
}

TEST(int_list_forms) {
    CHECK(sf::zeros(3).shape() == (sf::Shape{3}));
    CHECK(sf::zeros({}).ndim() == 0);
    CHECK(sf::zeros(std::vector<int64_t>{2, 1}).shape() == (sf::Shape{2, 1}));
    sf::Tensor x = sf::ones({2, 3});
    CHECK(sf::sum(x, 1).shape() == (sf::Shape{2}));
    CHECK(sf::sum(x, {0, 1}).ndim() == 0);
    CHECK(sf::reshape(x, x.shape()).shape() == x.shape());
}

// MARK: - Reference counting

TEST(tensor_copy_move_release_counts) {
    sf::Tensor a = sf::ones({2});
    const void* h = a.get();
    const long base = net_of(h);  // handles are addresses and may be reused: compare with a baseline
    long r0 = tensor_retains, l0 = tensor_releases;
    {
        sf::Tensor b = a;  // retain
        CHECK(b.get() == h);
        CHECK(tensor_retains == r0 + 1);
        sf::Tensor c = std::move(b);  // no count change
        CHECK(!b.defined() && c.get() == h);
        CHECK(tensor_retains == r0 + 1 && tensor_releases == l0);
        sf::Tensor d;
        d = c;  // retain
        d = c;  // same handle: nothing
        CHECK(tensor_retains == r0 + 2 && tensor_releases == l0);
        sf::Tensor& alias = d;
        d = alias;  // self-assignment: nothing
        d = std::move(alias);
        CHECK(d.get() == h);
        CHECK(tensor_retains == r0 + 2 && tensor_releases == l0);
    }  // c and d released
    CHECK(tensor_releases == l0 + 2);
    CHECK(net_of(h) == base);

    sf::Tensor other = sf::zeros({2});
    const void* g = other.get();
    const long base_g = net_of(g);
    r0 = tensor_retains, l0 = tensor_releases;
    {
        sf::Tensor e = a;
        e = other;  // retains other, releases a
        CHECK(tensor_retains == r0 + 2 && tensor_releases == l0 + 1);
        e = sf::Tensor();  // releases other
    }
    CHECK(net_of(h) == base && net_of(g) == base_g);

    sf_tensor* raw = a.release();  // ownership leaves the wrapper
    CHECK(!a.defined() && raw == h);
    CHECK(net_of(h) == base);
    sf::Tensor back = sf::Tensor::adopt(raw);
    CHECK(net_of(h) == base);
    sf::Tensor borrowed = sf::Tensor::borrow(raw);
    CHECK(net_of(h) == base + 1);
}

TEST(function_copy_move_release_counts) {
    sf::Function f = [](const sf::Tensor& x) { return x * 2.0; };
    const void* h = f.get();
    const long base = net_of(h);
    long r0 = function_retains, l0 = function_releases;
    {
        sf::Function g = f;
        sf::Function k = std::move(g);
        CHECK(!g.defined() && k.get() == h);
        sf::Function m;
        m = k;
        m = f;
        CHECK(function_retains == r0 + 2 && function_releases == l0);
    }
    CHECK(function_releases == l0 + 2);
    CHECK(net_of(h) == base);
    sf_function* raw = f.release();
    sf::Function back = sf::Function::adopt(raw);
    CHECK(back.get() == h && back.n_inputs() == 1 && back.n_outputs() == 1);
}

TEST(callback_inputs_are_borrowed_once) {
    const void* seen = nullptr;
    long at_entry = 0;
    sf::Function f = [&](const sf::Tensor& a) {
        seen = a.get();
        at_entry = net_of(seen);
        return a + 1.0;
    };
    sf::Tensor x = sf::from_data({1.0, 2.0});
    const long before = net_of(x.get());
    std::vector<sf::Tensor> out = f(x);
    CHECK_VALUES(out[0], V{2, 3});
    CHECK(seen == x.get());            // a direct call passes the caller's handle
    CHECK(at_entry == before + 1);     // retained once by the trampoline for the call ...
    CHECK(net_of(x.get()) == before);  // ... and released once when the callable returned
    out = f({x});
    CHECK(net_of(x.get()) == before);
}

// Counts live copies of a callable, to see that the library frees callback contexts.
struct Counted {
    static int alive;
    Counted() { alive++; }
    Counted(const Counted&) { alive++; }
    Counted(Counted&&) noexcept { alive++; }
    ~Counted() { alive--; }
    sf::Tensor operator()(const sf::Tensor& x) const { return sf::sum(x * x); }
};
int Counted::alive = 0;

TEST(callback_context_freed_with_last_reference) {
    CHECK(Counted::alive == 0);
    {
        sf::Function f{Counted()};
        CHECK(Counted::alive == 1);
        sf::Function g = sf::grad(f);
        sf::Function v = sf::vmap(g);
        f = sf::Function();
        CHECK(Counted::alive == 1);  // held by grad(f) and vmap(grad(f))
        g = sf::Function();
        CHECK(Counted::alive == 1);
    }
    CHECK(Counted::alive == 0);
    {
        // A failing sf_function_new (n_outputs 0) still frees the context.
        try {
            sf::Function bad([](const std::vector<sf::Tensor>&) { return std::vector<sf::Tensor>{}; }, 1, 0);
            CHECK(false);
        } catch (const sf::Error& e) {
            CHECK(e.status() == SF_ERR_INVALID_ARGUMENT);
        }
        auto counted_vector = [c = Counted()](const std::vector<sf::Tensor>& in) { return c(in[0]); };
        CHECK(Counted::alive == 1);
        CHECK_ERROR(sf::Function(counted_vector, 1, 0), SF_ERR_INVALID_ARGUMENT, "sf_function_new");
        CHECK(Counted::alive == 1);  // only the local lambda's copy is left
    }
    CHECK(Counted::alive == 0);
}

// MARK: - Functions made from callables

TEST(function_from_callables) {
    sf::Tensor x = sf::from_data({1.0, 2.0}), y = sf::from_data({10.0, 20.0});

    sf::Function unary = [](const sf::Tensor& a) { return a * 3.0; };
    CHECK(unary.n_inputs() == 1 && unary.n_outputs() == 1);
    CHECK_VALUES(unary(x)[0], V{3, 6});
    CHECK_VALUES(unary({x})[0], V{3, 6});

    sf::Function binary = [](const sf::Tensor& a, const sf::Tensor& b) { return std::make_tuple(a + b, a - b); };
    CHECK(binary.n_inputs() == 2 && binary.n_outputs() == 2);
    std::vector<sf::Tensor> out = binary(x, y);
    CHECK_VALUES(out[0], V{11, 22});
    CHECK_VALUES(out[1], V{-9, -18});

    sf::Function arr = [](sf::Tensor a) { return std::array<sf::Tensor, 3>{a, -a, a * a}; };
    CHECK(arr.n_outputs() == 3);
    CHECK_VALUES(arr(x)[2], V{1, 4});

    sf::Function pair = [](const sf::Tensor& a, const sf::Tensor&, const sf::Tensor& c) { return std::make_pair(a, c); };
    CHECK(pair.n_inputs() == 3 && pair.n_outputs() == 2);

    std::function<sf::Tensor(const sf::Tensor&)> stdfn = [](const sf::Tensor& a) { return sf::exp(a); };
    sf::Function from_std = stdfn;
    CHECK_CLOSE(from_std(x)[0], (V{std::exp(1.0), std::exp(2.0)}), 1e-12);

    sf::Function vec([](const std::vector<sf::Tensor>& in) { return std::vector<sf::Tensor>{in[0] * in[1], in[1]}; },
                     2, 2);
    CHECK(vec.n_inputs() == 2 && vec.n_outputs() == 2);
    CHECK_VALUES(vec(x, y)[0], V{10, 40});

    std::function<std::vector<sf::Tensor>(const std::vector<sf::Tensor>&)> stdvec =
        [](const std::vector<sf::Tensor>& in) { return std::vector<sf::Tensor>{sf::sum(in[0])}; };
    sf::Function from_stdvec(stdvec, 1);
    CHECK_VALUES(from_stdvec(x)[0], V{3});

    sf::Function single_from_vector([](const std::vector<sf::Tensor>& in) { return in[0] + in[0]; }, 1);
    CHECK_VALUES(single_from_vector(x)[0], V{2, 4});

    auto move_only = std::make_unique<double>(5.0);
    sf::Function owns([p = std::move(move_only)](const sf::Tensor& a) { return a * *p; });
    CHECK_VALUES(owns(x)[0], V{5, 10});

    int calls = 0;
    sf::Function mutating = [calls](const sf::Tensor& a) mutable { return a * static_cast<double>(++calls); };
    CHECK_VALUES(mutating(x)[0], V{1, 2});
    CHECK_VALUES(mutating(x)[0], V{2, 4});
    (void)calls;

    sf::Function nullary = [] { return sf::ones({2}); };
    CHECK(nullary.n_inputs() == 0);
    CHECK_VALUES(nullary()[0], V{1, 1});

    CHECK_ERROR(unary(x, y), SF_ERR_INVALID_ARGUMENT, "sf_call");
    CHECK_ERROR(sf::Function()(x), SF_ERR_INVALID_ARGUMENT, "");
}

// MARK: - Exceptions through callbacks

struct CustomError : std::runtime_error {
    explicit CustomError(int code) : std::runtime_error("custom error " + std::to_string(code)), code(code) {}
    int code;
};

TEST(exception_from_callback_is_rethrown) {
    sf::Tensor x = sf::from_data({1.0, 2.0});
    sf::Function f = [](const sf::Tensor&) -> sf::Tensor { throw CustomError(42); };
    try {
        f(x);
        CHECK(false);
    } catch (const CustomError& e) {
        CHECK(e.code == 42);
        CHECK(std::string(e.what()) == "custom error 42");
        CHECK(std::string(sf_last_error()).find("custom error 42") != std::string::npos);
    }
    // Nothing is left pending: the next calls behave normally.
    sf::Function ok = [](const sf::Tensor& a) { return a; };
    CHECK_VALUES(ok(x)[0], V{1, 2});

    sf::Function not_std = [](const sf::Tensor&) -> sf::Tensor { throw 7; };
    try {
        not_std(x);
        CHECK(false);
    } catch (int value) {
        CHECK(value == 7);
    }
}

TEST(library_error_inside_callback_keeps_its_status) {
    sf::Tensor x = sf::ones({3});
    sf::Function f = [](const sf::Tensor& a) { return sf::matmul(a, sf::ones({2, 2})); };
    CHECK_ERROR(f(x), SF_ERR_SHAPE, "sf_matmul: shapes [3] and [2, 2]");
}

TEST(bad_callback_results_are_errors) {
    sf::Tensor x = sf::ones({3});
    sf::Function wrong_count([](const std::vector<sf::Tensor>& in) { return std::vector<sf::Tensor>{in[0], in[0]}; },
                             1, 1);
    CHECK_ERROR(wrong_count(x), SF_ERR_CALLBACK, "sf::Function: the callable returned 2 outputs, expected 1");
    sf::Function undefined = [](const sf::Tensor&) { return sf::Tensor(); };
    CHECK_ERROR(undefined(x), SF_ERR_CALLBACK, "sf::Function: the callable returned an undefined sf::Tensor (result 0)");
}

TEST(nested_callbacks_rethrow_the_innermost_exception) {
    sf::Tensor x = sf::ones({2});
    sf::Function inner = [](const sf::Tensor&) -> sf::Tensor { throw std::out_of_range("inner"); };
    sf::Function outer = [inner](const sf::Tensor& a) { return inner(a)[0] + 1.0; };
    sf::Function outermost = [outer](const sf::Tensor& a) { return outer(a)[0] * 2.0; };
    try {
        outermost(x);
        CHECK(false);
    } catch (const std::out_of_range& e) {
        CHECK(std::string(e.what()) == "inner");
    }
    // An exception caught inside a callback does not leak out later.
    sf::Function handled = [inner](const sf::Tensor& a) {
        try {
            inner(a);
        } catch (const std::out_of_range&) {
        }
        return a * 3.0;
    };
    CHECK_VALUES(handled(x)[0], V{3, 3});
}

static int failing_c_callback(void*, sf_tensor* const*, size_t, sf_tensor**, size_t) {
    sf_set_error("the C callback failed");
    return 1;
}

TEST(c_callback_failure_is_an_error) {
    sf_function* raw = nullptr;
    CHECK(sf_function_new(failing_c_callback, nullptr, nullptr, 1, 1, &raw) == SF_OK);
    sf::Function f = sf::Function::adopt(raw);
    CHECK_ERROR(f(sf::ones({1})), SF_ERR_CALLBACK, "the C callback failed");
}

TEST(exception_through_transforms) {
    sf::Tensor x = sf::ones({3});
    sf::Function f = [](const sf::Tensor&) -> sf::Tensor { throw CustomError(1); };
    auto expect_custom = [&](const char* what, auto&& call) {
        try {
            call();
            check_failures++;
            std::fprintf(stderr, "  %s did not throw\n", what);
        } catch (const CustomError& e) {
            CHECK(e.code == 1);
        }
    };
    expect_custom("grad", [&] { sf::grad(f)(x); });
    expect_custom("grad_and_value", [&] { sf::grad_and_value(f)(x); });
    expect_custom("vmap", [&] { sf::vmap(f)(sf::ones({2, 3})); });
    expect_custom("jacrev", [&] { sf::jacrev(f)(x); });
    expect_custom("jacfwd", [&] { sf::jacfwd(f)(x); });
    expect_custom("hessian", [&] { sf::hessian(f)(x); });
    expect_custom("vjp", [&] { sf::vjp(f, {x}); });
    expect_custom("jvp", [&] { sf::jvp(f, {x}, {x}); });
    expect_custom("linearize", [&] { sf::linearize(f, {x}); });
    expect_custom("vmap(grad)", [&] { sf::vmap(sf::grad(f))(sf::ones({2, 3})); });
}

// MARK: - Creation and random numbers

TEST(creation) {
    CHECK_VALUES(sf::zeros({2, 2}), V{0, 0, 0, 0});
    CHECK(sf::zeros({2}).dtype() == sf::kFloat32);
    CHECK(sf::zeros({2}, sf::kInt64).dtype() == sf::kInt64);
    CHECK_VALUES(sf::ones({3}, sf::kFloat64), V{1, 1, 1});
    CHECK_VALUES(sf::full({2}, 2.5), V{2.5, 2.5});
    CHECK(sf::full({2}, 2.5, sf::kInt32).to_vector<int32_t>() == (std::vector<int32_t>{2, 2}));
    CHECK_VALUES(sf::arange(4), V{0, 1, 2, 3});
    CHECK_VALUES(sf::arange(1, 2, 0.25), V{1, 1.25, 1.5, 1.75});
    CHECK(sf::arange(3, sf::kInt64).dtype() == sf::kInt64);
    CHECK_VALUES(sf::arange(5, 0, -2, sf::kFloat64), V{5, 3, 1});
    CHECK_ERROR(sf::arange(0, 1, 0), SF_ERR_INVALID_ARGUMENT, "sf_arange");
    CHECK_VALUES(sf::eye(2), V{1, 0, 0, 1});
    CHECK(sf::eye(2, 3).shape() == (sf::Shape{2, 3}));
    CHECK_VALUES(sf::eye(2, 3, sf::kFloat64), V{1, 0, 0, 0, 1, 0});
    CHECK_VALUES(sf::linspace(0, 1, 5), V{0, 0.25, 0.5, 0.75, 1});
    CHECK(sf::linspace(0, 1, 3, sf::kFloat64).dtype() == sf::kFloat64);
}

TEST(random) {
    sf::manual_seed(123);
    V a = sf::rand({100}).to_vector<double>();
    sf::manual_seed(123);
    V b = sf::rand({100}).to_vector<double>();
    CHECK(a == b);
    for (double v : a) CHECK(v >= 0 && v < 1);
    sf::Tensor n = sf::randn({1000}, sf::kFloat64);
    CHECK(n.dtype() == sf::kFloat64);
    double mean = sf::mean(n).item();
    CHECK(std::fabs(mean) < 0.2);
    CHECK_ERROR(sf::rand({2}, sf::kInt32), SF_ERR_DTYPE, "sf_rand");

    V p = sf::bernoulli(sf::full({200}, 0.5)).to_vector<double>();
    double ones = 0;
    for (double v : p) {
        CHECK(v == 0 || v == 1);
        ones += v;
    }
    CHECK(ones > 50 && ones < 150);
    CHECK_VALUES(sf::bernoulli(sf::ones({3})), V{1, 1, 1});

    sf::Tensor x = sf::ones({400});
    V d = sf::dropout(x).to_vector<double>();  // p = 0.5, training
    for (double v : d) CHECK(v == 0 || v == 2);
    CHECK_VALUES(sf::dropout(x, 0.3, false), V(400, 1.0));
    CHECK_VALUES(sf::dropout(x, 0.0), V(400, 1.0));
    CHECK_ERROR(sf::dropout(x, 1.5), SF_ERR_INVALID_ARGUMENT, "sf_dropout");
}

// MARK: - Elementwise ops

TEST(unary_ops) {
    V xs = {-1.5, -0.5, 0.25, 0.5, 2.5};
    V pos = {0.25, 0.5, 1.0, 2.0, 4.0};
    sf::Tensor x = sf::from_data(xs), p = sf::from_data(pos);
    CHECK_CLOSE(sf::neg(x), map_values(xs, [](double v) { return -v; }), 1e-12);
    CHECK_CLOSE(-x, map_values(xs, [](double v) { return -v; }), 1e-12);
    CHECK_CLOSE(sf::exp(x), map_values(xs, [](double v) { return std::exp(v); }), 1e-12);
    CHECK_CLOSE(sf::log(p), map_values(pos, [](double v) { return std::log(v); }), 1e-12);
    CHECK_CLOSE(sf::log1p(p), map_values(pos, [](double v) { return std::log1p(v); }), 1e-12);
    CHECK_CLOSE(sf::expm1(x), map_values(xs, [](double v) { return std::expm1(v); }), 1e-12);
    CHECK_CLOSE(sf::sin(x), map_values(xs, [](double v) { return std::sin(v); }), 1e-12);
    CHECK_CLOSE(sf::cos(x), map_values(xs, [](double v) { return std::cos(v); }), 1e-12);
    CHECK_CLOSE(sf::tan(x), map_values(xs, [](double v) { return std::tan(v); }), 1e-12);
    CHECK_CLOSE(sf::tanh(x), map_values(xs, [](double v) { return std::tanh(v); }), 1e-12);
    CHECK_CLOSE(sf::sigmoid(x), map_values(xs, [](double v) { return 1 / (1 + std::exp(-v)); }), 1e-12);
    CHECK_CLOSE(sf::sqrt(p), map_values(pos, [](double v) { return std::sqrt(v); }), 1e-12);
    CHECK_CLOSE(sf::rsqrt(p), map_values(pos, [](double v) { return 1 / std::sqrt(v); }), 1e-12);
    CHECK_CLOSE(sf::abs(x), map_values(xs, [](double v) { return std::fabs(v); }), 1e-12);
    CHECK_VALUES(sf::sign(x), V{-1, -1, 1, 1, 1});
    CHECK_VALUES(sf::relu(x), V{0, 0, 0.25, 0.5, 2.5});
    CHECK_VALUES(sf::floor(x), V{-2, -1, 0, 0, 2});
    CHECK_VALUES(sf::ceil(x), V{-1, -0, 1, 1, 3});
    CHECK_VALUES(sf::round(x), V{-2, -0, 0, 0, 2});  // half to even
    CHECK_CLOSE(sf::silu(x), map_values(xs, [](double v) { return v / (1 + std::exp(-v)); }), 1e-12);
    CHECK_CLOSE(sf::gelu(x), map_values(xs, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }),
                1e-9);
    const double k = std::sqrt(2 / std::acos(-1.0));
    CHECK_CLOSE(sf::gelu(x, "tanh"),
                map_values(xs, [k](double v) { return 0.5 * v * (1 + std::tanh(k * (v + 0.044715 * v * v * v))); }),
                1e-9);
    CHECK_ERROR(sf::gelu(x, "fast"), SF_ERR_INVALID_ARGUMENT, "approximate");
    CHECK_ERROR(sf::neg(sf::from_data({true})), SF_ERR_DTYPE, "sf_neg");
    CHECK(sf::exp(sf::from_data(std::vector<int32_t>{0})).dtype() == sf::kFloat32);
}

TEST(binary_ops_and_operators) {
    sf::Tensor a = sf::from_data({1.0, 2.0, 3.0}), b = sf::from_data({4.0, 0.5, 3.0});
    CHECK_VALUES(sf::add(a, b), V{5, 2.5, 6});
    CHECK_VALUES(sf::sub(a, b), V{-3, 1.5, 0});
    CHECK_VALUES(sf::mul(a, b), V{4, 1, 9});
    CHECK_VALUES(sf::div(a, b), V{0.25, 4, 1});
    CHECK_VALUES(sf::pow(a, b), V{1, std::sqrt(2.0), 27});
    CHECK_VALUES(sf::maximum(a, b), V{4, 2, 3});
    CHECK_VALUES(sf::minimum(a, b), V{1, 0.5, 3});
    CHECK_CLOSE(sf::atan2(a, b), (V{std::atan2(1, 4), std::atan2(2, 0.5), std::atan2(3, 3)}), 1e-12);
    CHECK_VALUES(a + b, V{5, 2.5, 6});
    CHECK_VALUES(a - b, V{-3, 1.5, 0});
    CHECK_VALUES(a * b, V{4, 1, 9});
    CHECK_VALUES(a / b, V{0.25, 4, 1});
    CHECK_VALUES(a + 1.0, V{2, 3, 4});
    CHECK_VALUES(1.0 - a, V{0, -1, -2});
    CHECK_VALUES(2.0 * a, V{2, 4, 6});
    CHECK_VALUES(a / 2.0, V{0.5, 1, 1.5});
    CHECK_VALUES(6.0 / a, V{6, 3, 2});
    CHECK_VALUES(sf::pow(a, 2.0), V{1, 4, 9});
    CHECK_VALUES(sf::pow(2.0, a), V{2, 4, 8});
    CHECK_VALUES(sf::maximum(a, 2.0), V{2, 2, 3});
    CHECK_VALUES(sf::minimum(2.0, a), V{1, 2, 2});
    CHECK(sf::add(a, 1.0).dtype() == sf::kFloat64);                            // weak scalar
    CHECK(sf::add(sf::ones({1}), 1.0).dtype() == sf::kFloat32);                 // weak scalar
    CHECK(sf::add(sf::ones({1}, sf::kInt32), 1.0).dtype() == sf::kFloat32);      // int with a scalar
    CHECK(sf::add(sf::ones({1}), sf::ones({1}, sf::kFloat64)).dtype() == sf::kFloat64);
    CHECK_VALUES(sf::add(sf::ones({2, 1}), sf::ones({3})), V(6, 2.0));        // broadcasting
    CHECK(sf::add(sf::ones({2, 1}), sf::ones({3})).shape() == (sf::Shape{2, 3}));
}

TEST(comparisons_and_where) {
    sf::Tensor a = sf::from_data({1.0, 2.0, 3.0}), b = sf::from_data({3.0, 2.0, 1.0});
    sf::Tensor lt = a < b;
    CHECK(lt.dtype() == sf::kBool);
    CHECK(lt.to_vector<bool>() == (std::vector<bool>{true, false, false}));
    CHECK((a <= b).to_vector<bool>() == (std::vector<bool>{true, true, false}));
    CHECK((a > b).to_vector<bool>() == (std::vector<bool>{false, false, true}));
    CHECK((a >= b).to_vector<bool>() == (std::vector<bool>{false, true, true}));
    CHECK((a == b).to_vector<bool>() == (std::vector<bool>{false, true, false}));
    CHECK((a != b).to_vector<bool>() == (std::vector<bool>{true, false, true}));
    CHECK((a < 2.0).to_vector<bool>() == (std::vector<bool>{true, false, false}));
    CHECK((2.0 < a).to_vector<bool>() == (std::vector<bool>{false, false, true}));
    CHECK((a == 3.0).to_vector<bool>() == (std::vector<bool>{false, false, true}));
    CHECK((3.0 != a).to_vector<bool>() == (std::vector<bool>{true, true, false}));
    CHECK((a >= 2.0).to_vector<bool>() == sf::ge(a, 2.0).to_vector<bool>());
    CHECK(sf::lt(a, b).to_vector<bool>() == lt.to_vector<bool>());
    CHECK(sf::le(1.0, a).to_vector<bool>() == (std::vector<bool>{true, true, true}));
    CHECK(sf::gt(a, b).to_vector<bool>() == (a > b).to_vector<bool>());
    CHECK(sf::eq(a, b).to_vector<bool>() == (a == b).to_vector<bool>());
    CHECK(sf::ne(a, b).to_vector<bool>() == (a != b).to_vector<bool>());
    CHECK_VALUES(sf::where(a < b, a, b), V{1, 2, 1});
    CHECK_VALUES(sf::where(a < b, a, 0.0), V{1, 0, 0});
    CHECK_VALUES(sf::where(a < b, -1.0, b), V{-1, 2, 1});
    CHECK(sf::where(a < b, a, 0.0).dtype() == sf::kFloat64);
    CHECK_ERROR(sf::where(a, a, b), SF_ERR_DTYPE, "sf_where");
}

// MARK: - Reductions

TEST(reductions) {
    sf::Tensor x = sf::from_data({1.0, 5.0, 3.0, 4.0, 2.0, 6.0}, {2, 3});
    CHECK_VALUES(sf::sum(x), V{21});
    CHECK_VALUES(sf::sum(x, 0), V{5, 7, 9});
    CHECK(sf::sum(x, 1, true).shape() == (sf::Shape{2, 1}));
    CHECK_VALUES(sf::prod(x, 1), V{15, 48});
    CHECK_VALUES(sf::amax(x, 1), V{5, 6});
    CHECK_VALUES(sf::amin(x), V{1});
    CHECK(sf::argmax(x, 1).to_vector<int64_t>() == (std::vector<int64_t>{1, 2}));
    CHECK(sf::argmin(x, 0).to_vector<int64_t>() == (std::vector<int64_t>{0, 1, 0}));
    CHECK(sf::argmax(x).item<int64_t>() == 5);
    CHECK_VALUES(sf::mean(x, -1), V{3, 4});
    // var with correction 1 and 0; std
    CHECK_VALUES(sf::var(x, 1), V{4, 4});
    CHECK_VALUES(sf::var(x, 1, 0), V{8.0 / 3, 8.0 / 3});
    CHECK_VALUES(sf::std(x, 1), V{2, 2});
    CHECK(sf::std(x, {}, 1, true).shape() == (sf::Shape{1, 1}));
    double l0 = std::log(std::exp(1.0) + std::exp(5.0) + std::exp(3.0));
    double l1 = std::log(std::exp(4.0) + std::exp(2.0) + std::exp(6.0));
    CHECK_CLOSE(sf::logsumexp(x, 1), (V{l0, l1}), 1e-12);
    sf::Tensor s = sf::softmax(x, 1);
    CHECK_CLOSE(s, (V{std::exp(1 - l0), std::exp(5 - l0), std::exp(3 - l0), std::exp(4 - l1), std::exp(2 - l1),
                      std::exp(6 - l1)}),
                1e-12);
    CHECK_CLOSE(sf::log_softmax(x, -1), (V{1 - l0, 5 - l0, 3 - l0, 4 - l1, 2 - l1, 6 - l1}), 1e-12);
    CHECK(sf::sum(sf::ones({2}, sf::kInt32)).dtype() == sf::kInt64);
    CHECK_ERROR(sf::mean(sf::ones({2}, sf::kInt32)), SF_ERR_DTYPE, "sf_mean");
}

// MARK: - Movement

TEST(movement) {
    sf::Tensor x = sf::arange(6, sf::kFloat64);
    sf::Tensor m = sf::reshape(x, {2, 3});
    CHECK(m.shape() == (sf::Shape{2, 3}));
    CHECK(sf::reshape(x, {3, -1}).shape() == (sf::Shape{3, 2}));
    CHECK_VALUES(sf::permute(m, {1, 0}), V{0, 3, 1, 4, 2, 5});
    CHECK_VALUES(sf::transpose(m, 0, -1), V{0, 3, 1, 4, 2, 5});
    sf::Tensor e = sf::expand(sf::from_data({1.0, 2.0}, {2, 1}), {2, 3});
    CHECK_VALUES(e, V{1, 1, 1, 2, 2, 2});
    CHECK(sf::expand(sf::ones({1, 3}), {4, -1}).shape() == (sf::Shape{4, 3}));
    CHECK(sf::squeeze(sf::ones({1, 2, 1})).shape() == (sf::Shape{2}));
    CHECK(sf::squeeze(sf::ones({1, 2, 1}), 0).shape() == (sf::Shape{2, 1}));
    CHECK(sf::unsqueeze(m, 1).shape() == (sf::Shape{2, 1, 3}));
    CHECK_VALUES(sf::slice(x, 0, 1, 5, 2), V{1, 3});
    CHECK_VALUES(sf::slice(x, 0, -2), V{4, 5});
    CHECK_VALUES(sf::slice(m, 1, 1), V{1, 2, 4, 5});
    CHECK_VALUES(sf::slice(x), V{0, 1, 2, 3, 4, 5});
    CHECK_VALUES(sf::flip(m, 1), V{2, 1, 0, 5, 4, 3});
    CHECK_VALUES(sf::flip(m, {0, 1}), V{5, 4, 3, 2, 1, 0});
    CHECK_VALUES(sf::pad(sf::from_data({1.0, 2.0}), {1, 2}), V{0, 1, 2, 0, 0});
    CHECK_VALUES(sf::pad(sf::from_data({1.0, 2.0}), {1, 0}, 9), V{9, 1, 2});
    CHECK_VALUES(sf::cat({m, m}, 1), V{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5});
    CHECK(sf::cat({m, m}).shape() == (sf::Shape{4, 3}));
    CHECK(sf::stack({x, x}).shape() == (sf::Shape{2, 6}));
    CHECK(sf::stack({x, x}, 1).shape() == (sf::Shape{6, 2}));
    CHECK_VALUES(sf::stack({sf::scalar(1), sf::scalar(2)}), V{1, 2});
    CHECK_ERROR(sf::cat({}), SF_ERR_INVALID_ARGUMENT, "sf_cat");
    CHECK_VALUES(sf::detach(x), V{0, 1, 2, 3, 4, 5});
}

// MARK: - Contraction, convolution, indexing

TEST(contraction) {
    sf::Tensor a = sf::from_data({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    sf::Tensor b = sf::from_data({1.0, 0.0, 2.0, 1.0, 0.0, 3.0}, {3, 2});
    CHECK_VALUES(sf::matmul(a, b), V{5, 11, 14, 23});
    CHECK_VALUES(sf::matmul(sf::from_data({1.0, 2.0}), sf::from_data({3.0, 4.0})), V{11});
    sf::Tensor w = sf::from_data({1.0, 0.0, -1.0, 2.0, 1.0, 0.0}, {2, 3});
    CHECK_VALUES(sf::linear(a, w), V{-2, 4, -2, 13});
    CHECK_VALUES(sf::linear(a, w, sf::from_data({10.0, 20.0})), V{8, 24, 8, 33});
    CHECK_ERROR(sf::matmul(sf::ones({2}, sf::kInt32), sf::ones({2}, sf::kInt32)), SF_ERR_DTYPE, "sf_matmul");
}

TEST(linalg) {
    // A = [[4, 1], [1, 3]]: det 11, A^-1 = [[3, -1], [-1, 4]] / 11, eigenvalues (7 ∓ √5) / 2.
    sf::Tensor a = sf::from_data({4.0, 1.0, 1.0, 3.0}, {2, 2});
    sf::Tensor b = sf::from_data({1.0, 2.0});
    CHECK_CLOSE(sf::linalg::solve(a, b), (V{1.0 / 11, 7.0 / 11}), 1e-12);
    CHECK_CLOSE(sf::linalg::inv(a), (V{3.0 / 11, -1.0 / 11, -1.0 / 11, 4.0 / 11}), 1e-12);
    CHECK_CLOSE(sf::linalg::det(a), V{11}, 1e-12);
    auto [sign, logabsdet] = sf::linalg::slogdet(a);
    CHECK_VALUES(sign, V{1});
    CHECK_CLOSE(logabsdet, V{std::log(11.0)}, 1e-12);
    CHECK_CLOSE(sf::linalg::logdet(a), V{std::log(11.0)}, 1e-12);
    sf::Tensor l = sf::linalg::cholesky(a);
    CHECK_CLOSE(l, (V{2, 0, 0.5, std::sqrt(2.75)}), 1e-12);
    CHECK_CLOSE(sf::linalg::cholesky(a, true), (V{2, 0.5, 0, std::sqrt(2.75)}), 1e-12);
    sf::Tensor column = sf::from_data({1.0, 2.0}, {2, 1});
    CHECK_CLOSE(sf::linalg::cholesky_solve(column, l), (V{1.0 / 11, 7.0 / 11}), 1e-12);
    CHECK_CLOSE(sf::linalg::solve_triangular(a, column, false), (V{0.25, 1.75 / 3}), 1e-12);
    auto [values, vectors] = sf::linalg::eigh(a);
    CHECK_CLOSE(values, (V{(7 - std::sqrt(5.0)) / 2, (7 + std::sqrt(5.0)) / 2}), 1e-12);
    CHECK(vectors.shape() == (sf::Shape{2, 2}));
    CHECK_CLOSE(sf::linalg::eigvalsh(a, true), (V{(7 - std::sqrt(5.0)) / 2, (7 + std::sqrt(5.0)) / 2}), 1e-12);
    // d log det A / dA = A^-T.
    sf::Function logdet = [](const sf::Tensor& m) { return sf::linalg::logdet(m); };
    CHECK_CLOSE(sf::grad(logdet)(a).at(0), (V{3.0 / 11, -1.0 / 11, -1.0 / 11, 4.0 / 11}), 1e-12);
    CHECK_ERROR(sf::linalg::cholesky(sf::from_data({1.0, 2.0, 2.0, 1.0}, {2, 2})), SF_ERR_INVALID_ARGUMENT,
                "sf_linalg_cholesky: the input is not positive-definite");
    CHECK_ERROR(sf::linalg::inv(sf::zeros({2, 2}, sf::kFloat64)), SF_ERR_INVALID_ARGUMENT, "is singular");
}

TEST(conv2d) {
    // x: 1x1x3x3 = 0..8, w: 1x1x2x2 = [[1, 2], [3, 4]].
    sf::Tensor x = sf::reshape(sf::arange(9, sf::kFloat64), {1, 1, 3, 3});
    sf::Tensor w = sf::from_data({1.0, 2.0, 3.0, 4.0}, {1, 1, 2, 2});
    auto reference = [](int64_t stride, int64_t pad, double bias) {
        V out;
        int64_t n = (3 + 2 * pad - 2) / stride + 1;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = bias;
                for (int64_t a = 0; a < 2; a++)
                    for (int64_t b = 0; b < 2; b++) {
                        int64_t r = i * stride + a - pad, c = j * stride + b - pad;
                        if (r >= 0 && r < 3 && c >= 0 && c < 3) s += static_cast<double>(r * 3 + c) * (1 + a * 2 + b);
                    }
                out.push_back(s);
            }
        return out;
    };
    CHECK_VALUES(sf::conv2d(x, w), reference(1, 0, 0));
    CHECK(sf::conv2d(x, w).shape() == (sf::Shape{1, 1, 2, 2}));
    CHECK_VALUES(sf::conv2d(x, w, sf::from_data({0.5}), 2, 1), reference(2, 1, 0.5));
    CHECK(sf::conv2d(x, w, sf::Tensor(), {1, 2}, {1, 0}).shape() == (sf::Shape{1, 1, 4, 1}));
    CHECK(sf::conv2d(x, w, sf::Tensor(), 1, 0, 2).shape() == (sf::Shape{1, 1, 1, 1}));
    sf::Tensor x2 = sf::ones({1, 2, 3, 3}), w2 = sf::ones({2, 1, 2, 2});
    CHECK_VALUES(sf::conv2d(x2, w2, sf::Tensor(), 1, 0, 1, 2), V(8, 4.0));
    CHECK_ERROR(sf::conv2d(x, w, sf::Tensor(), 0), SF_ERR_INVALID_ARGUMENT, "sf_conv2d");
}

TEST(conv_transpose2d) {
    // x: 1x1x2x2 = 0..3, w: 1x1x2x2 = [[1, 2], [3, 4]]; each input element adds itself times w
    // at its position times the stride (written out by hand).
    sf::Tensor x = sf::reshape(sf::arange(4, sf::kFloat64), {1, 1, 2, 2});
    sf::Tensor w = sf::from_data({1.0, 2.0, 3.0, 4.0}, {1, 1, 2, 2});
    CHECK_VALUES(sf::conv_transpose2d(x, w), (V{0, 1, 2, 2, 10, 10, 6, 17, 12}));
    CHECK(sf::conv_transpose2d(x, w).shape() == (sf::Shape{1, 1, 3, 3}));
    CHECK_VALUES(sf::conv_transpose2d(x, w, sf::from_data({0.5}), 2),
                 (V{0.5, 0.5, 1.5, 2.5, 0.5, 0.5, 3.5, 4.5, 2.5, 4.5, 3.5, 6.5, 6.5, 8.5, 9.5, 12.5}));
    CHECK(sf::conv_transpose2d(x, w, sf::Tensor(), 2, 0, 1).shape() == (sf::Shape{1, 1, 5, 5}));
    CHECK(sf::conv_transpose2d(x, w, sf::Tensor(), {2, 1}, {1, 0}, {1, 0}).shape() == (sf::Shape{1, 1, 3, 3}));
    CHECK(sf::conv_transpose2d(x, w, sf::Tensor(), 1, 0, 0, 1, 2).shape() == (sf::Shape{1, 1, 4, 4}));
    sf::Tensor x2 = sf::ones({1, 2, 2, 2}), w2 = sf::ones({2, 1, 2, 2});
    CHECK_VALUES(sf::conv_transpose2d(x2, w2, sf::Tensor(), 1, 0, 0, 2),
                 (V{1, 2, 1, 2, 4, 2, 1, 2, 1, 1, 2, 1, 2, 4, 2, 1, 2, 1}));
    CHECK_ERROR(sf::conv_transpose2d(x, w, sf::Tensor(), 1, 0, 1), SF_ERR_INVALID_ARGUMENT,
                "sf_conv_transpose2d: output padding must be smaller than either stride or dilation");
}

TEST(indexing) {
    sf::Tensor x = sf::from_data({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    sf::Tensor idx = sf::from_data(std::vector<int64_t>{2, 0, 1, 1}, {2, 2});
    CHECK_VALUES(sf::gather(x, 1, idx), V{3, 1, 5, 5});
    CHECK_VALUES(sf::index_select(x, 1, sf::from_data(std::vector<int32_t>{2, -3})), V{3, 1, 6, 4});
    sf::Tensor src = sf::from_data({10.0, 20.0, 30.0, 40.0}, {2, 2});
    CHECK_VALUES(sf::scatter_add(x, 1, idx, src), V{21, 2, 13, 4, 75, 6});
    CHECK_ERROR(sf::index_select(x, 0, sf::from_data(std::vector<int64_t>{5})), SF_ERR_INVALID_ARGUMENT,
                "sf_index_select");
}

// MARK: - Tensor ops

TEST(tensor_ops) {
    sf::Tensor x = sf::from_data({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {2, 3});
    sf::Tensor y = sf::from_data({1.0, 0.0, 2.0, 1.0, 0.0, 3.0}, {3, 2});
    CHECK_VALUES(sf::einsum("ij,jk->ik", {x, y}), V{5, 11, 14, 23});
    CHECK_VALUES(sf::einsum("ij->j", {x}), V{5, 7, 9});
    CHECK_ERROR(sf::einsum("ij,jk", {x, x}), SF_ERR_SHAPE, "sf_einsum: subscript 'j'");
    CHECK_VALUES(sf::diagonal(x, 1), V{2, 6});
    CHECK_VALUES(sf::diag(sf::from_data({1.0, 2.0})), V{1, 0, 0, 2});
    CHECK(sf::diag_embed(x).shape() == (sf::Shape{2, 3, 3}));
    CHECK_VALUES(sf::trace(sf::reshape(sf::arange(9, sf::kFloat64), {3, 3})), V{12});
    CHECK_VALUES(sf::tril(x), V{1, 0, 0, 4, 5, 0});
    CHECK_VALUES(sf::triu(x, 1), V{0, 2, 3, 0, 0, 6});
    CHECK_VALUES(sf::cumsum(x, 1), V{1, 3, 6, 4, 9, 15});
    CHECK_VALUES(sf::cumprod(x, 0), V{1, 2, 3, 4, 10, 18});
    auto [values, indices] = sf::sort(sf::from_data({3.0, 1.0, 2.0}), -1, true);
    CHECK_VALUES(values, V{3, 2, 1});
    CHECK(indices.to_vector<int64_t>() == (std::vector<int64_t>{0, 2, 1}));
    CHECK(sf::argsort(sf::from_data({3.0, 1.0, 2.0})).to_vector<int64_t>() == (std::vector<int64_t>{1, 2, 0}));
    auto top = sf::topk(x, 2, 1);
    CHECK_VALUES(top.first, V{3, 2, 6, 5});
    CHECK_ERROR(sf::topk(x, 4, 1), SF_ERR_INVALID_ARGUMENT, "sf_topk");
    CHECK_VALUES(sf::vector_norm(sf::from_data({3.0, -4.0})), V{5});
    CHECK_VALUES(sf::vector_norm(x, 1, {1}), V{6, 15});
    CHECK_VALUES(sf::matrix_norm(x, "inf"), V{15});
    CHECK_CLOSE(sf::matrix_norm(x, "nuc"), V{10.280901636369208}, 1e-12);
    CHECK_CLOSE(sf::linalg::svdvals(x), (V{9.508032000695724, 0.7728696356734843}), 1e-10);
    CHECK_CLOSE(sf::linalg::svd(x, false).S, (V{9.508032000695724, 0.7728696356734843}), 1e-10);
    CHECK(sf::linalg::pinv(x).shape() == (sf::Shape{3, 2}));
    auto qr = sf::linalg::qr(x, "complete");
    CHECK(qr.first.shape() == (sf::Shape{2, 2}) && qr.second.shape() == (sf::Shape{2, 3}));
    CHECK_ERROR(sf::linalg::qr(x, "full"), SF_ERR_INVALID_ARGUMENT, "sf_linalg_qr");
    sf::Tensor sq = sf::from_data({2.0, 1.0, 1.0, 3.0}, {2, 2});
    sf::Tensor rhs = sf::from_data({3.0, 4.0}, {2, 1});
    CHECK_CLOSE(sf::linalg::lstsq(sq, rhs).first, (V{1.0, 1.0}), 1e-12);
    auto lu = sf::linalg::lu_factor(sq);
    CHECK_CLOSE(sf::linalg::lu_solve(lu.first, lu.second, rhs), (V{1.0, 1.0}), 1e-12);
    CHECK_VALUES(sf::roll(x, {1}, {1}), V{3, 1, 2, 6, 4, 5});
    CHECK_VALUES(sf::repeat(sf::from_data({1.0, 2.0}), {1, 2}), V{1, 2, 1, 2});
    CHECK(sf::tile(x, {2}).shape() == (sf::Shape{2, 6}));
}

// MARK: - Neural-network composites

TEST(nn_composites) {
    sf::Tensor x = sf::from_data({1.0, 2.0, 4.0, -1.0, 0.0, 7.0}, {2, 3});
    auto layer_norm_ref = [](V row, double eps) {
        double mean = (row[0] + row[1] + row[2]) / 3, var = 0;
        for (double v : row) var += (v - mean) * (v - mean) / 3;
        for (double& v : row) v = (v - mean) / std::sqrt(var + eps);
        return row;
    };
    V r0 = layer_norm_ref({1, 2, 4}, 1e-5), r1 = layer_norm_ref({-1, 0, 7}, 1e-5);
    V expected = r0;
    expected.insert(expected.end(), r1.begin(), r1.end());
    CHECK_CLOSE(sf::layer_norm(x, {3}), expected, 1e-9);
    V affine;
    for (size_t i = 0; i < 6; i++) affine.push_back(expected[i] * 2 + static_cast<double>(i % 3));
    CHECK_CLOSE(sf::layer_norm(x, {3}, sf::full({3}, 2, sf::kFloat64), sf::from_data({0.0, 1.0, 2.0})), affine, 1e-9);
    V r2 = layer_norm_ref({1, 2, 4}, 0.5);
    CHECK_CLOSE(sf::slice(sf::layer_norm(x, {3}, sf::Tensor(), sf::Tensor(), 0.5), 0, 0, 1), r2, 1e-9);

    sf::Tensor target = sf::from_data(std::vector<int64_t>{2, 0});
    double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(4.0)) - 4;
    double l1 = std::log(std::exp(-1.0) + std::exp(0.0) + std::exp(7.0)) + 1;
    CHECK_CLOSE(sf::cross_entropy(x, target), (V{(l0 + l1) / 2}), 1e-12);
    CHECK_CLOSE(sf::cross_entropy(x, target, sf::Reduction::Sum), (V{l0 + l1}), 1e-12);
    CHECK_CLOSE(sf::cross_entropy(x, target, sf::Reduction::None), (V{l0, l1}), 1e-12);

    sf::Tensor y = sf::from_data({0.0, 2.0, 2.0, -1.0, 1.0, 5.0}, {2, 3});
    CHECK_VALUES(sf::mse_loss(x, y), V{(1 + 0 + 4 + 0 + 1 + 4) / 6.0});
    CHECK_VALUES(sf::mse_loss(x, y, sf::Reduction::Sum), V{10});
    CHECK_VALUES(sf::mse_loss(x, y, sf::Reduction::None), V{1, 0, 4, 0, 1, 4});
}

TEST(nn_functional) {
    // max_pool2d of one 4x4 plane, 2x2: values and positions, and its gradient to the maxima.
    sf::Tensor x = sf::from_data({1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 9.0, 8.0, -1.0, 0.5, 7.0, 6.0, 2.5, -3.0, 6.5, 7.5},
                                 {1, 4, 4});
    CHECK_VALUES(sf::max_pool2d(x, 2, 2), V{5, 9, 2.5, 7.5});
    auto [values, indices] = sf::max_pool2d_with_indices(x, 2, 2);
    CHECK_VALUES(values, V{5, 9, 2.5, 7.5});
    CHECK_VALUES(sf::cast(indices, sf::kFloat64), V{1, 6, 12, 15});
    sf::Function pooled_sum = sf::grad([](const sf::Tensor& t) { return sf::sum(sf::max_pool2d(t, 2, 2)); });
    CHECK_VALUES(pooled_sum(x).at(0), V{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1});
    CHECK_VALUES(sf::avg_pool2d(x, 2, 2), V{3.25, 4.75, -0.25, 6.75});
    CHECK_VALUES(sf::adaptive_avg_pool2d(x, 1), V{3.625});
    CHECK_ERROR(sf::max_pool2d(x, 2, 2, 2), SF_ERR_INVALID_ARGUMENT, "sf_max_pool2d: pad should be at most half");

    // Losses and activations against their formulas.
    sf::Tensor logp = sf::from_data({-0.5, -1.0, -2.0, -0.1, -3.0, -0.7}, {2, 3});
    sf::Tensor target = sf::from_data(std::vector<int64_t>{2, 0});
    CHECK_VALUES(sf::nll_loss(logp, target), V{(2.0 + 0.1) / 2});
    CHECK_VALUES(sf::nll_loss(logp, target, sf::Tensor(), 0), V{2.0});
    sf::Tensor a = sf::from_data({0.0, 2.0, -1.0}), b = sf::from_data({0.5, 0.0, -1.0});
    CHECK_VALUES(sf::l1_loss(a, b, sf::Reduction::Sum), V{2.5});
    CHECK_VALUES(sf::huber_loss(a, b, sf::Reduction::None, 1.0), V{0.125, 1.5, 0});
    CHECK_VALUES(sf::leaky_relu(a, 0.5), V{0, 2, -0.5});
    CHECK_VALUES(sf::elu(a), V{0, 2, std::expm1(-1.0)});
    CHECK_VALUES(sf::softplus(a), V{std::log(2.0), std::log1p(std::exp(2.0)), std::log1p(std::exp(-1.0))});

    // batch_norm returns the updated running statistics.
    sf::Tensor batch = sf::from_data({1.0, 2.0, 3.0, 6.0}, {2, 2});
    auto bn = sf::batch_norm(batch, sf::zeros({2}, sf::kFloat64), sf::ones({2}, sf::kFloat64), sf::Tensor(), sf::Tensor(),
                             true, 0.5, 0.0);
    CHECK_VALUES(bn.output, V{-1, -1, 1, 1});
    CHECK_VALUES(bn.running_mean, V{1, 2});
    CHECK_VALUES(bn.running_var, V{0.5 + 0.5 * 2, 0.5 + 0.5 * 8});

    // Causal attention with one key per query is that key's value.
    sf::Tensor q = sf::from_data({1.0, 0.0}, {1, 2}), kv = sf::from_data({0.3, -0.2}, {1, 2});
    sf::AttentionOptions causal;
    causal.is_causal = true;
    CHECK_VALUES(sf::scaled_dot_product_attention(q, kv, kv, causal), V{0.3, -0.2});
}

// MARK: - DLPack

TEST(dlpack_round_trips) {
    sf::Tensor x = sf::from_data({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
    {
        sf::DLPackTensor d = sf::to_dlpack(x);
        CHECK(d && d->dl_tensor.ndim == 2 && d->dl_tensor.shape[1] == 2);
        CHECK(d->dl_tensor.dtype.code == kDLFloat && d->dl_tensor.dtype.bits == 32);
        CHECK(d->dl_tensor.device.device_type == kDLCPU);
        CHECK(static_cast<const float*>(d->dl_tensor.data)[3] == 4.0f);
        sf::Tensor back = sf::from_dlpack(std::move(d));
        CHECK(!d);  // the library owns it now
        CHECK_VALUES(back, V{1, 2, 3, 4});
        CHECK(back.shape() == (sf::Shape{2, 2}));
    }
    {
        sf::DLPackTensorVersioned d = sf::to_dlpack_versioned(x);
        CHECK(d && d->version.major == 1 && d->dl_tensor.ndim == 2);
        sf::Tensor back = sf::from_dlpack(std::move(d));
        CHECK(!d);
        CHECK_VALUES(back, V{1, 2, 3, 4});
    }
    {
        // Dropped without import: the unique_ptr calls the deleter (LSan would report a leak).
        sf::DLPackTensor d = sf::to_dlpack(x);
        sf::DLPackTensorVersioned v = sf::to_dlpack_versioned(x);
    }
    {
        // Raw pointers follow the C rules.
        DLManagedTensor* raw = sf::to_dlpack(x).release();
        sf::Tensor back = sf::from_dlpack(raw);
        CHECK_VALUES(back, V{1, 2, 3, 4});
        DLManagedTensorVersioned* rawv = sf::to_dlpack_versioned(x).release();
        CHECK_VALUES(sf::from_dlpack(rawv), V{1, 2, 3, 4});
    }
}

namespace {
int deleter_calls = 0;
double cuda_data[2] = {1, 2};
int64_t cuda_shape[1] = {2};
void count_deleter(DLManagedTensor*) { deleter_calls++; }
}  // namespace

TEST(dlpack_failed_import_keeps_ownership) {
    auto* m = new DLManagedTensor{};
    m->dl_tensor.data = cuda_data;
    m->dl_tensor.device = {kDLCUDA, 0};
    m->dl_tensor.ndim = 1;
    m->dl_tensor.dtype = {kDLFloat, 64, 1};
    m->dl_tensor.shape = cuda_shape;
    m->deleter = count_deleter;
    deleter_calls = 0;
    {
        sf::DLPackTensor owned(m);
        CHECK_ERROR(sf::from_dlpack(std::move(owned)), SF_ERR_DEVICE, "sf_from_dlpack");
        CHECK(owned.get() == m);  // still ours
        CHECK(deleter_calls == 0);
    }
    CHECK(deleter_calls == 1);  // deleted by the unique_ptr
    delete m;
}

// MARK: - Transforms

// f(x, y) = sum(sin(x) * y)
static sf::Tensor sin_dot(const sf::Tensor& x, const sf::Tensor& y) { return sf::sum(sf::sin(x) * y); }

TEST(grad_and_grad_and_value) {
    V xs = {0.1, 0.7, -1.2}, ys = {2.0, -1.0, 0.5};
    sf::Tensor x = sf::from_data(xs), y = sf::from_data(ys);
    sf::Function f = sin_dot;
    V dx, dy;
    double value = 0;
    for (size_t i = 0; i < 3; i++) {
        dx.push_back(std::cos(xs[i]) * ys[i]);
        dy.push_back(std::sin(xs[i]));
        value += std::sin(xs[i]) * ys[i];
    }
    CHECK_CLOSE(sf::grad(f)(x, y)[0], dx, 1e-12);
    std::vector<sf::Tensor> both = sf::grad(f, {{0, 1}})(x, y);
    CHECK(both.size() == 2);
    CHECK_CLOSE(both[0], dx, 1e-12);
    CHECK_CLOSE(both[1], dy, 1e-12);
    CHECK_CLOSE(sf::grad(f, {{1}})(x, y)[0], dy, 1e-12);

    sf::Function with_aux = [](const sf::Tensor& a) { return std::make_tuple(sf::sum(a * a), a + 1.0); };
    std::vector<sf::Tensor> ga = sf::grad(with_aux, {{0}, true})(x);
    CHECK(ga.size() == 2);
    CHECK_CLOSE(ga[0], map_values(xs, [](double v) { return 2 * v; }), 1e-12);
    CHECK_CLOSE(ga[1], map_values(xs, [](double v) { return v + 1; }), 1e-12);

    std::vector<sf::Tensor> gv = sf::grad_and_value(f)(x, y);
    CHECK(gv.size() == 2);
    CHECK_CLOSE(gv[0], dx, 1e-12);
    CHECK_CLOSE(gv[1], V{value}, 1e-12);
    std::vector<sf::Tensor> gva = sf::grad_and_value(with_aux, {{0}, true})(x);
    CHECK(gva.size() == 3);
    CHECK_CLOSE(gva[2], map_values(xs, [](double v) { return v + 1; }), 1e-12);

    CHECK_ERROR(sf::grad([](const sf::Tensor& a) { return a; })(x), SF_ERR_SHAPE, "sf_grad");
    CHECK_ERROR(sf::grad(f, {{5}}), SF_ERR_INVALID_ARGUMENT, "sf_grad");
}

TEST(vjp_jvp_linearize) {
    V xs = {0.3, -0.8};
    sf::Tensor x = sf::from_data(xs);
    sf::Function f = [](const sf::Tensor& a) { return sf::sin(a) * a; };  // f' = cos(a) a + sin(a)
    V fx = map_values(xs, [](double v) { return std::sin(v) * v; });
    V dfx = map_values(xs, [](double v) { return std::cos(v) * v + std::sin(v); });

    auto [outputs, pullback] = sf::vjp(f, {x});
    CHECK_CLOSE(outputs[0], fx, 1e-12);
    std::vector<sf::Tensor> ct = pullback(sf::from_data({1.0, 2.0}));
    CHECK_CLOSE(ct[0], (V{dfx[0], 2 * dfx[1]}), 1e-12);

    sf::JvpResult j = sf::jvp(f, {x}, {sf::from_data({1.0, -1.0})});
    CHECK_CLOSE(j.outputs[0], fx, 1e-12);
    CHECK_CLOSE(j.tangents[0], (V{dfx[0], -dfx[1]}), 1e-12);
    CHECK_ERROR(sf::jvp(f, {x}, {}), SF_ERR_INVALID_ARGUMENT, "1 primals but 0 tangents");

    sf::LinearizeResult l = sf::linearize(f, {x});
    CHECK_CLOSE(l.outputs[0], fx, 1e-12);
    CHECK_CLOSE(l.jvp_fn(sf::from_data({2.0, 0.0}))[0], (V{2 * dfx[0], 0}), 1e-12);
}

TEST(jit_matches_eager_and_traces_once_per_signature) {
    V xs = {0.1, 0.7, -1.2}, ys = {2.0, -1.0, 0.5};
    sf::Tensor x = sf::from_data(xs), y = sf::from_data(ys);
    int calls = 0;
    sf::Function f = [&calls](const sf::Tensor& a, const sf::Tensor& b) {
        calls++;
        return sf::sum(sf::sin(a) * b);
    };
    sf::Function jitted = sf::jit(sf::grad(f));
    V dx;
    for (size_t i = 0; i < 3; i++) dx.push_back(std::cos(xs[i]) * ys[i]);
    CHECK(sf::jit_trace_count(jitted) == 0);
    CHECK_CLOSE(jitted(x, y)[0], dx, 1e-12);
    CHECK_CLOSE(jitted(x, y)[0], dx, 1e-12);
    CHECK(calls == 1);
    CHECK(sf::jit_trace_count(jitted) == 1);
    CHECK_CLOSE(sf::grad(sf::jit(f))(x, y)[0], dx, 1e-12);
    CHECK_ERROR(sf::jit_trace_count(f), SF_ERR_INVALID_ARGUMENT, "was not made by sf_jit");
}

TEST(export_and_load_function) {
    V xs = {0.1, 0.7, -1.2}, ys = {2.0, -1.0, 0.5};
    sf::Tensor x = sf::from_data(xs), y = sf::from_data(ys), w = sf::from_data({0.5, -2.0, 3.0});
    // w is captured: it is stored in the exported bytes as a constant.
    sf::Function f = [w](const sf::Tensor& a, const sf::Tensor& b) { return sf::sum(sf::sin(a) * b * w); };
    sf::Function gradient = sf::grad(f);
    std::vector<unsigned char> bytes = sf::export_function(gradient, {x, y});
    sf::Function loaded = sf::load_function(bytes);
    V dx;
    for (size_t i = 0; i < 3; i++) dx.push_back(std::cos(xs[i]) * ys[i] * (i == 0 ? 0.5 : i == 1 ? -2.0 : 3.0));
    CHECK_CLOSE(loaded(x, y)[0], dx, 1e-12);
    CHECK_CLOSE(sf::jit(loaded)(x, y)[0], dx, 1e-12);
    const std::string path = "build/test_wrapper_export.sfx";
    sf::export_function(f, {x, y}, path);
    CHECK_CLOSE(sf::grad(sf::load_function(path))(x, y)[0], dx, 1e-12);
    std::remove(path.c_str());
    CHECK_ERROR(loaded(sf::from_data({1.0, 2.0}), y), SF_ERR_SHAPE, "expected float64[3]");
    bytes[bytes.size() / 2] ^= 1;
    CHECK_ERROR(sf::load_function(bytes), SF_ERR_INVALID_ARGUMENT, "checksum");
}

TEST(jacobians_and_hessian) {
    sf::Tensor a = sf::from_data({1.0, 2.0, 0.0, -1.0, 3.0, 0.5}, {3, 2});
    sf::Function f = [a](const sf::Tensor& x) { return sf::tanh(sf::matmul(a, x)); };
    V xs = {0.2, -0.4};
    sf::Tensor x = sf::from_data(xs);
    V av = a.to_vector<double>(), jac;
    for (size_t i = 0; i < 3; i++) {
        double z = av[2 * i] * xs[0] + av[2 * i + 1] * xs[1];
        double t = std::tanh(z);
        for (size_t j = 0; j < 2; j++) jac.push_back((1 - t * t) * av[2 * i + j]);
    }
    sf::Tensor jr = sf::jacrev(f)(x)[0];
    CHECK(jr.shape() == (sf::Shape{3, 2}));
    CHECK_CLOSE(jr, jac, 1e-12);
    CHECK_CLOSE(sf::jacrev(f, {{0}, false, 1})(x)[0], jac, 1e-12);
    CHECK_CLOSE(sf::jacfwd(f)(x)[0], jac, 1e-12);
    CHECK_CLOSE(sf::jacfwd(f, {{0}, false, sf::Randomness::Same})(x)[0], jac, 1e-12);

    sf::Function with_aux = [](const sf::Tensor& v) { return std::make_pair(v * 2.0, sf::sum(v)); };
    std::vector<sf::Tensor> jaux = sf::jacrev(with_aux, {{0}, true})(x);
    CHECK(jaux.size() == 2);
    CHECK_CLOSE(jaux[0], (V{2, 0, 0, 2}), 1e-12);
    CHECK_CLOSE(jaux[1], (V{xs[0] + xs[1]}), 1e-12);
    CHECK_CLOSE(sf::jacfwd(with_aux, {{0}, true})(x)[0], (V{2, 0, 0, 2}), 1e-12);

    // Hessian of sum(x^3) + x0 * x1: diag(6x) + [[0, 1], [1, 0]].
    sf::Function g = [](const sf::Tensor& v) {
        return sf::sum(sf::pow(v, 3.0)) + sf::sum(sf::slice(v, 0, 0, 1) * sf::slice(v, 0, 1, 2));
    };
    sf::Tensor h = sf::hessian(g)(x)[0];
    CHECK(h.shape() == (sf::Shape{2, 2}));
    CHECK_CLOSE(h, (V{6 * xs[0], 1, 1, 6 * xs[1]}), 1e-10);
    sf::Function g2 = [](const sf::Tensor& u, const sf::Tensor& v) { return sf::sum(u * u * v); };
    std::vector<sf::Tensor> hs = sf::hessian(g2, {{0, 1}})(sf::from_data({1.0}), sf::from_data({3.0}));
    CHECK(hs.size() == 4);
    CHECK_CLOSE(hs[0], V{6}, 1e-12);  // d2/du2 = 2v
    CHECK_CLOSE(hs[1], V{2}, 1e-12);  // d2/dudv = 2u
    CHECK_CLOSE(hs[2], V{2}, 1e-12);
    CHECK_CLOSE(hs[3], V{0}, 1e-12);
}

TEST(vmap) {
    sf::Tensor xs = sf::from_data({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, {3, 2});
    sf::Tensor w = sf::from_data({10.0, 100.0});
    sf::Function dot = [](const sf::Tensor& x, const sf::Tensor& v) { return sf::sum(x * v); };
    CHECK_VALUES(sf::vmap(dot, {{0, sf::not_mapped}})(xs, w)[0], V{210, 430, 650});
    CHECK_VALUES(sf::vmap(dot, {{1, sf::not_mapped}})(xs, sf::from_data({1.0, 0.0, -1.0}))[0], V{-4, -4});
    CHECK_VALUES(sf::vmap(dot, {{0, sf::not_mapped}, {}, 1})(xs, w)[0], V{210, 430, 650});  // chunked
    sf::Function twice = [](const sf::Tensor& x) { return x * 2.0; };
    sf::Tensor moved = sf::vmap(twice, {{0}, {1}})(xs)[0];
    CHECK(moved.shape() == (sf::Shape{2, 3}));
    CHECK_VALUES(moved, V{2, 6, 10, 4, 8, 12});
    CHECK_VALUES(sf::vmap(twice)(xs)[0], V{2, 4, 6, 8, 10, 12});

    sf::Function noisy = [](const sf::Tensor& x) { return x + sf::rand({2}, sf::kFloat64); };
    CHECK_ERROR(sf::vmap(noisy)(xs), SF_ERR_TRANSFORM, "randomness");
    V same = sf::vmap(noisy, {{}, {}, 0, sf::Randomness::Same})(sf::zeros({3, 2}, sf::kFloat64))[0].to_vector<double>();
    CHECK(same[0] == same[2] && same[2] == same[4]);
    V different =
        sf::vmap(noisy, {{}, {}, 0, sf::Randomness::Different})(sf::zeros({3, 2}, sf::kFloat64))[0].to_vector<double>();
    CHECK(different[0] != different[2]);

    CHECK_ERROR(sf::vmap(dot, {{0, 0}})(xs, w), SF_ERR_SHAPE, "");
    CHECK_ERROR(sf::vmap(dot, {{0}}), SF_ERR_INVALID_ARGUMENT, "sf_vmap");
    CHECK(sf::vmap_fallback_count() == 0);
}

TEST(per_sample_gradients_compose) {
    // vmap(grad(loss)) over samples equals a loop of grad.
    sf::Tensor w = sf::from_data({0.5, -0.25, 1.0});
    sf::Tensor xs = sf::from_data({1.0, 2.0, 3.0, -1.0, 0.5, 2.0, 0.0, 1.0, -2.0, 4.0, 1.0, 1.0}, {4, 3});
    sf::Tensor ys = sf::from_data({1.0, -1.0, 0.5, 2.0});
    sf::Function loss = [](const sf::Tensor& wt, const sf::Tensor& x, const sf::Tensor& y) {
        sf::Tensor r = sf::sum(sf::tanh(wt * x)) - y;
        return r * r;
    };
    sf::Tensor batched = sf::vmap(sf::grad(loss), {{sf::not_mapped, 0, 0}})(w, xs, ys)[0];
    CHECK(batched.shape() == (sf::Shape{4, 3}));
    for (int64_t i = 0; i < 4; i++) {
        sf::Tensor xi = sf::squeeze(sf::slice(xs, 0, i, i + 1), 0), yi = sf::squeeze(sf::slice(ys, 0, i, i + 1), 0);
        sf::Tensor gi = sf::grad(loss)(w, xi, yi)[0];
        CHECK_CLOSE(sf::squeeze(sf::slice(batched, 0, i, i + 1), 0), gi.to_vector<double>(), 1e-12);
    }
}

// MARK: - Custom functions (sf::CustomFunction)

namespace {
double softplus_of(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }
double sigmoid_of(double x) { return 1 / (1 + std::exp(-x)); }

// Host kernels: plain C++ on the values (read with to_vector, written with from_data), which
// swiftfunc cannot look inside.
template <class F> sf::Tensor host_map(const sf::Tensor& x, F f) {
    V values = x.to_vector<double>();
    for (double& v : values) v = f(v);
    return sf::from_data(values, x.shape());
}
sf::Tensor host_mul(const sf::Tensor& a, const sf::Tensor& b) {
    if (a.shape() != b.shape()) throw std::invalid_argument("host_mul: shapes differ");
    V x = a.to_vector<double>(), y = b.to_vector<double>();
    for (size_t i = 0; i < x.size(); i++) x[i] *= y[i];
    return sf::from_data(x, a.shape());
}

// d/dx softplus by central differences of the host kernel, elementwise (times a direction).
V softplus_fd(const V& x, const V& direction) {
    const double h = 1e-6;
    V out;
    for (size_t i = 0; i < x.size(); i++)
        out.push_back((softplus_of(x[i] + h * direction[i]) - softplus_of(x[i] - h * direction[i])) / (2 * h));
    return out;
}

struct SoftplusCalls {
    int forward = 0, vjp = 0, jvp = 0, batch = 0;
};

// The host-kernel softplus: residual sigmoid(x) saved by the forward for the VJP; a JVP; and,
// when asked, a batching rule (elementwise: the whole batch at once, batch dims unchanged).
sf::Function host_softplus(std::shared_ptr<SoftplusCalls> calls, bool with_batch) {
    sf::CustomFunction softplus("softplus");
    softplus.n_residuals(1)
        .forward([calls](const sf::Tensor& x) {
            calls->forward++;
            return sf::CustomForwardResult{{host_map(x, softplus_of)}, {host_map(x, sigmoid_of)}};
        })
        .vjp([calls](const sf::CustomVjpArgs& a) {
            calls->vjp++;
            return host_mul(a.cotangents[0], a.residuals[0]);
        })
        .jvp([calls](const sf::CustomJvpArgs& a) {
            calls->jvp++;
            return host_mul(a.tangents[0], host_map(a.inputs[0], sigmoid_of));
        });
    if (with_batch) {
        softplus.batch([calls](const sf::CustomBatchArgs& a) {
            calls->batch++;
            const sf::Tensor& x = a.inputs[0];
            return sf::CustomBatchResult{{host_map(x, softplus_of)}, {host_map(x, sigmoid_of)}, {a.in_dims[0]}, {a.in_dims[0]}};
        });
    }
    return softplus;
}

// The same forward with rules written with swiftfunc ops, so that they can be differentiated again.
sf::Function ops_softplus() {
    return sf::CustomFunction("softplus_ops")
        .rules_use_ops()
        .forward([](const sf::Tensor& x) { return host_map(x, softplus_of); })
        .vjp([](const sf::CustomVjpArgs& a) { return a.cotangents[0] * sf::sigmoid(a.inputs[0]); })
        .jvp([](const sf::CustomJvpArgs& a) { return a.tangents[0] * sf::sigmoid(a.inputs[0]); });
}

sf::Function sum_of(const sf::Function& f) {
    return [f](const sf::Tensor& x) { return sf::sum(f(x)[0]); };
}

const V custom_x = {-3.0, -0.5, 0.0, 0.25, 1.5, 4.0};
}  // namespace

TEST(custom_function_host_kernel_grad_and_jvp) {
    auto calls = std::make_shared<SoftplusCalls>();
    sf::Function softplus = host_softplus(calls, false);
    CHECK(softplus.n_inputs() == 1 && softplus.n_outputs() == 1);
    sf::Tensor x = sf::from_data(custom_x);
    V ones(custom_x.size(), 1.0);

    CHECK_CLOSE(softplus(x)[0], map_values(custom_x, softplus_of), 1e-12);
    CHECK(calls->forward == 1);

    sf::Tensor g = sf::grad(sum_of(softplus))(x)[0];
    CHECK_CLOSE(g, softplus_fd(custom_x, ones), 1e-7);
    CHECK(calls->vjp == 1);

    V t = {1.0, -2.0, 0.5, 3.0, -1.0, 0.25};
    sf::JvpResult j = sf::jvp(softplus, {x}, {sf::from_data(t)});
    CHECK_CLOSE(j.outputs[0], map_values(custom_x, softplus_of), 1e-12);
    CHECK_CLOSE(j.tangents[0], softplus_fd(custom_x, t), 1e-7);
    CHECK(calls->jvp == 1);

    // vjp with an explicit cotangent, and jacrev/jacfwd (the diagonal Jacobian).
    sf::VjpResult v = sf::vjp(softplus, {x});
    V c = {2.0, 1.0, -1.0, 0.5, 0.0, 3.0};
    CHECK_CLOSE(v.vjp_fn(sf::from_data(c))[0], softplus_fd(custom_x, c), 1e-7);
    V jac = sf::jacrev(softplus)(x)[0].to_vector<double>(), jac_fwd = sf::jacfwd(softplus)(x)[0].to_vector<double>();
    V fd = softplus_fd(custom_x, ones);
    size_t n = custom_x.size();
    CHECK(jac.size() == n * n && jac_fwd.size() == n * n);
    for (size_t i = 0; i < n && jac.size() == n * n && jac_fwd.size() == n * n; i++)
        for (size_t k = 0; k < n; k++) {
            double expected = i == k ? fd[i] : 0.0;
            CHECK(std::fabs(jac[i * n + k] - expected) < 1e-7 && std::fabs(jac_fwd[i * n + k] - expected) < 1e-7);
        }

    // A host-kernel VJP cannot be differentiated again: a clear error, never a wrong answer.
    CHECK_ERROR(sf::hessian(sum_of(softplus))(x), SF_ERR_TRANSFORM, "cannot be differentiated again");
    CHECK_ERROR(sf::grad(sf::grad(sum_of(softplus)))(sf::scalar(0.5).to(sf::kFloat64)), SF_ERR_TRANSFORM, "softplus");
}

TEST(custom_function_host_kernel_vmap) {
    auto calls = std::make_shared<SoftplusCalls>();
    sf::Function with_rule = host_softplus(calls, true), looped = host_softplus(calls, false);
    const int64_t b = 3, n = 4;
    V xs;
    for (int64_t i = 0; i < b * n; i++) xs.push_back(-3.0 + 0.55 * static_cast<double>(i));
    sf::Tensor x = sf::from_data(xs, {b, n});
    V expected = map_values(xs, softplus_of);

    // With the batching rule: one call for the whole batch, no fallback loop.
    uint64_t fallbacks = sf::vmap_fallback_count();
    CHECK_CLOSE(sf::vmap(with_rule)(x)[0], expected, 1e-12);
    CHECK(calls->batch == 1);
    CHECK(sf::vmap_fallback_count() == fallbacks);

    // Batched along dim 1: the rule reports its batch dim and the library moves it to out_dims.
    sf::Tensor xt = sf::transpose(x, 0, 1);  // [n, b]
    sf::Tensor mapped = sf::vmap(with_rule, {{1}, {0}})(xt)[0];
    CHECK(mapped.shape() == (sf::Shape{b, n}));
    CHECK_CLOSE(mapped, expected, 1e-12);

    // Without one: a loop over the batch, counted.
    int forwards = calls->forward;
    CHECK_CLOSE(sf::vmap(looped)(x)[0], expected, 1e-12);
    CHECK(sf::vmap_fallback_count() > fallbacks);
    CHECK(calls->forward - forwards == static_cast<int>(b));

    // Per-example gradients, vmap(grad), with either function: FD of the kernel.
    V fd = softplus_fd(xs, V(xs.size(), 1.0));
    CHECK_CLOSE(sf::vmap(sf::grad(sum_of(with_rule)))(x)[0], fd, 1e-7);
    CHECK_CLOSE(sf::vmap(sf::grad(sum_of(looped)))(x)[0], fd, 1e-7);
    // jvp under vmap (a host JVP is looped over).
    sf::Function jvp_of = [looped](const sf::Tensor& p, const sf::Tensor& t) { return sf::jvp(looped, {p}, {t}).tangents[0]; };
    CHECK_CLOSE(sf::vmap(jvp_of)(x, sf::ones({b, n}, sf::kFloat64))[0], fd, 1e-7);
}

TEST(custom_function_with_op_rules_hessian) {
    sf::Function softplus = ops_softplus();
    sf::Tensor x = sf::from_data(custom_x);
    size_t n = custom_x.size();
    // d2/dx2 sum(softplus(x)) = diag(sigmoid'(x)): FD of the derivative kernel.
    const double h = 1e-5;
    V second = map_values(custom_x, [h](double v) { return (sigmoid_of(v + h) - sigmoid_of(v - h)) / (2 * h); });
    V expected(n * n, 0.0);
    for (size_t i = 0; i < n; i++) expected[i * n + i] = second[i];
    sf::Tensor hess = sf::hessian(sum_of(softplus))(x)[0];
    CHECK(hess.shape() == (sf::Shape{static_cast<int64_t>(n), static_cast<int64_t>(n)}));
    CHECK_CLOSE(hess, expected, 1e-7);
    CHECK_CLOSE(sf::jacrev(sf::grad(sum_of(softplus)))(x)[0], expected, 1e-7);
    CHECK_CLOSE(sf::grad(sum_of(softplus))(x)[0], softplus_fd(custom_x, V(n, 1.0)), 1e-7);

    // The op rules are batched through their ops: vmap(hessian) per row.
    sf::Tensor xs = sf::from_data(custom_x, {2, 3});
    V rows = sf::vmap(sf::hessian(sum_of(softplus)))(xs)[0].to_vector<double>();
    CHECK(rows.size() == 18);
    for (size_t r = 0; r < 2 && rows.size() == 18; r++)
        for (size_t i = 0; i < 3; i++)
            for (size_t k = 0; k < 3; k++)
                CHECK(std::fabs(rows[r * 9 + i * 3 + k] - (i == k ? second[r * 3 + i] : 0.0)) < 1e-7);
}

TEST(custom_function_several_inputs_and_outputs) {
    // f(x, w) = (x * w, x + w): a host kernel taking a vector, with a move-only capture.
    auto scale = std::make_unique<double>(1.0);
    sf::Function f = sf::CustomFunction("mul_add")
                         .n_inputs(2)
                         .n_outputs(2)
                         .forward([scale = std::move(scale)](const std::vector<sf::Tensor>& in) {
                             sf::Tensor sum = sf::from_data(
                                 V{in[0].to_vector<double>()[0] * *scale + in[1].to_vector<double>()[0]}, {});
                             return std::make_tuple(host_mul(in[0], in[1]), sum);
                         })
                         .vjp([](const sf::CustomVjpArgs& a) {
                             CHECK(a.inputs.size() == 2 && a.outputs.size() == 2 && a.residuals.empty() &&
                                   a.cotangents.size() == 2);
                             return std::make_pair(a.cotangents[0] * a.inputs[1] + a.cotangents[1],
                                                   a.cotangents[0] * a.inputs[0] + a.cotangents[1]);
                         })
                         .jvp([](const sf::CustomJvpArgs& a) {
                             return std::vector<sf::Tensor>{a.tangents[0] * a.inputs[1] + a.inputs[0] * a.tangents[1],
                                                            a.tangents[0] + a.tangents[1]};
                         });
    CHECK(f.n_inputs() == 2 && f.n_outputs() == 2);
    sf::Tensor x = sf::scalar(2.0).to(sf::kFloat64), w = sf::scalar(-3.0).to(sf::kFloat64);
    std::vector<sf::Tensor> out = f(x, w);
    CHECK_VALUES(out[0], V{-6});
    CHECK_VALUES(out[1], V{-1});
    // loss = 3 * x * w + 2 * (x + w): d/dx = 3w + 2, d/dw = 3x + 2.
    sf::Function loss = [f](const sf::Tensor& a, const sf::Tensor& b) {
        std::vector<sf::Tensor> o = f(a, b);
        return o[0] * 3.0 + o[1] * 2.0;
    };
    std::vector<sf::Tensor> g = sf::grad(loss, {{0, 1}})(x, w);
    CHECK_VALUES(g[0], V{-7});
    CHECK_VALUES(g[1], V{8});
    sf::JvpResult j = sf::jvp(f, {x, w}, {sf::scalar(1.0).to(sf::kFloat64), sf::scalar(0.5).to(sf::kFloat64)});
    CHECK_VALUES(j.tangents[0], V{-3 + 2 * 0.5});
    CHECK_VALUES(j.tangents[1], V{1.5});
}

TEST(custom_function_exceptions_are_rethrown) {
    sf::Tensor x = sf::from_data(custom_x);
    auto expect_custom = [&](const char* what, int code, auto&& call) {
        try {
            call();
            check_failures++;
            std::fprintf(stderr, "  %s did not throw\n", what);
        } catch (const CustomError& e) {
            if (e.code != code) check_failures++, std::fprintf(stderr, "  %s: code %d, expected %d\n", what, e.code, code);
        }
    };
    auto id_forward = [](const sf::Tensor& a) { return a * 1.0; };
    auto id_vjp = [](const sf::CustomVjpArgs& a) { return a.cotangents[0]; };
    auto id_jvp = [](const sf::CustomJvpArgs& a) { return a.tangents[0]; };
    auto id_batch = [](const sf::CustomBatchArgs& a) { return sf::CustomBatchResult{{a.inputs[0] * 1.0}, {}, {a.in_dims[0]}, {}}; };

    sf::Function bad_forward = sf::CustomFunction("f").forward([](const sf::Tensor&) -> sf::Tensor { throw CustomError(1); });
    expect_custom("forward", 1, [&] { bad_forward(x); });
    expect_custom("grad(forward)", 1, [&] { sf::grad(sum_of(bad_forward))(x); });
    expect_custom("vmap(forward)", 1, [&] { sf::vmap(bad_forward)(sf::ones({2, 3})); });

    sf::Function bad_vjp = sf::CustomFunction("f").forward(id_forward).vjp([](const sf::CustomVjpArgs&) -> sf::Tensor {
        throw CustomError(2);
    });
    CHECK_VALUES(bad_vjp(x)[0], custom_x);
    expect_custom("grad(vjp)", 2, [&] { sf::grad(sum_of(bad_vjp))(x); });
    expect_custom("vmap(grad(vjp))", 2, [&] { sf::vmap(sf::grad(sum_of(bad_vjp)))(sf::ones({2, 3})); });
    expect_custom("vjp_fn", 2, [&] { sf::vjp(bad_vjp, {x}).vjp_fn(x); });

    sf::Function bad_jvp = sf::CustomFunction("f").forward(id_forward).vjp(id_vjp).jvp([](const sf::CustomJvpArgs&) -> sf::Tensor {
        throw CustomError(3);
    });
    expect_custom("jvp", 3, [&] { sf::jvp(bad_jvp, {x}, {x}); });
    expect_custom("jacfwd(jvp)", 3, [&] { sf::jacfwd(bad_jvp)(x); });

    sf::Function bad_batch = sf::CustomFunction("f").forward(id_forward).batch([](const sf::CustomBatchArgs&) -> sf::CustomBatchResult {
        throw CustomError(4);
    });
    expect_custom("vmap(batch)", 4, [&] { sf::vmap(bad_batch)(sf::ones({2, 3})); });

    // Not a std::exception: rethrown as it is.
    sf::Function throws_int = sf::CustomFunction("f").forward(id_forward).vjp([](const sf::CustomVjpArgs&) -> sf::Tensor { throw 7; });
    try {
        sf::grad(sum_of(throws_int))(x);
        CHECK(false);
    } catch (int value) {
        CHECK(value == 7);
    }
    // An ops rule throwing under hessian (the rule runs under transforms).
    sf::Function bad_ops_jvp = sf::CustomFunction("f").rules_use_ops().forward(id_forward).vjp(id_vjp).jvp(
        [](const sf::CustomJvpArgs&) -> sf::Tensor { throw CustomError(5); });
    expect_custom("hessian(jvp)", 5, [&] { sf::hessian(sum_of(bad_ops_jvp))(x); });

    // Nothing is left pending: the same functions' good paths still work.
    sf::Function fine = sf::CustomFunction("f").forward(id_forward).vjp(id_vjp).jvp(id_jvp).batch(id_batch);
    CHECK_VALUES(sf::grad(sum_of(fine))(x)[0], V(custom_x.size(), 1.0));
    CHECK_VALUES(sf::vmap(fine)(sf::ones({2, 3}))[0], V(6, 1.0));
    CHECK_VALUES(bad_vjp(x)[0], custom_x);
}

TEST(custom_function_bad_results_and_descriptions) {
    sf::Tensor x = sf::from_data(custom_x);
    auto id_forward = [](const sf::Tensor& a) { return a * 1.0; };

    // Wrong result counts and undefined results are SF_ERR_CALLBACK naming the rule.
    sf::Function no_residual = sf::CustomFunction("f").n_residuals(1).forward(id_forward);
    CHECK_ERROR(no_residual(x), SF_ERR_CALLBACK, "sf::CustomFunction: the forward returned 1 outputs and 0 residuals, expected 1 and 1");
    sf::Function two_cotangents = sf::CustomFunction("f").forward(id_forward).vjp([](const sf::CustomVjpArgs& a) {
        return std::make_tuple(a.cotangents[0], a.cotangents[0]);
    });
    CHECK_ERROR(sf::grad(sum_of(two_cotangents))(x), SF_ERR_CALLBACK, "sf::CustomFunction: the vjp returned 2 cotangents, expected 1");
    sf::Function undefined_tangent = sf::CustomFunction("f").forward(id_forward).jvp([](const sf::CustomJvpArgs&) { return sf::Tensor(); });
    CHECK_ERROR(sf::jvp(undefined_tangent, {x}, {x}), SF_ERR_CALLBACK, "the jvp returned an undefined sf::Tensor (result 0)");
    sf::Function bad_dims = sf::CustomFunction("f").forward(id_forward).batch([](const sf::CustomBatchArgs& a) {
        return sf::CustomBatchResult{{a.inputs[0]}, {}, {0, 0}, {}};
    });
    CHECK_ERROR(sf::vmap(bad_dims)(sf::ones({2, 3})), SF_ERR_CALLBACK, "returned 2 out_dims and 0 residual_dims, expected 1 and 0");
    // A cotangent of the wrong shape: the library's shape error, naming the function.
    sf::Function wrong_shape = sf::CustomFunction("shapely").forward(id_forward).vjp([](const sf::CustomVjpArgs&) {
        return sf::ones({2}, sf::kFloat64);
    });
    CHECK_ERROR(sf::grad(sum_of(wrong_shape))(x), SF_ERR_SHAPE, "shapely");
    // A rule that is missing: SF_ERR_UNSUPPORTED naming the function.
    sf::Function forward_only = sf::CustomFunction("lonely").forward(id_forward);
    CHECK_ERROR(sf::jvp(forward_only, {x}, {x}), SF_ERR_UNSUPPORTED, "lonely");
    CHECK_ERROR(sf::grad(sum_of(forward_only))(x), SF_ERR_UNSUPPORTED, "lonely");

    // Descriptions the builder or the library refuse.
    CHECK_ERROR(sf::CustomFunction("f").build(), SF_ERR_INVALID_ARGUMENT, "sf::CustomFunction 'f': no forward was given");
    auto vector_forward = [](const std::vector<sf::Tensor>& in) { return in[0]; };
    CHECK_ERROR(sf::CustomFunction("f").forward(vector_forward).build(), SF_ERR_INVALID_ARGUMENT, "n_inputs must be set");
    CHECK_ERROR(sf::CustomFunction("f").n_inputs(2).forward(id_forward).build(), SF_ERR_INVALID_ARGUMENT,
                "n_inputs is 2 but the forward takes 1 tensors");
    CHECK_ERROR(sf::CustomFunction("f").n_outputs(0).forward(id_forward).build(), SF_ERR_INVALID_ARGUMENT, "n_outputs");
    sf::Function nullary = sf::CustomFunction("constant").forward([] { return sf::ones({2}); });
    CHECK(nullary.n_inputs() == 0);
    CHECK_VALUES(nullary()[0], V{1, 1});
}

TEST(custom_function_context_freed_with_last_reference) {
    CHECK(Counted::alive == 0);
    {
        sf::Function f = sf::CustomFunction("counted")
                             .forward([c = Counted()](const sf::Tensor& x) { return x * 2.0; })
                             .vjp([c = Counted()](const sf::CustomVjpArgs& a) { return a.cotangents[0] * 2.0; });
        CHECK(Counted::alive == 2);
        sf::Function g = sf::vmap(sf::grad(sum_of(f)));
        f = sf::Function();
        CHECK(Counted::alive == 2);  // held by vmap(grad(...))
        CHECK_VALUES(g(sf::ones({2, 2}))[0], V{2, 2, 2, 2});
    }
    CHECK(Counted::alive == 0);
    {
        // A builder builds as many functions as asked; they share the callables.
        sf::CustomFunction builder("counted");
        builder.forward([c = Counted()](const sf::Tensor& x) { return x; });
        sf::Function a = builder, b = builder;
        CHECK(Counted::alive == 1);
        // A failing build (n_outputs 0) frees its context: nothing outlives the scope.
        CHECK_ERROR(builder.n_outputs(0).build(), SF_ERR_INVALID_ARGUMENT, "n_outputs");
        // A throwing callable leaves nothing behind either.
        sf::Function throwing = sf::CustomFunction("t").forward([c = Counted()](const sf::Tensor&) -> sf::Tensor {
            throw CustomError(9);
        });
        try {
            throwing(sf::ones({1}));
            CHECK(false);
        } catch (const CustomError&) {
        }
    }
    CHECK(Counted::alive == 0);
}

// MARK: - Main

int main() {
    int passed = 0, failed = 0;
    for (const TestCase& test : registry()) {
        int before = check_failures;
        bool ok = true;
        try {
            test.body();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "  unexpected exception: %s\n", e.what());
            ok = false;
        } catch (...) {
            std::fprintf(stderr, "  unexpected non-std exception\n");
            ok = false;
        }
        ok = ok && check_failures == before;
        if (ok) {
            passed++;
        } else {
            failed++;
            std::fprintf(stderr, "FAIL %s\n", test.name);
        }
    }
    std::printf("test_wrapper: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
