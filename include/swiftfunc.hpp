/*
 * swiftfunc.hpp — a header-only C++17 wrapper over the C ABI in swiftfunc.h.
 *
 * It holds no state of its own: every object wraps one library handle, and every call is one C
 * call plus a status check. What it adds:
 *  - sf::Tensor, an RAII handle (copy = sf_tensor_retain, move = steal, destructor = release) with
 *    operators + - * / (and unary -) and comparisons that return bool tensors, as torch's do;
 *  - free functions with torch's names and default arguments for every C op (sf::sum(x, {1}),
 *    sf::matmul(a, b), sf::conv2d(x, w, b, 2), ...);
 *  - sf::Function, made from any callable: a lambda taking `const sf::Tensor&`s (its arity is
 *    deduced) and returning a Tensor, a std::array/std::pair/std::tuple of Tensors, or a callable
 *    taking `const std::vector<sf::Tensor>&` with the arity given;
 *  - the transforms sf::grad, grad_and_value, vjp, jvp, linearize, jacrev, jacfwd, hessian, vmap,
 *    with options structs whose members have torch.func's defaults;
 *  - sf::CustomFunction, a custom differentiable function (torch.autograd.Function, JAX's
 *    custom_vjp/custom_jvp/custom_vmap) built from lambdas: a forward (a host kernel, say) with
 *    VJP, JVP and batching rules, usable under every transform;
 *  - DLPack import/export with std::unique_ptr ownership;
 *  - one exception type, sf::Error, carrying the sf_status and the library's message.
 *
 * Exceptions and callbacks: a C++ exception thrown inside a callback never crosses the library's
 * (Swift) frames. The trampoline catches it, parks it in a thread-local slot (callbacks run on
 * the calling thread), reports the failure to the library (nonzero return, sf_set_error(what())),
 * and when the library returns SF_ERR_CALLBACK the wrapper rethrows the original exception to the
 * caller — with its own type, through any number of nested transforms.
 *
 * Thread safety is the C library's: tensors and functions may be shared between threads. A
 * callable given to sf::Function may be invoked from every thread that calls the function.
 */
#ifndef SWIFTFUNC_HPP
#define SWIFTFUNC_HPP

#include "swiftfunc.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace sf {

// MARK: - Versions, errors

/** The version of the loaded library, "MAJOR.MINOR.PATCH". */
inline std::string version() { return sf_version(); }

/** The ABI version of the loaded library; SF_ABI_VERSION is the one this header was written for. */
inline uint32_t abi_version() noexcept { return sf_abi_version(); }

/** The one exception type of the wrapper: a failed library call, with its status and message. */
class Error : public std::runtime_error {
public:
    Error(sf_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    /** The status the library returned (never SF_OK). */
    sf_status status() const noexcept { return status_; }

private:
    sf_status status_;
};

namespace detail {

/** The exception a callback threw on this thread and that has not yet reached its caller. */
inline std::exception_ptr& pending_exception() noexcept {
    static thread_local std::exception_ptr pending;
    return pending;
}

/** Throws sf::Error with sf_last_error() unless `status` is SF_OK. */
inline void check(sf_status status) {
    if (status != SF_OK) throw Error(status, sf_last_error());
}

/**
 * check() for calls that may run callbacks: a callback's exception is rethrown as it was thrown.
 * The slot is emptied after every such call so that a stale exception is never rethrown later.
 */
inline void check_call(sf_status status) {
    std::exception_ptr pending = std::exchange(pending_exception(), nullptr);
    if (status == SF_ERR_CALLBACK && pending) std::rethrow_exception(pending);
    check(status);
}

}  // namespace detail

/**
 * Throws sf::Error unless the loaded library speaks the ABI this header was written for. The
 * library never changes a released function incompatibly without changing SF_ABI_VERSION.
 */
inline void check_abi() {
    if (sf_abi_version() != SF_ABI_VERSION)
        throw Error(SF_ERR_UNSUPPORTED, "sf::check_abi: libswiftfunc has ABI version " +
                                            std::to_string(sf_abi_version()) + ", swiftfunc.hpp expects " +
                                            std::to_string(SF_ABI_VERSION));
}

// MARK: - Threads

/** Sets the threads kernels use, the library's pool and OpenBLAS alike (torch::set_num_threads). */
inline void set_num_threads(int n) { detail::check(sf_set_num_threads(n)); }

/** The thread count (torch::get_num_threads): the online CPUs unless set. */
inline int get_num_threads() {
    int n = 0;
    detail::check(sf_get_num_threads(&n));
    return n;
}

// MARK: - Enums and small argument types

/** Element types (torch's dtypes); the values are sf_dtype's. */
enum class DType : int { Float32 = SF_FLOAT32, Float64 = SF_FLOAT64, Int32 = SF_INT32, Int64 = SF_INT64, Bool = SF_BOOL };
inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt32 = DType::Int32;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kBool = DType::Bool;

/** How a loss reduces its per-element values (torch's reduction='none'|'mean'|'sum'). */
enum class Reduction : int { None = SF_REDUCTION_NONE, Mean = SF_REDUCTION_MEAN, Sum = SF_REDUCTION_SUM };

/** What random ops do under vmap (torch.func's randomness='error'|'different'|'same'). */
enum class Randomness : int { Error = SF_RANDOMNESS_ERROR, Different = SF_RANDOMNESS_DIFFERENT, Same = SF_RANDOMNESS_SAME };

/** In VmapOptions::in_dims/out_dims: not mapped (torch's None). */
inline constexpr int64_t not_mapped = SF_NOT_MAPPED;

/** A tensor shape. */
using Shape = std::vector<int64_t>;

/** A list of ints (shape, dims): written `{2, 3}`, `1`, `{}` or from a std::vector. */
class IntList {
public:
    IntList() = default;
    IntList(int64_t value) : values_{value} {}
    IntList(std::initializer_list<int64_t> values) : values_(values) {}
    IntList(std::vector<int64_t> values) : values_(std::move(values)) {}
    const int64_t* data() const noexcept { return values_.empty() ? nullptr : values_.data(); }
    size_t size() const noexcept { return values_.size(); }
    const std::vector<int64_t>& vec() const noexcept { return values_; }

private:
    std::vector<int64_t> values_;
};

/** An (H, W) pair for conv2d: written `{1, 2}` or `1` (both entries). */
struct IntPair {
    IntPair(int64_t both) : values{both, both} {}
    IntPair(int64_t h, int64_t w) : values{h, w} {}
    std::array<int64_t, 2> values;
};

// MARK: - Tensor

/** The dtype of a C++ element type, for from_data and to_vector. */
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = kFloat32; };
template <> struct dtype_of<double> { static constexpr DType value = kFloat64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = kInt32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = kInt64; };
template <> struct dtype_of<bool> { static constexpr DType value = kBool; };

/**
 * An immutable, reference-counted tensor: an owning handle to an sf_tensor. A default-constructed
 * Tensor holds no handle (defined() is false); it stands for NULL where the C API takes an
 * optional tensor, and any op given one throws SF_ERR_INVALID_ARGUMENT.
 */
class Tensor {
public:
    Tensor() noexcept = default;
    Tensor(const Tensor& other) noexcept : handle_(other.handle_) { sf_tensor_retain(handle_); }
    Tensor(Tensor&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Tensor& operator=(const Tensor& other) noexcept {
        if (handle_ != other.handle_) {
            sf_tensor_retain(other.handle_);
            sf_tensor_release(std::exchange(handle_, other.handle_));
        }
        return *this;
    }
    Tensor& operator=(Tensor&& other) noexcept {
        if (this != &other) sf_tensor_release(std::exchange(handle_, std::exchange(other.handle_, nullptr)));
        return *this;
    }
    ~Tensor() {
        if (handle_) sf_tensor_release(handle_);
    }

    /** Takes over a reference the caller owns (e.g. an `out` result of a C call). */
    static Tensor adopt(sf_tensor* handle) noexcept { return Tensor(handle); }
    /** Adds a reference to a borrowed handle (e.g. a callback input) and owns that. */
    static Tensor borrow(sf_tensor* handle) noexcept {
        sf_tensor_retain(handle);
        return Tensor(handle);
    }

    /** The handle, still owned by this Tensor (NULL when not defined). */
    sf_tensor* get() const noexcept { return handle_; }
    /** Gives up ownership: returns the handle, which the caller must release. */
    sf_tensor* release() noexcept { return std::exchange(handle_, nullptr); }
    /** Whether this Tensor holds a handle. */
    bool defined() const noexcept { return handle_ != nullptr; }

    /** The rank. */
    size_t ndim() const {
        size_t n = 0;
        detail::check(sf_tensor_ndim(handle_, &n));
        return n;
    }
    /** The sizes of every dim. */
    Shape shape() const {
        int64_t sizes[SF_MAX_NDIM] = {};
        detail::check(sf_tensor_shape(handle_, sizes, SF_MAX_NDIM));
        return Shape(sizes, sizes + ndim());
    }
    /** The size of one dim (negative counts from the end). */
    int64_t size(int64_t dim) const {
        Shape s = shape();
        int64_t n = static_cast<int64_t>(s.size());
        if (dim < -n || dim >= n)
            throw Error(SF_ERR_INVALID_ARGUMENT, "sf::Tensor::size: dim " + std::to_string(dim) +
                                                     " is out of range for rank " + std::to_string(n));
        return s[static_cast<size_t>(dim < 0 ? dim + n : dim)];
    }
    /** The element type. */
    DType dtype() const {
        sf_dtype d = SF_FLOAT32;
        detail::check(sf_tensor_dtype(handle_, &d));
        return static_cast<DType>(d);
    }
    /** The number of elements. */
    int64_t numel() const {
        int64_t n = 0;
        detail::check(sf_tensor_numel(handle_, &n));
        return n;
    }
    /** The tensor converted to `dtype` (x.to(dtype)); a view when it already has that dtype. */
    Tensor to(DType dtype) const {
        sf_tensor* out = nullptr;
        detail::check(sf_cast(handle_, static_cast<sf_dtype>(dtype), &out));
        return adopt(out);
    }
    /**
     * The values in row-major order as T (float, double, int32_t, int64_t or bool); a tensor of
     * another dtype is converted first with the library's cast rules.
     */
    template <class T> std::vector<T> to_vector() const;
    /** The value of a one-element tensor (torch's .item()). */
    template <class T = double> T item() const {
        if (numel() != 1)
            throw Error(SF_ERR_SHAPE, "sf::Tensor::item: the tensor has " + std::to_string(numel()) +
                                          " elements, not 1");
        return to_vector<T>()[0];
    }

private:
    explicit Tensor(sf_tensor* handle) noexcept : handle_(handle) {}
    sf_tensor* handle_ = nullptr;
};

template <class T> std::vector<T> Tensor::to_vector() const {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value ||
                      std::is_same<T, int32_t>::value || std::is_same<T, int64_t>::value ||
                      std::is_same<T, bool>::value,
                  "sf::Tensor::to_vector<T>: T must be float, double, int32_t, int64_t or bool");
    Tensor converted = to(dtype_of<T>::value);
    size_t n = static_cast<size_t>(converted.numel());
    if constexpr (std::is_same<T, bool>::value) {
        std::vector<unsigned char> bytes(n);
        detail::check(sf_tensor_copy_to(converted.get(), n ? bytes.data() : nullptr, n));
        return std::vector<bool>(bytes.begin(), bytes.end());
    } else {
        std::vector<T> values(n);
        detail::check(sf_tensor_copy_to(converted.get(), n ? values.data() : nullptr, n * sizeof(T)));
        return values;
    }
}

