// swift-tools-version:6.0
import PackageDescription

// libswiftfunc.so: the C ABI (SwiftFunc) over the engine (SwiftFuncCore).
// Release builds add `-static-stdlib` and the SONAME from the Makefile's command line, not here,
// so that the package stays consumable (unsafeFlags are refused in dependencies).
let package = Package(
    name: "swiftfunc",
    products: [
        .library(name: "swiftfunc", type: .dynamic, targets: ["SwiftFunc"]),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CDLPack", providers: [.apt(["libdlpack-dev"])]),
        // include/swiftfunc.h seen from Swift: the boundary reads versions and limits from it.
        .systemLibrary(name: "CSwiftFuncHeader"),
        // SIMD kernels in C for the few shapes OpenBLAS is slow on (each checks the CPU when it runs).
        .target(name: "CKernels"),
        .target(
            name: "SwiftFuncCore",
            dependencies: ["CBLAS", "CKernels"],
            // Table entries name their rules as static functions (`type: reshapeType`): such
            // references are Sendable (Swift 6's inference, SE-0418).
            swiftSettings: [.enableUpcomingFeature("InferSendableFromCaptures")]),
        .target(name: "SwiftFunc", dependencies: ["SwiftFuncCore", "CDLPack", "CSwiftFuncHeader"]),
        .testTarget(name: "SwiftFuncCoreTests", dependencies: ["SwiftFuncCore", "CKernels"]),
    ],
    swiftLanguageModes: [.v5]
)
