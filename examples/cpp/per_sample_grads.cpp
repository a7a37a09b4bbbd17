// Per-sample gradients of a small MLP: vmap(grad(loss)) in one call, checked against a loop that
// calls grad once per sample. The torch.func tutorial "Per-sample gradients", in C++.
#include <swiftfunc.hpp>

#include <cmath>
#include <cstdio>

static int run() {
    const int64_t n = 32, d = 8, h = 16, c = 4;
    sf::manual_seed(0);
    sf::Tensor w1 = sf::randn({h, d}) * 0.3, b1 = sf::zeros({h}), w2 = sf::randn({c, h}) * 0.3, b2 = sf::zeros({c});
    sf::Tensor x = sf::randn({n, d}), y = sf::floor(sf::rand({n}) * double(c)).to(sf::kInt64);

    // The loss of one sample: cross_entropy(W2 relu(W1 x + b1) + b2, y).
    sf::Function loss = [](const sf::Tensor& w1, const sf::Tensor& b1, const sf::Tensor& w2, const sf::Tensor& b2,
                           const sf::Tensor& x, const sf::Tensor& y) {
        return sf::cross_entropy(sf::linear(sf::relu(sf::linear(x, w1, b1)), w2, b2), y);
    };
    sf::Function grads = sf::grad(loss, {{0, 1, 2, 3}});  // d loss / d (w1, b1, w2, b2)
    const int64_t shared = sf::not_mapped;
    sf::Function per_sample = sf::vmap(grads, {{shared, shared, shared, shared, 0, 0}});
    std::vector<sf::Tensor> batched = per_sample(w1, b1, w2, b2, x, y);  // each [n, *param.shape]

    auto row = [](const sf::Tensor& t, int64_t i) { return sf::squeeze(sf::slice(t, 0, i, i + 1), 0); };
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        std::vector<sf::Tensor> single = grads(w1, b1, w2, b2, row(x, i), row(y, i));
        for (size_t p = 0; p < single.size(); p++)
            worst = std::fmax(worst, sf::amax(sf::abs(row(batched[p], i) - single[p])).item());
    }
    std::printf("per-sample gradients of a %lld-%lld-%lld MLP over %lld samples: d w1 has shape [%lld, %lld, %lld]\n",
                (long long)d, (long long)h, (long long)c, (long long)n, (long long)batched[0].size(0),
                (long long)batched[0].size(1), (long long)batched[0].size(2));
    std::printf("max |vmap(grad) - loop of grad| = %.3g\n", worst);
    if (!(worst < 1e-5)) {
        std::fprintf(stderr, "per_sample_grads: vmap(grad) disagrees with the loop\n");
        return 1;
    }
    return 0;
}

int main() {
    try {
        return run();
    } catch (const std::exception& e) {  // sf::Error, or an exception thrown inside a callable
        std::fprintf(stderr, "%s: %s\n", "per_sample_grads", e.what());
        return 1;
    }
}