namespace detail {

/** The handles of `tensors`, borrowed, for a `sf_tensor *const *` argument. */
inline std::vector<sf_tensor*> handles(const std::vector<Tensor>& tensors) {
    std::vector<sf_tensor*> raw(tensors.size());
    for (size_t i = 0; i < tensors.size(); i++) raw[i] = tensors[i].get();
    return raw;
}

/** Owns every handle in `raw` (results of a successful C call). */
inline std::vector<Tensor> adopt_all(const std::vector<sf_tensor*>& raw) {
    std::vector<Tensor> tensors;
    tensors.reserve(raw.size());
    for (sf_tensor* handle : raw) tensors.push_back(Tensor::adopt(handle));
    return tensors;
}

/** numel of `shape`, or -1 when a size is negative or the product overflows int64. */
inline int64_t checked_numel(const IntList& shape) {
    int64_t n = 1;
    for (int64_t size : shape.vec()) {
        if (size < 0) return -1;
        if (size != 0 && n > std::numeric_limits<int64_t>::max() / size) return -1;
        n *= size;
    }
    return n;
}

inline std::string shape_string(const IntList& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape.vec()[i]);
    return s + "]";
}

}  // namespace detail

// MARK: - Creation and conversion

/**
 * A tensor made by copying `numel(shape)` values from `data` (sf_tensor_from_data); the dtype
 * comes from T. `data` must hold that many values.
 */
template <class T> Tensor from_data(const T* data, const IntList& shape) {
    sf_tensor* out = nullptr;
    detail::check(sf_tensor_from_data(data, static_cast<sf_dtype>(dtype_of<T>::value), shape.data(), shape.size(), &out));
    return Tensor::adopt(out);
}

/** A tensor of `shape` holding `values` (whose count must be numel(shape)). */
template <class T> Tensor from_data(const std::vector<T>& values, const IntList& shape) {
    int64_t n = detail::checked_numel(shape);
    if (n >= 0 && static_cast<uint64_t>(n) != values.size())
        throw Error(SF_ERR_SHAPE, "sf::from_data: " + std::to_string(values.size()) + " values for shape " +
                                      detail::shape_string(shape));
    return from_data(values.empty() ? static_cast<const T*>(nullptr) : values.data(), shape);
}

/** A tensor of `shape` holding bools. */
inline Tensor from_data(const std::vector<bool>& values, const IntList& shape) {
    std::vector<unsigned char> bytes(values.begin(), values.end());
    int64_t n = detail::checked_numel(shape);
    if (n >= 0 && static_cast<uint64_t>(n) != values.size())
        throw Error(SF_ERR_SHAPE, "sf::from_data: " + std::to_string(values.size()) + " values for shape " +
                                      detail::shape_string(shape));
    sf_tensor* out = nullptr;
    detail::check(sf_tensor_from_data(bytes.empty() ? nullptr : bytes.data(), SF_BOOL, shape.data(), shape.size(), &out));
    return Tensor::adopt(out);
}

/** A 1-D tensor holding `values`. */
template <class T> Tensor from_data(const std::vector<T>& values) {
    return from_data(values, IntList{static_cast<int64_t>(values.size())});
}

/** A tensor of `shape` holding `values`: sf::from_data({1.0, 2.0, 3.0, 4.0}, {2, 2}). */
template <class T> Tensor from_data(std::initializer_list<T> values, const IntList& shape) {
    return from_data(std::vector<T>(values), shape);
}

/** A 1-D tensor holding `values`: sf::from_data({1.0f, 2.0f}). */
template <class T> Tensor from_data(std::initializer_list<T> values) { return from_data(std::vector<T>(values)); }

/** A 0-d, weakly typed tensor holding `value` (it takes the other operand's float dtype). */
inline Tensor scalar(double value) {
    sf_tensor* out = nullptr;
    detail::check(sf_scalar(value, &out));
    return Tensor::adopt(out);
}

/** torch.zeros. */
inline Tensor zeros(const IntList& shape, DType dtype = kFloat32) {
    sf_tensor* out = nullptr;
    detail::check(sf_zeros(shape.data(), shape.size(), static_cast<sf_dtype>(dtype), &out));
    return Tensor::adopt(out);
}

/** torch.ones. */
inline Tensor ones(const IntList& shape, DType dtype = kFloat32) {
    sf_tensor* out = nullptr;
    detail::check(sf_ones(shape.data(), shape.size(), static_cast<sf_dtype>(dtype), &out));
    return Tensor::adopt(out);
}

/** torch.full. */
inline Tensor full(const IntList& shape, double value, DType dtype = kFloat32) {
    sf_tensor* out = nullptr;
    detail::check(sf_full(shape.data(), shape.size(), value, static_cast<sf_dtype>(dtype), &out));
    return Tensor::adopt(out);
}

/** torch.arange(start, end, step); float32 unless a dtype is given. */
inline Tensor arange(double start, double end, double step = 1, DType dtype = kFloat32) {
    sf_tensor* out = nullptr;
    detail::check(sf_arange(start, end, step, static_cast<sf_dtype>(dtype), &out));
    return Tensor::adopt(out);
}

/** torch.arange(end). */
inline Tensor arange(double end, DType dtype = kFloat32) { return arange(0, end, 1, dtype); }

/** torch.eye(n, m); m < 0 means m = n. */
inline Tensor eye(int64_t n, int64_t m = -1, DType dtype = kFloat32) {
    sf_tensor* out = nullptr;
    detail::check(sf_eye(n, m < 0 ? n : m, static_cast<sf_dtype>(dtype), &out));
    return Tensor::adopt(out);
}

/** torch.linspace. */
inline Tensor linspace(double start, double end, int64_t steps, DType dtype = kFloat32) {
    sf_tensor* out = nullptr;
    detail::check(sf_linspace(start, end, steps, static_cast<sf_dtype>(dtype), &out));
    return Tensor::adopt(out);
}

/** x converted to dtype (as x.to(dtype)). */
inline Tensor cast(const Tensor& x, DType dtype) { return x.to(dtype); }

// MARK: - Random numbers

/** torch.manual_seed: reseeds the process-wide generator. */
inline void manual_seed(uint64_t seed) { detail::check(sf_manual_seed(seed)); }

/** torch.rand: uniform in [0, 1). */
inline Tensor rand(const IntList& shape, DType dtype = kFloat32) {
    sf_tensor* out = nullptr;
    detail::check(sf_rand(shape.data(), shape.size(), static_cast<sf_dtype>(dtype), &out));
    return Tensor::adopt(out);
}

/** torch.randn: standard normal. */
inline Tensor randn(const IntList& shape, DType dtype = kFloat32) {
    sf_tensor* out = nullptr;
    detail::check(sf_randn(shape.data(), shape.size(), static_cast<sf_dtype>(dtype), &out));
    return Tensor::adopt(out);
}

