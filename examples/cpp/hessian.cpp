// The Hessian of a small network f(x) = w2 . tanh(W1 x + b1) with respect to its input, by
// sf::hessian (jacfwd over jacrev), checked against the closed form
// H = W1^T diag(w2 * -2 t (1 - t^2)) W1 with t = tanh(W1 x + b1).
#include <swiftfunc.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

static int run() {
    const int64_t d = 5, h = 7;
    sf::manual_seed(1);
    sf::Tensor w1 = sf::randn({h, d}, sf::kFloat64), b1 = sf::randn({h}, sf::kFloat64);
    sf::Tensor w2 = sf::randn({h}, sf::kFloat64), x = sf::randn({d}, sf::kFloat64);

    sf::Function f = [w1, b1, w2](const sf::Tensor& x) { return sf::sum(w2 * sf::tanh(sf::linear(x, w1, b1))); };
    sf::Tensor hess = sf::hessian(f)(x)[0];                     // [d, d]
    sf::Tensor rev_rev = sf::jacrev(sf::jacrev(f))(x)[0];       // the same by reverse-over-reverse

    std::vector<double> W = w1.to_vector<double>(), b = b1.to_vector<double>(), v = w2.to_vector<double>();
    std::vector<double> xs = x.to_vector<double>(), H = hess.to_vector<double>(), R = rev_rev.to_vector<double>();
    double worst = 0;
    for (int64_t i = 0; i < d; i++) {
        for (int64_t j = 0; j < d; j++) {
            double expected = 0;
            for (int64_t k = 0; k < h; k++) {
                double z = b[k];
                for (int64_t m = 0; m < d; m++) z += W[k * d + m] * xs[m];
                double t = std::tanh(z);
                expected += W[k * d + i] * v[k] * -2 * t * (1 - t * t) * W[k * d + j];
            }
            worst = std::fmax(worst, std::fmax(std::fabs(H[i * d + j] - expected), std::fabs(R[i * d + j] - expected)));
        }
    }
    std::printf("Hessian of w2 . tanh(W1 x + b1), %lldx%lld: H[0][0..2] = %.6f %.6f %.6f\n", (long long)d, (long long)d,
                H[0], H[1], H[2]);
    std::printf("max |H - closed form| (hessian and jacrev(jacrev)) = %.3g\n", worst);
    if (!(worst < 1e-10)) {
        std::fprintf(stderr, "hessian: disagrees with the closed form\n");
        return 1;
    }
    return 0;
}

int main() {
    try {
        return run();
    } catch (const std::exception& e) {  // sf::Error, or an exception thrown inside a callable
        std::fprintf(stderr, "%s: %s\n", "hessian", e.what());
        return 1;
    }
}
