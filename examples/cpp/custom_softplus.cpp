// A host kernel made differentiable: `softplus_kernel` is plain C++ on a std::vector that swiftfunc
// cannot look inside. sf::CustomFunction registers it with its derivative kernel as VJP and JVP
// rules (the forward saves the slope as a residual) and a batching rule, and it then works under
// grad, jvp and vmap like a built-in op. The program prints per-example gradients of
// sum(softplus(x)) by vmap(grad(...)) and checks them, and a jvp, against finite differences.
#include <swiftfunc.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

// The host kernels, on raw values.
static std::vector<double> softplus_kernel(std::vector<double> x) {
    for (double& v : x) v = v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
    return x;
}
static std::vector<double> slope_kernel(std::vector<double> x) {  // d softplus / dx = sigmoid
    for (double& v : x) v = 1 / (1 + std::exp(-v));
    return x;
}

// Applies a kernel to a tensor: read the values, run the kernel, wrap the result.
template <class Kernel> static sf::Tensor apply(Kernel kernel, const sf::Tensor& x) {
    return sf::from_data(kernel(x.to_vector<double>()), x.shape());
}

static int run() {
    sf::Function softplus =
        sf::CustomFunction("softplus")
            .n_residuals(1)
            .forward([](const sf::Tensor& x) {  // concrete values, whatever transforms are active
                return sf::CustomForwardResult{{apply(softplus_kernel, x)}, {apply(slope_kernel, x)}};
            })
            // By default the rules run on concrete tensors (they may be host kernels): differentiable once.
            .vjp([](const sf::CustomVjpArgs& a) { return a.cotangents[0] * a.residuals[0]; })
            .jvp([](const sf::CustomJvpArgs& a) { return a.tangents[0] * apply(slope_kernel, a.inputs[0]); })
            // Elementwise: the whole batch in one kernel call, batch dims unchanged.
            .batch([](const sf::CustomBatchArgs& a) {
                const sf::Tensor& x = a.inputs[0];
                return sf::CustomBatchResult{{apply(softplus_kernel, x)}, {apply(slope_kernel, x)}, {a.in_dims[0]}, {a.in_dims[0]}};
            });

    sf::Function loss = [softplus](const sf::Tensor& x) { return sf::sum(softplus(x)[0]); };
    const int64_t batch = 3, n = 4;
    std::vector<double> xs;
    for (int64_t i = 0; i < batch * n; i++) xs.push_back(-3 + 0.5 * static_cast<double>(i));
    sf::Tensor x = sf::from_data(xs, {batch, n});

    std::vector<double> grads = sf::vmap(sf::grad(loss))(x)[0].to_vector<double>();
    std::vector<double> tangents = sf::jvp(softplus, {x}, {sf::ones({batch, n}, sf::kFloat64)}).tangents[0].to_vector<double>();

    const double h = 1e-6;
    double worst = 0;
    for (size_t i = 0; i < xs.size(); i++) {
        double fd = (softplus_kernel({xs[i] + h})[0] - softplus_kernel({xs[i] - h})[0]) / (2 * h);
        std::printf("x = %5.2f  grad = %.8f  jvp = %.8f  finite difference = %.8f\n", xs[i], grads[i], tangents[i], fd);
        worst = std::fmax(worst, std::fmax(std::fabs(grads[i] - fd), std::fabs(tangents[i] - fd)));
    }
    if (!(worst < 1e-6)) {
        std::fprintf(stderr, "custom_softplus: derivatives disagree with finite differences (%.3g)\n", worst);
        return 1;
    }
    return 0;
}

int main() {
    try {
        return run();
    } catch (const std::exception& e) {  // sf::Error, or an exception thrown inside a callable
        std::fprintf(stderr, "custom_softplus: %s\n", e.what());
        return 1;
    }
}