/** torch.bernoulli(p). */
inline Tensor bernoulli(const Tensor& p) {
    sf_tensor* out = nullptr;
    detail::check(sf_bernoulli(p.get(), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.dropout. */
inline Tensor dropout(const Tensor& x, double p = 0.5, bool training = true) {
    sf_tensor* out = nullptr;
    detail::check(sf_dropout(x.get(), p, training, &out));
    return Tensor::adopt(out);
}

// MARK: - Elementwise ops

#define SF_HPP_UNARY(name)                                      \
    inline Tensor name(const Tensor& x) {                       \
        sf_tensor* out = nullptr;                               \
        detail::check(sf_##name(x.get(), &out));                \
        return Tensor::adopt(out);                              \
    }
SF_HPP_UNARY(neg)
SF_HPP_UNARY(exp)
SF_HPP_UNARY(log)
SF_HPP_UNARY(log1p)
SF_HPP_UNARY(expm1)
SF_HPP_UNARY(sin)
SF_HPP_UNARY(cos)
SF_HPP_UNARY(tan)
SF_HPP_UNARY(tanh)
SF_HPP_UNARY(sigmoid)
SF_HPP_UNARY(sqrt)
SF_HPP_UNARY(rsqrt)
SF_HPP_UNARY(abs)
SF_HPP_UNARY(sign)
SF_HPP_UNARY(relu)
SF_HPP_UNARY(floor)
SF_HPP_UNARY(ceil)
SF_HPP_UNARY(round)
SF_HPP_UNARY(silu)
SF_HPP_UNARY(detach)
#undef SF_HPP_UNARY

/** GELU; approximate is "none" (exact, erf) or "tanh", as torch's. */
inline Tensor gelu(const Tensor& x, std::string_view approximate = "none") {
    if (approximate != "none" && approximate != "tanh")
        throw Error(SF_ERR_INVALID_ARGUMENT, "sf::gelu: approximate must be \"none\" or \"tanh\", not \"" +
                                                 std::string(approximate) + "\"");
    sf_tensor* out = nullptr;
    detail::check(sf_gelu(x.get(), approximate == "tanh", &out));
    return Tensor::adopt(out);
}

// Binary ops take two tensors or a tensor and a number (made a weakly typed sf::scalar).
#define SF_HPP_BINARY(name)                                                                   \
    inline Tensor name(const Tensor& a, const Tensor& b) {                                    \
        sf_tensor* out = nullptr;                                                             \
        detail::check(sf_##name(a.get(), b.get(), &out));                                     \
        return Tensor::adopt(out);                                                            \
    }                                                                                         \
    inline Tensor name(const Tensor& a, double b) { return name(a, scalar(b)); }              \
    inline Tensor name(double a, const Tensor& b) { return name(scalar(a), b); }
SF_HPP_BINARY(add)
SF_HPP_BINARY(sub)
SF_HPP_BINARY(mul)
SF_HPP_BINARY(div)
SF_HPP_BINARY(pow)
SF_HPP_BINARY(maximum)
SF_HPP_BINARY(minimum)
SF_HPP_BINARY(atan2)
SF_HPP_BINARY(lt)
SF_HPP_BINARY(le)
SF_HPP_BINARY(gt)
SF_HPP_BINARY(ge)
SF_HPP_BINARY(eq)
SF_HPP_BINARY(ne)
#undef SF_HPP_BINARY

/** torch.where(cond, a, b). */
inline Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
    sf_tensor* out = nullptr;
    detail::check(sf_where(cond.get(), a.get(), b.get(), &out));
    return Tensor::adopt(out);
}
inline Tensor where(const Tensor& cond, const Tensor& a, double b) { return where(cond, a, scalar(b)); }
inline Tensor where(const Tensor& cond, double a, const Tensor& b) { return where(cond, scalar(a), b); }

#define SF_HPP_OPERATOR(op, name)                                                            \
    inline Tensor operator op(const Tensor& a, const Tensor& b) { return name(a, b); }       \
    inline Tensor operator op(const Tensor& a, double b) { return name(a, b); }              \
    inline Tensor operator op(double a, const Tensor& b) { return name(a, b); }
SF_HPP_OPERATOR(+, add)
SF_HPP_OPERATOR(-, sub)
SF_HPP_OPERATOR(*, mul)
SF_HPP_OPERATOR(/, div)
SF_HPP_OPERATOR(<, lt)
SF_HPP_OPERATOR(<=, le)
SF_HPP_OPERATOR(>, gt)
SF_HPP_OPERATOR(>=, ge)
SF_HPP_OPERATOR(==, eq)
SF_HPP_OPERATOR(!=, ne)
#undef SF_HPP_OPERATOR

inline Tensor operator-(const Tensor& x) { return neg(x); }

// MARK: - Reductions

#define SF_HPP_REDUCTION(name)                                                                \
    inline Tensor name(const Tensor& x, const IntList& dims = {}, bool keepdim = false) {     \
        sf_tensor* out = nullptr;                                                             \
        detail::check(sf_##name(x.get(), dims.data(), dims.size(), keepdim, &out));           \
        return Tensor::adopt(out);                                                            \
    }
SF_HPP_REDUCTION(sum)
SF_HPP_REDUCTION(prod)
SF_HPP_REDUCTION(amax)
SF_HPP_REDUCTION(amin)
SF_HPP_REDUCTION(argmax)
SF_HPP_REDUCTION(argmin)
SF_HPP_REDUCTION(mean)
SF_HPP_REDUCTION(logsumexp)
#undef SF_HPP_REDUCTION

/** torch.var with `correction` (1 = unbiased). dims {} means all. */
inline Tensor var(const Tensor& x, const IntList& dims = {}, int64_t correction = 1, bool keepdim = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_var(x.get(), dims.data(), dims.size(), correction, keepdim, &out));
    return Tensor::adopt(out);
}

/** torch.std: sqrt(var). */
inline Tensor std(const Tensor& x, const IntList& dims = {}, int64_t correction = 1, bool keepdim = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_std(x.get(), dims.data(), dims.size(), correction, keepdim, &out));
    return Tensor::adopt(out);
}

/** torch.softmax(x, dim). */
inline Tensor softmax(const Tensor& x, int64_t dim) {
    sf_tensor* out = nullptr;
    detail::check(sf_softmax(x.get(), dim, &out));
    return Tensor::adopt(out);
}

/** torch.log_softmax(x, dim). */
inline Tensor log_softmax(const Tensor& x, int64_t dim) {
    sf_tensor* out = nullptr;
    detail::check(sf_log_softmax(x.get(), dim, &out));
    return Tensor::adopt(out);
}

// MARK: - Movement

/** x.reshape(shape); one entry may be -1. */
inline Tensor reshape(const Tensor& x, const IntList& shape) {
    sf_tensor* out = nullptr;
    detail::check(sf_reshape(x.get(), shape.data(), shape.size(), &out));
    return Tensor::adopt(out);
}

/** x.permute(dims). */
inline Tensor permute(const Tensor& x, const IntList& dims) {
    sf_tensor* out = nullptr;
    detail::check(sf_permute(x.get(), dims.data(), dims.size(), &out));
    return Tensor::adopt(out);
}

/** x.transpose(dim0, dim1). */
inline Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
    sf_tensor* out = nullptr;
    detail::check(sf_transpose(x.get(), dim0, dim1, &out));
    return Tensor::adopt(out);
}

/** x.expand(shape) / torch.broadcast_to; -1 keeps a dim. */
inline Tensor expand(const Tensor& x, const IntList& shape) {
    sf_tensor* out = nullptr;
    detail::check(sf_expand(x.get(), shape.data(), shape.size(), &out));
    return Tensor::adopt(out);
}

/** x.squeeze(dims); {} squeezes every size-1 dim. */
inline Tensor squeeze(const Tensor& x, const IntList& dims = {}) {
    sf_tensor* out = nullptr;
    detail::check(sf_squeeze(x.get(), dims.data(), dims.size(), &out));
    return Tensor::adopt(out);
}

/** x.unsqueeze(dim). */
inline Tensor unsqueeze(const Tensor& x, int64_t dim) {
    sf_tensor* out = nullptr;
    detail::check(sf_unsqueeze(x.get(), dim, &out));
    return Tensor::adopt(out);
}

/** x[start:stop:step] along dim (Python slice rules; step > 0). */
inline Tensor slice(const Tensor& x, int64_t dim = 0, int64_t start = 0,
                    int64_t stop = std::numeric_limits<int64_t>::max(), int64_t step = 1) {
    sf_tensor* out = nullptr;
    detail::check(sf_slice(x.get(), dim, start, stop, step, &out));
    return Tensor::adopt(out);
}

/** torch.flip(x, dims). */
inline Tensor flip(const Tensor& x, const IntList& dims) {
    sf_tensor* out = nullptr;
    detail::check(sf_flip(x.get(), dims.data(), dims.size(), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.pad(x, pad, value=value): (left, right) pairs from the last dim. */
inline Tensor pad(const Tensor& x, const IntList& pad, double value = 0) {
    sf_tensor* out = nullptr;
    detail::check(sf_pad(x.get(), pad.data(), pad.size(), value, &out));
    return Tensor::adopt(out);
}

/** torch.cat(tensors, dim). */
inline Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0) {
    std::vector<sf_tensor*> raw = detail::handles(tensors);
    sf_tensor* out = nullptr;
    detail::check(sf_cat(raw.data(), raw.size(), dim, &out));
    return Tensor::adopt(out);
}

/** torch.stack(tensors, dim). */
inline Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0) {
    std::vector<sf_tensor*> raw = detail::handles(tensors);
    sf_tensor* out = nullptr;
    detail::check(sf_stack(raw.data(), raw.size(), dim, &out));
    return Tensor::adopt(out);
}

// MARK: - Contraction, convolution, indexing

/** torch.matmul (the @ operator). */
inline Tensor matmul(const Tensor& a, const Tensor& b) {
    sf_tensor* out = nullptr;
    detail::check(sf_matmul(a.get(), b.get(), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.linear: x @ weight^T + bias (bias optional). */
inline Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor()) {
    sf_tensor* out = nullptr;
    detail::check(sf_linear(x.get(), weight.get(), bias.get(), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.conv2d (bias optional). */
inline Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), IntPair stride = 1,
                     IntPair padding = 0, IntPair dilation = 1, int64_t groups = 1) {
    sf_tensor* out = nullptr;
    detail::check(sf_conv2d(x.get(), weight.get(), bias.get(), stride.values.data(), padding.values.data(),
                            dilation.values.data(), groups, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.conv_transpose2d (bias optional; torch's argument order: groups before dilation). */
inline Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), IntPair stride = 1,
                               IntPair padding = 0, IntPair output_padding = 0, int64_t groups = 1,
                               IntPair dilation = 1) {
    sf_tensor* out = nullptr;
    detail::check(sf_conv_transpose2d(x.get(), weight.get(), bias.get(), stride.values.data(), padding.values.data(),
                                      output_padding.values.data(), dilation.values.data(), groups, &out));
    return Tensor::adopt(out);
}

// MARK: - Linear algebra (torch.linalg on LAPACK)

/** torch.linalg: every function is differentiable and batchable; failures throw sf::Error. */
namespace linalg {

/** torch.linalg.solve: X with A X = B (left) or X A = B; B may be a vector. */
inline Tensor solve(const Tensor& a, const Tensor& b, bool left = true) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_solve(a.get(), b.get(), left, &out));
    return Tensor::adopt(out);
}

/** torch.linalg.solve_triangular(A, B, upper, left, unitriangular). */
inline Tensor solve_triangular(const Tensor& a, const Tensor& b, bool upper, bool left = true, bool unitriangular = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_solve_triangular(a.get(), b.get(), upper, left, unitriangular, &out));
    return Tensor::adopt(out);
}

/** torch.linalg.cholesky: L with A = L L^T (U = L^T when upper). */
inline Tensor cholesky(const Tensor& a, bool upper = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_cholesky(a.get(), upper, &out));
    return Tensor::adopt(out);
}

/** torch.cholesky_solve(B, L, upper): X with L L^T X = B. */
inline Tensor cholesky_solve(const Tensor& b, const Tensor& factor, bool upper = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_cholesky_solve(b.get(), factor.get(), upper, &out));
    return Tensor::adopt(out);
}

/** torch.linalg.inv. */
inline Tensor inv(const Tensor& a) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_inv(a.get(), &out));
    return Tensor::adopt(out);
}

/** torch.linalg.det. */
inline Tensor det(const Tensor& a) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_det(a.get(), &out));
    return Tensor::adopt(out);
}

/** torch.linalg.slogdet: (sign, logabsdet). */
inline std::pair<Tensor, Tensor> slogdet(const Tensor& a) {
    sf_tensor* sign = nullptr;
    sf_tensor* logabsdet = nullptr;
    detail::check(sf_linalg_slogdet(a.get(), &sign, &logabsdet));
    return {Tensor::adopt(sign), Tensor::adopt(logabsdet)};
}

/** torch.logdet. */
inline Tensor logdet(const Tensor& a) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_logdet(a.get(), &out));
    return Tensor::adopt(out);
}

/** torch.linalg.eigh: (eigenvalues ascending, eigenvectors as columns); upper reads UPLO='U'. */
inline std::pair<Tensor, Tensor> eigh(const Tensor& a, bool upper = false) {
    sf_tensor* values = nullptr;
    sf_tensor* vectors = nullptr;
    detail::check(sf_linalg_eigh(a.get(), upper, &values, &vectors));
    return {Tensor::adopt(values), Tensor::adopt(vectors)};
}

/** torch.linalg.eigvalsh. */
inline Tensor eigvalsh(const Tensor& a, bool upper = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_eigvalsh(a.get(), upper, &out));
    return Tensor::adopt(out);
}

/** Result of torch.linalg.svd. */
struct SVD {
    Tensor U, S, Vh;
};

/** torch.linalg.svd(A, full_matrices). */
inline SVD svd(const Tensor& a, bool full_matrices = true) {
    sf_tensor* u = nullptr;
    sf_tensor* s = nullptr;
    sf_tensor* vh = nullptr;
    detail::check(sf_linalg_svd(a.get(), full_matrices, &u, &s, &vh));
    return {Tensor::adopt(u), Tensor::adopt(s), Tensor::adopt(vh)};
}

/** torch.linalg.svdvals. */
inline Tensor svdvals(const Tensor& a) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_svdvals(a.get(), &out));
    return Tensor::adopt(out);
}

/** torch.linalg.pinv(A, atol, rtol); rtol NaN is torch's default. */
inline Tensor pinv(const Tensor& a, double atol = 0.0, double rtol = std::numeric_limits<double>::quiet_NaN()) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_pinv(a.get(), atol, rtol, &out));
    return Tensor::adopt(out);
}

/** torch.linalg.qr(A, mode): (Q, R); mode "reduced", "complete" or "r". */
inline std::pair<Tensor, Tensor> qr(const Tensor& a, const std::string& mode = "reduced") {
    sf_tensor* q = nullptr;
    sf_tensor* r = nullptr;
    detail::check(sf_linalg_qr(a.get(), mode.c_str(), &q, &r));
    return {Tensor::adopt(q), Tensor::adopt(r)};
}

