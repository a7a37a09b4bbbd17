// A C++ program built against an installed swiftfunc through swiftfunc.hpp (CMake or pkg-config):
// versions, ops, a function from a lambda, an exception through a callback, DLPack, an error.
// Prints "N passed, M failed"; exits 1 on a failure.
#include <cstdio>
#include <stdexcept>
#include <string>

#include <swiftfunc.hpp>

static int passed, failed;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            passed++;                                                                          \
        } else {                                                                               \
            failed++;                                                                          \
            std::fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);      \
        }                                                                                      \
    } while (0)

int main() {
    try {
        sf::check_abi();
        passed++;
#ifdef EXPECTED_VERSION
        CHECK(sf::version() == EXPECTED_VERSION);
#endif
        sf::Tensor a = sf::from_data({1.0, 2.0, 3.0});
        sf::Tensor b = sf::from_data({10.0, 20.0, 30.0});
        CHECK((a + b * 2.0).to_vector<double>() == (std::vector<double>{21, 42, 63}));
        CHECK(sf::sum(a).item() == 6.0);

        sf::Function twice = [](const sf::Tensor& x) { return x + x; };
        CHECK(twice(a)[0].to_vector<double>() == (std::vector<double>{2, 4, 6}));

        sf::Function throws = [](const sf::Tensor&) -> sf::Tensor { throw std::domain_error("from the callback"); };
        try {
            throws(a);
            CHECK(false);
        } catch (const std::domain_error& e) {
            CHECK(std::string(e.what()) == "from the callback");
        }

        sf::DLPackTensor exported = sf::to_dlpack(b);
        CHECK(exported->dl_tensor.ndim == 1 && exported->dl_tensor.dtype.code == kDLFloat);
        sf::Tensor imported = sf::from_dlpack(std::move(exported));
        CHECK(!exported && imported.to_vector<double>() == (std::vector<double>{10, 20, 30}));

        try {
            sf::matmul(a, sf::ones({2, 2}, sf::kFloat64));
            CHECK(false);
        } catch (const sf::Error& e) {
            CHECK(e.status() == SF_ERR_SHAPE && std::string(e.what()).find("sf_matmul") != std::string::npos);
        }
    } catch (const std::exception& e) {
        failed++;
        std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    }
    std::printf("consumer.cpp: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
