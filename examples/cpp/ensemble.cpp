// Model ensembling: M models with stacked parameters evaluated by one vmap call, on one shared
// minibatch and on a minibatch per model, checked against a loop over the models. The torch.func
// tutorial "Model ensembling", in C++.
#include <swiftfunc.hpp>

#include <cmath>
#include <cstdio>

static int run() {
    const int64_t models = 5, n = 16, d = 6, h = 10, c = 3;
    sf::manual_seed(2);
    // Parameters of every model, stacked along a leading dim of size `models`.
    sf::Tensor w1 = sf::randn({models, h, d}) * 0.4, b1 = sf::randn({models, h}) * 0.1;
    sf::Tensor w2 = sf::randn({models, c, h}) * 0.4, b2 = sf::randn({models, c}) * 0.1;
    sf::Tensor shared_batch = sf::randn({n, d}), batches = sf::randn({models, n, d});

    sf::Function model = [](const sf::Tensor& w1, const sf::Tensor& b1, const sf::Tensor& w2, const sf::Tensor& b2,
                            const sf::Tensor& x) { return sf::linear(sf::tanh(sf::linear(x, w1, b1)), w2, b2); };
    sf::Tensor same = sf::vmap(model, {{0, 0, 0, 0, sf::not_mapped}})(w1, b1, w2, b2, shared_batch)[0];
    sf::Tensor own = sf::vmap(model)(w1, b1, w2, b2, batches)[0];  // in_dims all 0

    auto pick = [](const sf::Tensor& t, int64_t i) { return sf::squeeze(sf::slice(t, 0, i, i + 1), 0); };
    double worst = 0;
    for (int64_t m = 0; m < models; m++) {
        sf::Tensor expected_same = model(pick(w1, m), pick(b1, m), pick(w2, m), pick(b2, m), shared_batch)[0];
        sf::Tensor expected_own = model(pick(w1, m), pick(b1, m), pick(w2, m), pick(b2, m), pick(batches, m))[0];
        worst = std::fmax(worst, sf::amax(sf::abs(pick(same, m) - expected_same)).item());
        worst = std::fmax(worst, sf::amax(sf::abs(pick(own, m) - expected_own)).item());
    }
    std::printf("ensemble of %lld MLPs: predictions [%lld, %lld, %lld] in one vmap call\n", (long long)models,
                (long long)same.size(0), (long long)same.size(1), (long long)same.size(2));
    std::printf("max |vmap - loop over models| = %.3g\n", worst);
    if (!(worst < 1e-5)) {
        std::fprintf(stderr, "ensemble: vmap disagrees with the loop\n");
        return 1;
    }
    return 0;
}

int main() {
    try {
        return run();
    } catch (const std::exception& e) {  // sf::Error, or an exception thrown inside a callable
        std::fprintf(stderr, "%s: %s\n", "ensemble", e.what());
        return 1;
    }
}