/** torch.linalg.lstsq(A, B, rcond) for full-rank A: (solution, rank); rcond NaN is torch's default. */
inline std::pair<Tensor, Tensor> lstsq(const Tensor& a, const Tensor& b,
                                       double rcond = std::numeric_limits<double>::quiet_NaN()) {
    sf_tensor* solution = nullptr;
    sf_tensor* rank = nullptr;
    detail::check(sf_linalg_lstsq(a.get(), b.get(), rcond, &solution, &rank));
    return {Tensor::adopt(solution), Tensor::adopt(rank)};
}

/** torch.linalg.lu_factor: (LU, pivots int32 1-based). */
inline std::pair<Tensor, Tensor> lu_factor(const Tensor& a) {
    sf_tensor* lu = nullptr;
    sf_tensor* pivots = nullptr;
    detail::check(sf_linalg_lu_factor(a.get(), &lu, &pivots));
    return {Tensor::adopt(lu), Tensor::adopt(pivots)};
}

/** torch.linalg.lu_solve(LU, pivots, B, left, adjoint). */
inline Tensor lu_solve(const Tensor& lu, const Tensor& pivots, const Tensor& b, bool left = true, bool adjoint = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_linalg_lu_solve(lu.get(), pivots.get(), b.get(), left, adjoint, &out));
    return Tensor::adopt(out);
}

}  // namespace linalg

/** torch.gather(x, dim, index). */
inline Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
    sf_tensor* out = nullptr;
    detail::check(sf_gather(x.get(), dim, index.get(), &out));
    return Tensor::adopt(out);
}

/** torch.index_select(x, dim, index). */
inline Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
    sf_tensor* out = nullptr;
    detail::check(sf_index_select(x.get(), dim, index.get(), &out));
    return Tensor::adopt(out);
}

/** torch.scatter_add(x, dim, index, src), out of place. */
inline Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
    sf_tensor* out = nullptr;
    detail::check(sf_scatter_add(x.get(), dim, index.get(), src.get(), &out));
    return Tensor::adopt(out);
}

// MARK: - Tensor ops: einsum, diagonals, triangles, scans, sorting, norms, roll, repeat, tile

/** torch.einsum(equation, operands): diagonals, traces, "..." and broadcasting; contractions are GEMMs. */
inline Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands) {
    std::vector<sf_tensor*> raw = detail::handles(operands);
    sf_tensor* out = nullptr;
    detail::check(sf_einsum(equation.c_str(), raw.data(), raw.size(), &out));
    return Tensor::adopt(out);
}

/** torch.diagonal(x, offset, dim1, dim2). */
inline Tensor diagonal(const Tensor& x, int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1) {
    sf_tensor* out = nullptr;
    detail::check(sf_diagonal(x.get(), offset, dim1, dim2, &out));
    return Tensor::adopt(out);
}

/** torch.diag_embed(x, offset, dim1, dim2). */
inline Tensor diag_embed(const Tensor& x, int64_t offset = 0, int64_t dim1 = -2, int64_t dim2 = -1) {
    sf_tensor* out = nullptr;
    detail::check(sf_diag_embed(x.get(), offset, dim1, dim2, &out));
    return Tensor::adopt(out);
}

/** torch.diag(x, diagonal): 1-D to a matrix, 2-D to its diagonal. */
inline Tensor diag(const Tensor& x, int64_t diagonal = 0) {
    sf_tensor* out = nullptr;
    detail::check(sf_diag(x.get(), diagonal, &out));
    return Tensor::adopt(out);
}

/** torch.trace(x) of a 2-D tensor. */
inline Tensor trace(const Tensor& x) {
    sf_tensor* out = nullptr;
    detail::check(sf_trace(x.get(), &out));
    return Tensor::adopt(out);
}

/** torch.tril(x, diagonal). */
inline Tensor tril(const Tensor& x, int64_t diagonal = 0) {
    sf_tensor* out = nullptr;
    detail::check(sf_tril(x.get(), diagonal, &out));
    return Tensor::adopt(out);
}

/** torch.triu(x, diagonal). */
inline Tensor triu(const Tensor& x, int64_t diagonal = 0) {
    sf_tensor* out = nullptr;
    detail::check(sf_triu(x.get(), diagonal, &out));
    return Tensor::adopt(out);
}

/** torch.cumsum(x, dim). */
inline Tensor cumsum(const Tensor& x, int64_t dim) {
    sf_tensor* out = nullptr;
    detail::check(sf_cumsum(x.get(), dim, &out));
    return Tensor::adopt(out);
}

/** torch.cumprod(x, dim). */
inline Tensor cumprod(const Tensor& x, int64_t dim) {
    sf_tensor* out = nullptr;
    detail::check(sf_cumprod(x.get(), dim, &out));
    return Tensor::adopt(out);
}

/** torch.sort(x, dim, descending) (stable): {values, int64 indices}. */
inline std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false) {
    sf_tensor* values = nullptr;
    sf_tensor* indices = nullptr;
    detail::check(sf_sort(x.get(), dim, descending, &values, &indices));
    return {Tensor::adopt(values), Tensor::adopt(indices)};
}

/** torch.argsort(x, dim, descending) (stable). */
inline Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_argsort(x.get(), dim, descending, &out));
    return Tensor::adopt(out);
}

/** torch.topk(x, k, dim, largest): {values, int64 indices}, sorted. */
inline std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true) {
    sf_tensor* values = nullptr;
    sf_tensor* indices = nullptr;
    detail::check(sf_topk(x.get(), k, dim, largest, &values, &indices));
    return {Tensor::adopt(values), Tensor::adopt(indices)};
}

/** torch.linalg.vector_norm(x, ord, dims, keepdim); dims {} means all. */
inline Tensor vector_norm(const Tensor& x, double ord = 2, const IntList& dims = {}, bool keepdim = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_vector_norm(x.get(), ord, dims.data(), dims.size(), keepdim, &out));
    return Tensor::adopt(out);
}

/** torch.linalg.matrix_norm(x, ord, {dim0, dim1}, keepdim); ord "fro", "1", "-1", "inf", "-inf". */
inline Tensor matrix_norm(const Tensor& x, const std::string& ord = "fro", int64_t dim0 = -2, int64_t dim1 = -1,
                          bool keepdim = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_matrix_norm(x.get(), ord.c_str(), dim0, dim1, keepdim, &out));
    return Tensor::adopt(out);
}

/** torch.roll(x, shifts, dims); dims {} rolls the flattened tensor by one shift. */
inline Tensor roll(const Tensor& x, const IntList& shifts, const IntList& dims = {}) {
    sf_tensor* out = nullptr;
    detail::check(sf_roll(x.get(), shifts.data(), shifts.size(), dims.data(), dims.size(), &out));
    return Tensor::adopt(out);
}

/** x.repeat(repeats) (torch.Tensor.repeat). */
inline Tensor repeat(const Tensor& x, const IntList& repeats) {
    sf_tensor* out = nullptr;
    detail::check(sf_repeat(x.get(), repeats.data(), repeats.size(), &out));
    return Tensor::adopt(out);
}

/** torch.tile(x, dims). */
inline Tensor tile(const Tensor& x, const IntList& dims) {
    sf_tensor* out = nullptr;
    detail::check(sf_tile(x.get(), dims.data(), dims.size(), &out));
    return Tensor::adopt(out);
}

// MARK: - Neural-network composites

/** torch.nn.functional.layer_norm (weight and bias optional). */
inline Tensor layer_norm(const Tensor& x, const IntList& normalized_shape, const Tensor& weight = Tensor(),
                         const Tensor& bias = Tensor(), double eps = 1e-5) {
    sf_tensor* out = nullptr;
    detail::check(sf_layer_norm(x.get(), normalized_shape.data(), normalized_shape.size(), weight.get(), bias.get(),
                                eps, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.cross_entropy with class-index targets. */
inline Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::Mean) {
    sf_tensor* out = nullptr;
    detail::check(sf_cross_entropy(logits.get(), target.get(), static_cast<sf_reduction>(reduction), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.mse_loss. */
inline Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean) {
    sf_tensor* out = nullptr;
    detail::check(sf_mse_loss(input.get(), target.get(), static_cast<sf_reduction>(reduction), &out));
    return Tensor::adopt(out);
}

// MARK: - Neural-network functions: pooling, normalization, losses, activations, attention

/** torch.nn.functional.max_pool2d (stride = kernel_size as torch's default). */
inline Tensor max_pool2d(const Tensor& x, IntPair kernel_size, IntPair stride, IntPair padding = 0, IntPair dilation = 1,
                         bool ceil_mode = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_max_pool2d(x.get(), kernel_size.values.data(), stride.values.data(), padding.values.data(),
                                dilation.values.data(), ceil_mode, &out, nullptr));
    return Tensor::adopt(out);
}

/** max_pool2d with return_indices: (values, int64 positions h * W + w within each plane). */
inline std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, IntPair kernel_size, IntPair stride,
                                                          IntPair padding = 0, IntPair dilation = 1,
                                                          bool ceil_mode = false) {
    sf_tensor* out = nullptr;
    sf_tensor* indices = nullptr;
    detail::check(sf_max_pool2d(x.get(), kernel_size.values.data(), stride.values.data(), padding.values.data(),
                                dilation.values.data(), ceil_mode, &out, &indices));
    return {Tensor::adopt(out), Tensor::adopt(indices)};
}

/** torch.nn.functional.max_pool1d. */
inline Tensor max_pool1d(const Tensor& x, int64_t kernel_size, int64_t stride, int64_t padding = 0, int64_t dilation = 1,
                         bool ceil_mode = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_max_pool1d(x.get(), kernel_size, stride, padding, dilation, ceil_mode, &out, nullptr));
    return Tensor::adopt(out);
}

/** torch.nn.functional.avg_pool2d (divisor_override 0: none). */
inline Tensor avg_pool2d(const Tensor& x, IntPair kernel_size, IntPair stride, IntPair padding = 0,
                         bool ceil_mode = false, bool count_include_pad = true, int64_t divisor_override = 0) {
    sf_tensor* out = nullptr;
    detail::check(sf_avg_pool2d(x.get(), kernel_size.values.data(), stride.values.data(), padding.values.data(),
                                ceil_mode, count_include_pad, divisor_override, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.avg_pool1d. */
inline Tensor avg_pool1d(const Tensor& x, int64_t kernel_size, int64_t stride, int64_t padding = 0,
                         bool ceil_mode = false, bool count_include_pad = true) {
    sf_tensor* out = nullptr;
    detail::check(sf_avg_pool1d(x.get(), kernel_size, stride, padding, ceil_mode, count_include_pad, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.adaptive_avg_pool2d. */
inline Tensor adaptive_avg_pool2d(const Tensor& x, IntPair output_size) {
    sf_tensor* out = nullptr;
    detail::check(sf_adaptive_avg_pool2d(x.get(), output_size.values.data(), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.conv1d (bias optional). */
inline Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), int64_t stride = 1,
                     int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1) {
    sf_tensor* out = nullptr;
    detail::check(sf_conv1d(x.get(), weight.get(), bias.get(), stride, padding, dilation, groups, &out));
    return Tensor::adopt(out);
}

/** batch_norm's results: the output and, when training with running statistics, their new values. */
struct BatchNormResult {
    Tensor output, running_mean, running_var;
};

/**
 * torch.nn.functional.batch_norm, with the running statistics returned updated (empty Tensors when
 * not training or not given) instead of updated in place.
 */
inline BatchNormResult batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = false,
                                  double momentum = 0.1, double eps = 1e-5) {
    sf_tensor *out = nullptr, *mean = nullptr, *var = nullptr;
    detail::check(sf_batch_norm(x.get(), running_mean.get(), running_var.get(), weight.get(), bias.get(), training,
                                momentum, eps, &out, &mean, &var));
    return {Tensor::adopt(out), Tensor::adopt(mean), Tensor::adopt(var)};
}

/** torch.nn.functional.group_norm (weight and bias optional). */
inline Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(),
                         const Tensor& bias = Tensor(), double eps = 1e-5) {
    sf_tensor* out = nullptr;
    detail::check(sf_group_norm(x.get(), num_groups, weight.get(), bias.get(), eps, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.embedding without padding_idx. */
inline Tensor embedding(const Tensor& indices, const Tensor& weight) {
    sf_tensor* out = nullptr;
    detail::check(sf_embedding(indices.get(), weight.get(), nullptr, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.embedding with padding_idx. */
inline Tensor embedding(const Tensor& indices, const Tensor& weight, int64_t padding_idx) {
    sf_tensor* out = nullptr;
    detail::check(sf_embedding(indices.get(), weight.get(), &padding_idx, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.nll_loss (weight optional). */
inline Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                       int64_t ignore_index = -100, Reduction reduction = Reduction::Mean) {
    sf_tensor* out = nullptr;
    detail::check(sf_nll_loss(input.get(), target.get(), weight.get(), ignore_index,
                              static_cast<sf_reduction>(reduction), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.l1_loss. */
inline Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean) {
    sf_tensor* out = nullptr;
    detail::check(sf_l1_loss(input.get(), target.get(), static_cast<sf_reduction>(reduction), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.smooth_l1_loss. */
inline Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                             double beta = 1.0) {
    sf_tensor* out = nullptr;
    detail::check(sf_smooth_l1_loss(input.get(), target.get(), static_cast<sf_reduction>(reduction), beta, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.huber_loss. */
inline Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                         double delta = 1.0) {
    sf_tensor* out = nullptr;
    detail::check(sf_huber_loss(input.get(), target.get(), static_cast<sf_reduction>(reduction), delta, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.binary_cross_entropy (weight optional). */
inline Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                                   Reduction reduction = Reduction::Mean) {
    sf_tensor* out = nullptr;
    detail::check(sf_binary_cross_entropy(input.get(), target.get(), weight.get(),
                                          static_cast<sf_reduction>(reduction), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.binary_cross_entropy_with_logits (weight and pos_weight optional). */
inline Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                               const Tensor& weight = Tensor(), const Tensor& pos_weight = Tensor(),
                                               Reduction reduction = Reduction::Mean) {
    sf_tensor* out = nullptr;
    detail::check(sf_binary_cross_entropy_with_logits(input.get(), target.get(), weight.get(), pos_weight.get(),
                                                      static_cast<sf_reduction>(reduction), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.kl_div ('batchmean' is the Sum result divided by input's first size). */
inline Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                     bool log_target = false) {
    sf_tensor* out = nullptr;
    detail::check(sf_kl_div(input.get(), target.get(), static_cast<sf_reduction>(reduction), log_target, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.softplus. */
inline Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0) {
    sf_tensor* out = nullptr;
    detail::check(sf_softplus(x.get(), beta, threshold, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.elu. */
inline Tensor elu(const Tensor& x, double alpha = 1.0) {
    sf_tensor* out = nullptr;
    detail::check(sf_elu(x.get(), alpha, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.leaky_relu. */
inline Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01) {
    sf_tensor* out = nullptr;
    detail::check(sf_leaky_relu(x.get(), negative_slope, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.logsigmoid. */
inline Tensor logsigmoid(const Tensor& x) {
    sf_tensor* out = nullptr;
    detail::check(sf_logsigmoid(x.get(), &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.normalize. */
inline Tensor normalize(const Tensor& x, double p = 2.0, int64_t dim = 1, double eps = 1e-12) {
    sf_tensor* out = nullptr;
    detail::check(sf_normalize(x.get(), p, dim, eps, &out));
    return Tensor::adopt(out);
}

/** torch.nn.functional.cosine_similarity. */
inline Tensor cosine_similarity(const Tensor& x1, const Tensor& x2, int64_t dim = 1, double eps = 1e-8) {
    sf_tensor* out = nullptr;
    detail::check(sf_cosine_similarity(x1.get(), x2.get(), dim, eps, &out));
    return Tensor::adopt(out);
}

/** scaled_dot_product_attention's optional arguments. */
struct AttentionOptions {
    Tensor attn_mask;        /**< bool (true takes part) or float (added); empty: none. */
    double dropout_p = 0.0;
    bool is_causal = false;
    bool has_scale = false;  /**< false: scale = 1 / sqrt(E). */
    double scale = 1.0;
};

/** torch.nn.functional.scaled_dot_product_attention. */
inline Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                           const AttentionOptions& options = AttentionOptions()) {
    sf_tensor* out = nullptr;
    detail::check(sf_scaled_dot_product_attention(query.get(), key.get(), value.get(), options.attn_mask.get(),
                                                  options.dropout_p, options.is_causal,
                                                  options.has_scale ? &options.scale : nullptr, &out));
    return Tensor::adopt(out);
}

// MARK: - DLPack

/** Calls a DLPack tensor's deleter (when it has one): the deleter of DLPack unique_ptrs. */
struct DLPackDeleter {
    void operator()(DLManagedTensor* m) const noexcept {
        if (m && m->deleter) m->deleter(m);
    }
    void operator()(DLManagedTensorVersioned* m) const noexcept {
        if (m && m->deleter) m->deleter(m);
    }
};
/** An owned legacy DLPack tensor; destroying it calls its deleter. */
using DLPackTensor = std::unique_ptr<DLManagedTensor, DLPackDeleter>;
/** An owned DLPack 1.x tensor; destroying it calls its deleter. */
using DLPackTensorVersioned = std::unique_ptr<DLManagedTensorVersioned, DLPackDeleter>;

/** Exports x as a legacy DLPack tensor viewing the same (read-only) memory. */
inline DLPackTensor to_dlpack(const Tensor& x) {
    DLManagedTensor* out = nullptr;
    detail::check(sf_to_dlpack(x.get(), &out));
    return DLPackTensor(out);
}

/** Exports x as a DLPack 1.x tensor viewing the same (read-only) memory. */
inline DLPackTensorVersioned to_dlpack_versioned(const Tensor& x) {
    DLManagedTensorVersioned* out = nullptr;
    detail::check(sf_to_dlpack_versioned(x.get(), &out));
    return DLPackTensorVersioned(out);
}

/**
 * Imports a legacy DLPack tensor without copying: sf::from_dlpack(std::move(managed)). On success
 * the library owns it and `managed` is left empty; when this throws, `managed` still owns it.
 */
inline Tensor from_dlpack(DLPackTensor&& managed) {
    sf_tensor* out = nullptr;
    detail::check(sf_from_dlpack(managed.get(), &out));
    (void)managed.release();
    return Tensor::adopt(out);
}

/** Imports a DLPack 1.x tensor without copying; ownership as for the legacy overload. */
inline Tensor from_dlpack(DLPackTensorVersioned&& managed) {
    sf_tensor* out = nullptr;
    detail::check(sf_from_dlpack_versioned(managed.get(), &out));
    (void)managed.release();
    return Tensor::adopt(out);
}

/** Imports a raw legacy DLPack tensor (C ownership rules: on failure the caller still owns it). */
inline Tensor from_dlpack(DLManagedTensor* managed) {
    sf_tensor* out = nullptr;
    detail::check(sf_from_dlpack(managed, &out));
    return Tensor::adopt(out);
}

/** Imports a raw DLPack 1.x tensor (C ownership rules: on failure the caller still owns it). */
inline Tensor from_dlpack(DLManagedTensorVersioned* managed) {
    sf_tensor* out = nullptr;
    detail::check(sf_from_dlpack_versioned(managed, &out));
    return Tensor::adopt(out);
}

// MARK: - Function

class Function;

namespace detail {

/** The largest arity deduced from a callable's parameter list. */
inline constexpr size_t max_deduced_arity = 12;
inline constexpr size_t no_arity = static_cast<size_t>(-1);

template <class F, class Seq> struct invocable_with_tensors;
template <class F, size_t... I>
struct invocable_with_tensors<F, std::index_sequence<I...>>
    : std::is_invocable<F&, decltype((void)I, std::declval<const Tensor&>())...> {};

/** The smallest N for which F can be called with N `const Tensor&`s, or no_arity. */
template <class F, size_t N = 0> constexpr size_t positional_arity() {
    if constexpr (N > max_deduced_arity) {
        return no_arity;
    } else if constexpr (invocable_with_tensors<F, std::make_index_sequence<N>>::value) {
        return N;
    } else {
        return positional_arity<F, N + 1>();
    }
}

/** Whether F is a callable with a deducible positional arity (other than Function itself). */
template <class F> struct has_positional_arity : std::bool_constant<positional_arity<F>() != no_arity> {};
template <class F>
struct is_positional_callable
    : std::conjunction<std::negation<std::is_same<F, Function>>, std::negation<std::is_same<F, Tensor>>,
                       has_positional_arity<F>> {};

template <class R, class = void> struct is_tuple_like : std::false_type {};
template <class R> struct is_tuple_like<R, std::void_t<decltype(std::tuple_size<R>::value)>> : std::true_type {};

/** How many outputs a result of type R stands for: 1 for a Tensor, K for a tuple-like of K. */
template <class R> constexpr size_t result_count() {
    if constexpr (std::is_convertible<R, Tensor>::value) {
        return 1;
    } else if constexpr (is_tuple_like<R>::value) {
        return std::tuple_size<R>::value;
    } else {
        return no_arity;
    }
}

/** A callable's result as the list of outputs. */
template <class R> std::vector<Tensor> to_outputs(R&& result) {
    using Plain = std::decay_t<R>;
    if constexpr (std::is_convertible<Plain, Tensor>::value && !std::is_same<Plain, std::vector<Tensor>>::value) {
        std::vector<Tensor> outputs;
        outputs.push_back(Tensor(std::forward<R>(result)));
        return outputs;
    } else if constexpr (std::is_same<Plain, std::vector<Tensor>>::value) {
        return std::forward<R>(result);
    } else {
        return std::apply([](auto&&... ts) { return std::vector<Tensor>{Tensor(std::forward<decltype(ts)>(ts))...}; },
                          std::forward<R>(result));
    }
}

template <class F, size_t... I>
decltype(auto) call_positional(F& f, const std::vector<Tensor>& in, std::index_sequence<I...>) {
    return f(in[I]...);
}

/** Borrowed callback arguments as Tensors (each holding a reference of its own). */
inline std::vector<Tensor> borrow_all(sf_tensor* const* handles, size_t n) {
    std::vector<Tensor> tensors;
    tensors.reserve(n);
    for (size_t i = 0; i < n; i++) tensors.push_back(Tensor::borrow(handles[i]));
    return tensors;
}

/**
 * Stores a callable's results in a callback's `outputs` (new references), after checking that
 * there are `n_outputs` of them and that each is defined; otherwise sets the library error and
 * returns 1. `who` names the callable ("sf::Function: the callable"), `noun` its results
 * ("outputs").
 */
inline int store_results(const std::string& who, const char* noun, std::vector<Tensor>& results, sf_tensor** outputs,
                         size_t n_outputs) {
    if (results.size() != n_outputs) {
        sf_set_error((who + " returned " + std::to_string(results.size()) + " " + noun + ", expected " +
                      std::to_string(n_outputs))
                         .c_str());
        return 1;
    }
    for (size_t i = 0; i < n_outputs; i++) {
        if (!results[i].defined()) {
            sf_set_error((who + " returned an undefined sf::Tensor (result " + std::to_string(i) + ")").c_str());
            return 1;
        }
    }
    for (size_t i = 0; i < n_outputs; i++) outputs[i] = results[i].release();
    return 0;
}

/**
 * The body of every trampoline: runs `body` (returning the callback's status) so that no
 * exception unwinds through the library's frames. An exception is parked for check_call, which
 * rethrows it to the caller, and its what() becomes the library's error message.
 */
template <class Body> int guarded(const char* who, Body&& body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        pending_exception() = std::current_exception();
        sf_set_error(e.what());
    } catch (...) {
        pending_exception() = std::current_exception();
        sf_set_error(who);
    }
    return 1;
}

/** The free_user_data of a context the wrapper allocated with `new T`. */
template <class T> void destroy(void* user_data) noexcept { delete static_cast<T*>(user_data); }

/**
 * The user_data of a function made from a C++ callable G (called with the inputs as a vector,
 * returning the outputs as a vector). The library frees it through destroy<Callback>().
 */
template <class G> struct Callback {
    G fn;

    static int invoke(void* user_data, sf_tensor* const* inputs, size_t n_inputs, sf_tensor** outputs,
                      size_t n_outputs) noexcept {
        return guarded("sf::Function: the callable threw an exception that is not a std::exception", [&] {
            std::vector<Tensor> results = static_cast<Callback*>(user_data)->fn(borrow_all(inputs, n_inputs));
            return store_results("sf::Function: the callable", "outputs", results, outputs, n_outputs);
        });
    }
};

}  // namespace detail

/**
 * A function from tensors to tensors: an owning handle to an sf_function (copy = retain). Made
 * from a C++ callable or returned by a transform; called with f(x, y) or f({x, y}), which return
 * the outputs as a vector.
 */
class Function {
public:
    Function() noexcept = default;
    Function(const Function& other) noexcept : handle_(other.handle_) { sf_function_retain(handle_); }
    Function(Function&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Function& operator=(const Function& other) noexcept {
        if (handle_ != other.handle_) {
            sf_function_retain(other.handle_);
            sf_function_release(std::exchange(handle_, other.handle_));
        }
        return *this;
    }
    Function& operator=(Function&& other) noexcept {
        if (this != &other) sf_function_release(std::exchange(handle_, std::exchange(other.handle_, nullptr)));
        return *this;
    }
    ~Function() {
        if (handle_) sf_function_release(handle_);
    }

    /**
     * A function from a callable taking N `const sf::Tensor&`s (N, the input count, is deduced)
     * and returning an sf::Tensor (one output) or a std::array / std::pair / std::tuple of them.
     */
    template <class F, class Plain = std::decay_t<F>,
              std::enable_if_t<detail::is_positional_callable<Plain>::value, int> = 0>
    Function(F&& f) {
        constexpr size_t n_in = detail::positional_arity<Plain>();
        using Result = decltype(detail::call_positional(std::declval<Plain&>(), std::declval<const std::vector<Tensor>&>(),
                                                        std::make_index_sequence<n_in>()));
        constexpr size_t n_out = detail::result_count<std::decay_t<Result>>();
        static_assert(n_out != detail::no_arity && n_out >= 1,
                      "sf::Function: the callable must return an sf::Tensor or a std::array/std::tuple of them; "
                      "for a std::vector result use Function(f, n_inputs, n_outputs) with f taking a vector");
        auto adapter = [fn = Plain(std::forward<F>(f))](const std::vector<Tensor>& in) mutable {
            return detail::to_outputs(detail::call_positional(fn, in, std::make_index_sequence<n_in>()));
        };
        make(std::move(adapter), n_in, n_out);
    }

    /**
     * A function with n_inputs inputs and n_outputs outputs from a callable taking
     * `const std::vector<sf::Tensor>&` and returning std::vector<sf::Tensor> (or one sf::Tensor).
     */
    template <class F, class Plain = std::decay_t<F>,
              std::enable_if_t<std::conjunction<std::negation<std::is_same<Plain, Function>>,
                                                std::is_invocable<Plain&, const std::vector<Tensor>&>>::value,
                               int> = 0>
    Function(F&& f, size_t n_inputs, size_t n_outputs = 1) {
        auto adapter = [fn = Plain(std::forward<F>(f))](const std::vector<Tensor>& in) mutable {
            return detail::to_outputs(fn(in));
        };
        make(std::move(adapter), n_inputs, n_outputs);
    }

    /** Takes over a reference to an sf_function the caller owns. */
    static Function adopt(sf_function* handle) noexcept {
        Function f;
        f.handle_ = handle;
        return f;
    }

    /** The handle, still owned by this Function. */
    sf_function* get() const noexcept { return handle_; }
    /** Gives up ownership of the handle. */
    sf_function* release() noexcept { return std::exchange(handle_, nullptr); }
    /** Whether this Function holds a handle. */
    bool defined() const noexcept { return handle_ != nullptr; }

    /** The number of inputs. */
    size_t n_inputs() const {
        size_t n = 0;
        detail::check(sf_function_arity(handle_, &n, nullptr));
        return n;
    }
    /** The number of outputs. */
    size_t n_outputs() const {
        size_t n = 0;
        detail::check(sf_function_arity(handle_, nullptr, &n));
        return n;
    }

    /** Calls the function (sf_call); a callback's exception is rethrown here. */
    std::vector<Tensor> operator()(const std::vector<Tensor>& inputs) const { return call(detail::handles(inputs)); }

    /** Calls the function with tensors as arguments: f(x, y). */
    template <class... Ts, std::enable_if_t<(std::is_same<std::decay_t<Ts>, Tensor>::value && ...), int> = 0>
    std::vector<Tensor> operator()(const Ts&... inputs) const {
        return call(std::vector<sf_tensor*>{inputs.get()...});
    }

private:
    std::vector<Tensor> call(const std::vector<sf_tensor*>& in) const {
        std::vector<sf_tensor*> out(n_outputs(), nullptr);
        detail::check_call(sf_call(handle_, in.data(), in.size(), out.data(), out.size()));
        return detail::adopt_all(out);
    }

    template <class G> void make(G&& adapter, size_t n_inputs, size_t n_outputs) {
        using Context = detail::Callback<std::decay_t<G>>;
        auto* context = new Context{std::forward<G>(adapter)};
        // The library owns the context from here on, also when this call fails.
        detail::check(sf_function_new(&Context::invoke, context, &detail::destroy<Context>, n_inputs, n_outputs, &handle_));
    }

    sf_function* handle_ = nullptr;
};

// MARK: - Custom differentiable functions

/** What a custom function's forward returns when it saves residuals: its outputs, then the data its VJP needs. */
struct CustomForwardResult {
    std::vector<Tensor> outputs;   /**< the function's outputs (n_outputs). */
    std::vector<Tensor> residuals; /**< saved for the VJP (n_residuals; JAX's `res`, torch's save_for_backward). */
};

/** The arguments of a custom function's VJP rule. */
struct CustomVjpArgs {
    std::vector<Tensor> inputs;     /**< the inputs of the forward call. */
    std::vector<Tensor> outputs;    /**< its outputs. */
    std::vector<Tensor> residuals;  /**< the residuals it saved. */
    std::vector<Tensor> cotangents; /**< one per output, shaped like it (zeros for an output without one). */
};

/** The arguments of a custom function's JVP rule. */
struct CustomJvpArgs {
    std::vector<Tensor> inputs;   /**< the inputs of the forward call. */
    std::vector<Tensor> outputs;  /**< its outputs. */
    std::vector<Tensor> tangents; /**< one per input, shaped like it (zeros for an input without one). */
};

/** The arguments of a custom function's batching rule: its inputs with a batch dim each. */
struct CustomBatchArgs {
    std::vector<Tensor> inputs;   /**< input k is batched along in_dims[k]... */
    std::vector<int64_t> in_dims; /**< ... or sf::not_mapped: the same for every element. */
    int64_t batch_size = 0;       /**< the size of the batched dims. */
};

/** What a batching rule returns: the batched outputs and residuals, with where their batch dims are. */
struct CustomBatchResult {
    std::vector<Tensor> outputs;        /**< n_outputs tensors. */
    std::vector<Tensor> residuals;      /**< n_residuals tensors. */
    std::vector<int64_t> out_dims;      /**< per output: its batch dim or sf::not_mapped; {} means all 0. */
    std::vector<int64_t> residual_dims; /**< per residual, likewise; {} means all 0. */
};

namespace detail {

/**
 * The user_data of a custom function: its rules as type-erased callables. One context serves the
 * four C callbacks (the desc has one user_data); the library frees it through destroy<>().
 */
struct CustomContext {
    size_t n_inputs, n_outputs, n_residuals;
    std::function<CustomForwardResult(const std::vector<Tensor>&)> forward;
    std::function<std::vector<Tensor>(const CustomVjpArgs&)> vjp;
    std::function<std::vector<Tensor>(const CustomJvpArgs&)> jvp;
    std::function<CustomBatchResult(const CustomBatchArgs&)> batch;

    static CustomContext& of(void* user_data) noexcept { return *static_cast<CustomContext*>(user_data); }

    /** Sets the library error for a result list of the wrong length and returns 1. */
    static int wrong_count(const char* who, size_t got_outputs, size_t got_residuals, size_t outputs, size_t residuals) {
        sf_set_error((std::string(who) + " returned " + std::to_string(got_outputs) + " outputs and " +
                      std::to_string(got_residuals) + " residuals, expected " + std::to_string(outputs) + " and " +
                      std::to_string(residuals))
                         .c_str());
        return 1;
    }

    /** Sets the error for argument counts other than the library promised (a library bug, reported, not trusted). */
    static int wrong_arity(const char* who, size_t n_in, size_t n_out, size_t expected_in, size_t expected_out) {
        sf_set_error((std::string(who) + " was called with " + std::to_string(n_in) + " inputs and " + std::to_string(n_out) +
                      " outputs, expected " + std::to_string(expected_in) + " and " + std::to_string(expected_out))
                         .c_str());
        return 1;
    }

    static int forward_callback(void* user_data, sf_tensor* const* inputs, size_t n_in, sf_tensor** outputs,
                                size_t n_out) noexcept {
        return guarded("sf::CustomFunction: the forward threw an exception that is not a std::exception", [&] {
            const CustomContext& c = of(user_data);
            const char* who = "sf::CustomFunction: the forward";
            if (n_in != c.n_inputs || n_out != c.n_outputs + c.n_residuals)
                return wrong_arity(who, n_in, n_out, c.n_inputs, c.n_outputs + c.n_residuals);
            CustomForwardResult result = c.forward(borrow_all(inputs, n_in));
            if (result.outputs.size() != c.n_outputs || result.residuals.size() != c.n_residuals)
                return wrong_count(who, result.outputs.size(), result.residuals.size(), c.n_outputs, c.n_residuals);
            std::vector<Tensor> values = std::move(result.outputs);
            for (Tensor& residual : result.residuals) values.push_back(std::move(residual));
            return store_results(who, "outputs and residuals", values, outputs, n_out);
        });
    }

    static int vjp_callback(void* user_data, sf_tensor* const* inputs, size_t n_in, sf_tensor** outputs,
                            size_t n_out) noexcept {
        return guarded("sf::CustomFunction: the vjp threw an exception that is not a std::exception", [&] {
            const CustomContext& c = of(user_data);
            const char* who = "sf::CustomFunction: the vjp";
            size_t n = c.n_inputs, m = c.n_outputs, r = c.n_residuals;
            if (n_in != n + 2 * m + r || n_out != n) return wrong_arity(who, n_in, n_out, n + 2 * m + r, n);
            CustomVjpArgs args{borrow_all(inputs, n), borrow_all(inputs + n, m), borrow_all(inputs + n + m, r),
                               borrow_all(inputs + n + m + r, m)};
            std::vector<Tensor> cotangents = c.vjp(args);
            return store_results(who, "cotangents", cotangents, outputs, n_out);
        });
    }

    static int jvp_callback(void* user_data, sf_tensor* const* inputs, size_t n_in, sf_tensor** outputs,
                            size_t n_out) noexcept {
        return guarded("sf::CustomFunction: the jvp threw an exception that is not a std::exception", [&] {
            const CustomContext& c = of(user_data);
            const char* who = "sf::CustomFunction: the jvp";
            size_t n = c.n_inputs, m = c.n_outputs;
            if (n_in != 2 * n + m || n_out != m) return wrong_arity(who, n_in, n_out, 2 * n + m, m);
            CustomJvpArgs args{borrow_all(inputs, n), borrow_all(inputs + n, m), borrow_all(inputs + n + m, n)};
            std::vector<Tensor> tangents = c.jvp(args);
            return store_results(who, "tangents", tangents, outputs, n_out);
        });
    }

    static int batch_callback(void* user_data, sf_tensor* const* inputs, const int64_t* in_dims, size_t n_in,
                              int64_t batch_size, sf_tensor** outputs, int64_t* out_dims, size_t n_out) noexcept {
        return guarded("sf::CustomFunction: the batch rule threw an exception that is not a std::exception", [&] {
            const CustomContext& c = of(user_data);
            const char* who = "sf::CustomFunction: the batch rule";
            size_t m = c.n_outputs, r = c.n_residuals;
            if (n_in != c.n_inputs || n_out != m + r) return wrong_arity(who, n_in, n_out, c.n_inputs, m + r);
            CustomBatchArgs args{borrow_all(inputs, n_in), std::vector<int64_t>(in_dims, in_dims + n_in), batch_size};
            CustomBatchResult result = c.batch(args);
            if (result.outputs.size() != m || result.residuals.size() != r)
                return wrong_count(who, result.outputs.size(), result.residuals.size(), m, r);
            if ((!result.out_dims.empty() && result.out_dims.size() != m) ||
                (!result.residual_dims.empty() && result.residual_dims.size() != r)) {
                sf_set_error((std::string(who) + " returned " + std::to_string(result.out_dims.size()) + " out_dims and " +
                              std::to_string(result.residual_dims.size()) + " residual_dims, expected " +
                              std::to_string(m) + " and " + std::to_string(r) + " (or none: all 0)")
                                 .c_str());
                return 1;
            }
            std::vector<Tensor> values = std::move(result.outputs);
            for (Tensor& residual : result.residuals) values.push_back(std::move(residual));
            if (store_results(who, "outputs and residuals", values, outputs, n_out) != 0) return 1;
            for (size_t k = 0; k < m + r; k++) {
                const std::vector<int64_t>& dims = k < m ? result.out_dims : result.residual_dims;
                size_t index = k < m ? k : k - m;
                out_dims[k] = dims.empty() ? 0 : dims[index];
            }
            return 0;
        });
    }
};

/**
 * A copyable callable sharing `f`: std::function needs copyable targets, and a custom function's
 * rules may be move-only (they capture a std::unique_ptr, say). Every function built from one
 * CustomFunction shares the callables.
 */
template <class F> auto share_callable(F&& f) {
    return std::make_shared<std::decay_t<F>>(std::forward<F>(f));
}

/** A forward's result as a CustomForwardResult: a CustomForwardResult, or the outputs alone. */
template <class R> CustomForwardResult to_forward_result(R&& result) {
    if constexpr (std::is_same<std::decay_t<R>, CustomForwardResult>::value) {
        return std::forward<R>(result);
    } else {
        return CustomForwardResult{to_outputs(std::forward<R>(result)), {}};
    }
}

}  // namespace detail

/**
 * A custom differentiable function (torch.autograd.Function; JAX's custom_vjp, custom_jvp and
 * custom_vmap) made from C++ callables: a forward that swiftfunc does not look inside — a host
 * kernel reading values with to_vector() and making tensors with from_data(), say — and rules for
 * its derivatives and batching. It builds an ordinary sf::Function (sf_custom_function_new) that
 * every transform treats as one operation: grad/vjp/jacrev use the VJP rule, jvp/jacfwd the JVP
 * rule, vmap the batching rule or else a loop over the batch (counted by vmap_fallback_count()).
 *
 *     sf::Function softplus = sf::CustomFunction("softplus")
 *         .n_residuals(1)
 *         .forward([](const sf::Tensor& x) {            // the input count is deduced: 1
 *             ... host kernel ...
 *             return sf::CustomForwardResult{{y}, {slope}};
 *         })
 *         .vjp([](const sf::CustomVjpArgs& a) { return a.cotangents[0] * a.residuals[0]; })
 *         .jvp([](const sf::CustomJvpArgs& a) { return a.tangents[0] * sf::sigmoid(a.inputs[0]); });
 *
 * The callables:
 *  - forward: takes the inputs as N `const sf::Tensor&`s (N deduced) or as one
 *    `const std::vector<sf::Tensor>&` (then set n_inputs); returns the outputs (an sf::Tensor, a
 *    std::array/std::pair/std::tuple of them or a std::vector) or, to save residuals, a
 *    CustomForwardResult. Its inputs are always concrete tensors, whatever transforms are active.
 *  - vjp (optional; without it reverse mode fails with SF_ERR_UNSUPPORTED naming the function):
 *    CustomVjpArgs -> one cotangent per input, shaped like it.
 *  - jvp (optional; likewise for forward mode): CustomJvpArgs -> one tangent per output.
 *  - batch (optional): CustomBatchArgs -> CustomBatchResult, the forward over a whole batch.
 * By default the rules are host kernels (they may read values): they are called with concrete
 * tensors only and can be differentiated once — grad of grad through them fails with
 * SF_ERR_TRANSFORM. rules_use_ops() declares that the vjp, jvp and batch rules use only
 * swiftfunc ops: they are then transformed like any function, so hessian works (it needs a vjp
 * and a jvp). Residuals carry no derivative: a rule meant to be differentiated again computes
 * what it needs from the inputs and outputs.
 *
 * A C++ exception thrown by any of the callables is rethrown, with its type, by the call that
 * ran it (sf::Function::operator(), a transform's call, ...). Callables may run on any thread
 * that calls the function; they live as long as the last function derived from it.
 */
class CustomFunction {
public:
    /** A custom function named `name` in error messages. */
    explicit CustomFunction(std::string name = "custom") : name_(std::move(name)) {}

    /** The input count, needed when the forward takes a std::vector (else it is deduced). */
    CustomFunction& n_inputs(size_t n) {
        n_inputs_ = n;
        return *this;
    }
    /** The output count (default 1). */
    CustomFunction& n_outputs(size_t n) {
        n_outputs_ = n;
        return *this;
    }
    /** How many residuals the forward saves for the VJP (default 0). */
    CustomFunction& n_residuals(size_t n) {
        n_residuals_ = n;
        return *this;
    }
    /** Declares that the vjp, jvp and batch rules use only swiftfunc ops (SF_CUSTOM_RULES_USE_OPS). */
    CustomFunction& rules_use_ops(bool use_ops = true) {
        rules_use_ops_ = use_ops;
        return *this;
    }

    /** The forward (required): see the class comment. */
    template <class F> CustomFunction& forward(F&& f) {
        using Plain = std::decay_t<F>;
        auto fn = detail::share_callable(std::forward<F>(f));
        if constexpr (std::is_invocable<Plain&, const std::vector<Tensor>&>::value) {
            forward_ = [fn](const std::vector<Tensor>& in) { return detail::to_forward_result((*fn)(in)); };
            forward_arity_ = detail::no_arity;
        } else {
            constexpr size_t n = detail::positional_arity<Plain>();
            static_assert(n != detail::no_arity,
                          "sf::CustomFunction::forward: the callable must take `const sf::Tensor&`s or one "
                          "`const std::vector<sf::Tensor>&`");
            forward_ = [fn](const std::vector<Tensor>& in) {
                return detail::to_forward_result(detail::call_positional(*fn, in, std::make_index_sequence<n>()));
            };
            forward_arity_ = n;
        }
        return *this;
    }

    /** The VJP rule: `const CustomVjpArgs&` -> the input cotangents (Tensor, tuple or vector). */
    template <class F> CustomFunction& vjp(F&& f) {
        static_assert(std::is_invocable<std::decay_t<F>&, const CustomVjpArgs&>::value,
                      "sf::CustomFunction::vjp: the callable must take `const sf::CustomVjpArgs&`");
        auto fn = detail::share_callable(std::forward<F>(f));
        vjp_ = [fn](const CustomVjpArgs& args) { return detail::to_outputs((*fn)(args)); };
        return *this;
    }

    /** The JVP rule: `const CustomJvpArgs&` -> the output tangents (Tensor, tuple or vector). */
    template <class F> CustomFunction& jvp(F&& f) {
        static_assert(std::is_invocable<std::decay_t<F>&, const CustomJvpArgs&>::value,
                      "sf::CustomFunction::jvp: the callable must take `const sf::CustomJvpArgs&`");
        auto fn = detail::share_callable(std::forward<F>(f));
        jvp_ = [fn](const CustomJvpArgs& args) { return detail::to_outputs((*fn)(args)); };
        return *this;
    }

    /** The batching rule: `const CustomBatchArgs&` -> CustomBatchResult. */
    template <class F> CustomFunction& batch(F&& f) {
        static_assert(std::is_convertible<std::invoke_result_t<std::decay_t<F>&, const CustomBatchArgs&>,
                                          CustomBatchResult>::value,
                      "sf::CustomFunction::batch: the callable must take `const sf::CustomBatchArgs&` and return "
                      "sf::CustomBatchResult");
        auto fn = detail::share_callable(std::forward<F>(f));
        batch_ = [fn](const CustomBatchArgs& args) -> CustomBatchResult { return (*fn)(args); };
        return *this;
    }

    /**
     * The function (sf_custom_function_new). Throws sf::Error SF_ERR_INVALID_ARGUMENT without a
     * forward, when the input count is unknown or disagrees with the forward's, and for what the
     * library refuses (n_outputs 0).
     */
    Function build() const {
        auto refuse = [this](const std::string& problem) {
            return Error(SF_ERR_INVALID_ARGUMENT, "sf::CustomFunction '" + name_ + "': " + problem);
        };
        if (!forward_) throw refuse("no forward was given");
        size_t n_in = forward_arity_;
        if (n_inputs_ != detail::no_arity) {
            if (forward_arity_ != detail::no_arity && n_inputs_ != forward_arity_)
                throw refuse("n_inputs is " + std::to_string(n_inputs_) + " but the forward takes " +
                             std::to_string(forward_arity_) + " tensors");
            n_in = n_inputs_;
        }
        if (n_in == detail::no_arity) throw refuse("n_inputs must be set for a forward taking a std::vector");

        auto* context = new detail::CustomContext{n_in, n_outputs_, n_residuals_, forward_, vjp_, jvp_, batch_};
        sf_custom_function_desc desc = SF_CUSTOM_FUNCTION_DESC_INIT;
        desc.flags = rules_use_ops_ ? SF_CUSTOM_RULES_USE_OPS : SF_CUSTOM_RULES_HOST_KERNELS;
        desc.name = name_.c_str();
        desc.n_inputs = n_in;
        desc.n_outputs = n_outputs_;
        desc.n_residuals = n_residuals_;
        desc.forward = &detail::CustomContext::forward_callback;
        desc.vjp = vjp_ ? &detail::CustomContext::vjp_callback : nullptr;
        desc.jvp = jvp_ ? &detail::CustomContext::jvp_callback : nullptr;
        desc.batch = batch_ ? &detail::CustomContext::batch_callback : nullptr;
        desc.user_data = context;
        desc.free_user_data = &detail::destroy<detail::CustomContext>;
        sf_function* out = nullptr;
        // The library owns the context from here on, also when this call fails.
        detail::check(sf_custom_function_new(&desc, &out));
        return Function::adopt(out);
    }

    /** build(), so that `sf::Function f = sf::CustomFunction(...)...;` reads naturally. */
    operator Function() const { return build(); }

private:
    std::string name_;
    size_t n_inputs_ = detail::no_arity;      // no_arity: not set
    size_t forward_arity_ = detail::no_arity; // no_arity: not deduced (a vector forward)
    size_t n_outputs_ = 1;
    size_t n_residuals_ = 0;
    bool rules_use_ops_ = false;
    std::function<CustomForwardResult(const std::vector<Tensor>&)> forward_;
    std::function<std::vector<Tensor>(const CustomVjpArgs&)> vjp_;
    std::function<std::vector<Tensor>(const CustomJvpArgs&)> jvp_;
    std::function<CustomBatchResult(const CustomBatchArgs&)> batch_;
};

// MARK: - Transforms

/** Options of grad and grad_and_value. */
struct GradOptions {
    std::vector<int32_t> argnums{0}; /**< inputs to differentiate, in order. */
    bool has_aux = false;            /**< f returns (loss, aux...); the aux outputs pass through. */
};

/** Options of jacrev. */
struct JacrevOptions {
    std::vector<int32_t> argnums{0};
    bool has_aux = false;
    int64_t chunk_size = 0; /**< 0: all rows at once; k > 0: at most k at a time. */
};

/** Options of jacfwd. */
struct JacfwdOptions {
    std::vector<int32_t> argnums{0};
    bool has_aux = false;
    Randomness randomness = Randomness::Error;
};

/** Options of hessian. */
struct HessianOptions {
    std::vector<int32_t> argnums{0};
};

/** Options of vmap. */
struct VmapOptions {
    std::vector<int64_t> in_dims{};  /**< per input: the mapped dim or sf::not_mapped; {} means all 0. */
    std::vector<int64_t> out_dims{}; /**< per output: where the batch dim goes; {} means all 0. */
    int64_t chunk_size = 0;        /**< 0: map everything at once; k > 0: at most k at a time. */
    Randomness randomness = Randomness::Error;
};

/** torch.func.grad: the gradients of f's first (0-d float) output w.r.t. the argnums inputs. */
inline Function grad(const Function& f, const GradOptions& options = {}) {
    sf_function* out = nullptr;
    detail::check(sf_grad(f.get(), options.argnums.empty() ? nullptr : options.argnums.data(), options.argnums.size(),
                          options.has_aux, &out));
    return Function::adopt(out);
}

/** torch.func.grad_and_value: the gradients, then the value (then the aux outputs). */
inline Function grad_and_value(const Function& f, const GradOptions& options = {}) {
    sf_function* out = nullptr;
    detail::check(sf_grad_and_value(f.get(), options.argnums.empty() ? nullptr : options.argnums.data(),
                                    options.argnums.size(), options.has_aux, &out));
    return Function::adopt(out);
}

/** The result of vjp: f's outputs and the pullback from output cotangents to input cotangents. */
struct VjpResult {
    std::vector<Tensor> outputs;
    Function vjp_fn;
};

/** torch.func.vjp: evaluates f at primals and returns the outputs with the pullback. */
inline VjpResult vjp(const Function& f, const std::vector<Tensor>& primals) {
    std::vector<sf_tensor*> in = detail::handles(primals);
    std::vector<sf_tensor*> out(f.n_outputs(), nullptr);
    sf_function* pullback = nullptr;
    detail::check_call(sf_vjp(f.get(), in.data(), in.size(), out.data(), out.size(), &pullback));
    return VjpResult{detail::adopt_all(out), Function::adopt(pullback)};
}

/** The result of jvp: f's outputs and their tangents. */
struct JvpResult {
    std::vector<Tensor> outputs;
    std::vector<Tensor> tangents;
};

/** torch.func.jvp: evaluates f at primals pushing tangents forward. */
inline JvpResult jvp(const Function& f, const std::vector<Tensor>& primals, const std::vector<Tensor>& tangents) {
    if (primals.size() != tangents.size())
        throw Error(SF_ERR_INVALID_ARGUMENT, "sf::jvp: " + std::to_string(primals.size()) + " primals but " +
                                                 std::to_string(tangents.size()) + " tangents");
    std::vector<sf_tensor*> p = detail::handles(primals), t = detail::handles(tangents);
    size_t n_out = f.n_outputs();
    std::vector<sf_tensor*> out(n_out, nullptr), tangents_out(n_out, nullptr);
    detail::check_call(sf_jvp(f.get(), p.data(), t.data(), p.size(), out.data(), tangents_out.data(), n_out));
    std::vector<Tensor> outputs = detail::adopt_all(out);
    return JvpResult{std::move(outputs), detail::adopt_all(tangents_out)};
}

/** The result of linearize: f's outputs and the function from input to output tangents. */
struct LinearizeResult {
    std::vector<Tensor> outputs;
    Function jvp_fn;
};

/** torch.func.linearize: evaluates f at primals and returns the outputs with the jvp function. */
inline LinearizeResult linearize(const Function& f, const std::vector<Tensor>& primals) {
    std::vector<sf_tensor*> in = detail::handles(primals);
    std::vector<sf_tensor*> out(f.n_outputs(), nullptr);
    sf_function* jvp_fn = nullptr;
    detail::check_call(sf_linearize(f.get(), in.data(), in.size(), out.data(), out.size(), &jvp_fn));
    return LinearizeResult{detail::adopt_all(out), Function::adopt(jvp_fn)};
}

/** torch.func.jacrev: Jacobians by reverse mode, d out_i / d in_j for each output i, argnum j. */
inline Function jacrev(const Function& f, const JacrevOptions& options = {}) {
    sf_function* out = nullptr;
    detail::check(sf_jacrev(f.get(), options.argnums.empty() ? nullptr : options.argnums.data(), options.argnums.size(),
                            options.has_aux, options.chunk_size, &out));
    return Function::adopt(out);
}

/** torch.func.jacfwd: the same Jacobians by forward mode. */
inline Function jacfwd(const Function& f, const JacfwdOptions& options = {}) {
    sf_function* out = nullptr;
    detail::check(sf_jacfwd(f.get(), options.argnums.empty() ? nullptr : options.argnums.data(), options.argnums.size(),
                            options.has_aux, static_cast<sf_randomness>(options.randomness), &out));
    return Function::adopt(out);
}

/** torch.func.hessian: jacfwd(jacrev(f)). */
inline Function hessian(const Function& f, const HessianOptions& options = {}) {
    sf_function* out = nullptr;
    detail::check(sf_hessian(f.get(), options.argnums.empty() ? nullptr : options.argnums.data(), options.argnums.size(),
                             &out));
    return Function::adopt(out);
}

/** jax.jit / torch.compile: f staged into a graph traced once per input signature (sf_jit). */
inline Function jit(const Function& f) {
    sf_function* out = nullptr;
    detail::check(sf_jit(f.get(), &out));
    return Function::adopt(out);
}

/** How many traces a function made by jit has made (sf_jit_trace_count). */
inline uint64_t jit_trace_count(const Function& f) {
    uint64_t count = 0;
    detail::check(sf_jit_trace_count(f.get(), &count));
    return count;
}

/** torch.func.vmap: f mapped over a batch dim of its inputs. */
inline Function vmap(const Function& f, const VmapOptions& options = {}) {
    sf_function* out = nullptr;
    detail::check(sf_vmap(f.get(), options.in_dims.empty() ? nullptr : options.in_dims.data(), options.in_dims.size(),
                          options.out_dims.empty() ? nullptr : options.out_dims.data(), options.out_dims.size(),
                          options.chunk_size, static_cast<sf_randomness>(options.randomness), &out));
    return Function::adopt(out);
}

/** How many times vmap batched a primitive by a loop instead of a batching rule. */
inline uint64_t vmap_fallback_count() {
    uint64_t n = 0;
    detail::check(sf_vmap_fallback_count(&n));
    return n;
}

/** A function traced at example inputs, serialized with its captured constants (sf_function_export). */
inline std::vector<unsigned char> export_function(const Function& f, const std::vector<Tensor>& example_inputs) {
    std::vector<sf_tensor*> raw = detail::handles(example_inputs);
    void* bytes = nullptr;
    size_t size = 0;
    detail::check_call(sf_function_export(f.get(), raw.data(), raw.size(), &bytes, &size));
    std::vector<unsigned char> result(static_cast<unsigned char*>(bytes), static_cast<unsigned char*>(bytes) + size);
    sf_bytes_free(bytes);
    return result;
}

/** export_function written to the file at path (sf_function_save). */
inline void export_function(const Function& f, const std::vector<Tensor>& example_inputs, const std::string& path) {
    std::vector<sf_tensor*> raw = detail::handles(example_inputs);
    detail::check_call(sf_function_save(f.get(), raw.data(), raw.size(), path.c_str()));
}

/** The function in exported bytes (sf_function_import): an ordinary, transformable Function. */
inline Function load_function(const std::vector<unsigned char>& bytes) {
    sf_function* out = nullptr;
    detail::check(sf_function_import(bytes.data(), bytes.size(), &out));
    return Function::adopt(out);
}

/** The function in the exported file at path (sf_function_load). */
inline Function load_function(const std::string& path) {
    sf_function* out = nullptr;
    detail::check(sf_function_load(path.c_str(), &out));
    return Function::adopt(out);
}

}  // namespace sf

#endif /* SWIFTFUNC_HPP */
