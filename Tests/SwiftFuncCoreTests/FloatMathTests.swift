import Glibc
import XCTest
@testable import SwiftFuncCore

/// FloatMath (the float32 exp, expm1, log, log1p, tanh, sigmoid, sin, cos of the elementwise
/// kernels and fused loops) against float64 libm: error in ulps over sweeps of float bit patterns,
/// exact special values, and the kernels' rows equal to the per-element functions.
///
/// The default sweep takes every 9973rd bit pattern (430k points per function, a few seconds in
/// debug) plus runs of consecutive floats at the thresholds; SWIFTFUNC_FLOATMATH_STRIDE=n takes
/// every nth instead (1: all 2^32 floats; run it with `swift test -c release`).
final class FloatMathTests: XCTestCase {
    /// A function under test and its float64 reference.
    struct Case {
        let name: String
        let function: (Float) -> Float
        let reference: (Double) -> Double
    }

    static let cases: [Case] = [
        Case(name: "exp", function: FloatMath.exp, reference: { Glibc.exp($0) }),
        Case(name: "expm1", function: FloatMath.expm1, reference: { Glibc.expm1($0) }),
        Case(name: "log", function: FloatMath.log, reference: { Glibc.log($0) }),
        Case(name: "log1p", function: FloatMath.log1p, reference: { Glibc.log1p($0) }),
        Case(name: "tanh", function: FloatMath.tanh, reference: { Glibc.tanh($0) }),
        Case(name: "sigmoid", function: FloatMath.sigmoid, reference: { 1 / (1 + Glibc.exp(-$0)) }),
        Case(name: "sin", function: FloatMath.sin, reference: { Glibc.sin($0) }),
        Case(name: "cos", function: FloatMath.cos, reference: { Glibc.cos($0) }),
    ]

    /// |y - exact| in units of the last place of float32 at the exact value's binade (subnormal
    /// ulps below 2^-126; inf counts as 2^128). NaN must match NaN.
    static func ulpError(_ y: Float, _ exact: Double) -> Double {
        if y.isNaN || exact.isNaN { return y.isNaN && exact.isNaN ? 0 : .infinity }
        if y.isInfinite && Float(exact) == y { return 0 }
        let binade = exact == 0 ? -126 : Swift.max(Int(exact.exponent), -126)
        let ulp = Double(sign: .plus, exponent: binade - 23, significand: 1)
        let value = y.isInfinite ? Double(sign: y.sign, exponent: 128, significand: 1) : Double(y)
        return Swift.abs(value - exact) / ulp
    }

    /// The largest error of `test` over `inputs`, and where.
    static func worst(_ test: Case, _ inputs: some Sequence<Float>) -> (error: Double, at: Float, count: Int) {
        var worst = (error: 0.0, at: Float(0), count: 0)
        for x in inputs {
            let error = ulpError(test.function(x), test.reference(Double(x)))
            if !(error <= worst.error) { worst = (error, x, worst.count) }
            worst.count += 1
        }
        return worst
    }

    /// Runs of 2048 consecutive floats on both sides of the points where the functions change
    /// regime or overflow and underflow.
    static let thresholds: [Float] = [
        0, 1, 2, 0.5, 0.625, 0.707_106_78, 1.414_213_5, 9.01, 10, 0.346_573_6, 88.722_84, 89, -87.33655, -103.97,
        -104, -110, 0x1p-24, 0x1p-25, 0x1p-126, .pi / 4, .pi / 2, .pi, 6000, 0x1p23,
    ]

    static var thresholdInputs: [Float] {
        thresholds.flatMap { point -> [Float] in
            [point, -point].flatMap { center -> [Float] in
                var values: [Float] = [center], up = center, down = center
                for _ in 0..<1024 { up = up.nextUp; down = down.nextDown; values += [up, down] }
                return values
            }
        }
    }

    func testUlpErrorsWithinTwo() {
        let stride = Int(ProcessInfoLite.environment("SWIFTFUNC_FLOATMATH_STRIDE") ?? "") ?? 9973
        let sweep = Swift.stride(from: UInt64(0), through: UInt64(UInt32.max), by: Swift.max(1, stride))
            .lazy.map { Float(bitPattern: UInt32($0)) }
        let extra = Self.thresholdInputs
        for test in Self.cases {
            let sparse = Self.worst(test, sweep), dense = Self.worst(test, extra)
            XCTAssertLessThanOrEqual(sparse.error, 2, "\(test.name)(\(sparse.at)) over \(sparse.count) points")
            XCTAssertLessThanOrEqual(dense.error, 2, "\(test.name)(\(dense.at)) near the thresholds")
        }
    }

    func testSpecialValues() {
        let inf = Float.infinity, nan = Float.nan
        func same(_ a: Float, _ b: Float, _ what: String) {
            XCTAssertTrue(a.isNaN ? b.isNaN : a.bitPattern == b.bitPattern, "\(what): \(a) != \(b)")
        }
        for test in Self.cases { XCTAssertTrue(test.function(nan).isNaN, "\(test.name)(NaN)") }
        same(FloatMath.exp(-inf), 0, "exp(-inf)")
        same(FloatMath.exp(inf), inf, "exp(inf)")
        same(FloatMath.exp(89), inf, "exp(89)")
        same(FloatMath.exp(-104), 0, "exp(-104)")
        same(FloatMath.exp(0), 1, "exp(0)")
        same(FloatMath.exp(-0.0), 1, "exp(-0)")
        func close(_ y: Float, _ exact: Double, _ what: String) {
            XCTAssertLessThanOrEqual(Self.ulpError(y, exact), 1, "\(what): \(y) against \(exact)")
        }
        close(FloatMath.exp(-103), Glibc.exp(-103.0), "exp(-103) (subnormal)")
        close(FloatMath.exp(88.72283), Glibc.exp(Double(Float(88.72283))), "exp below overflow")
        same(FloatMath.expm1(-inf), -1, "expm1(-inf)")
        same(FloatMath.expm1(inf), inf, "expm1(inf)")
        same(FloatMath.expm1(-0.0), -0.0, "expm1(-0)")
        same(FloatMath.expm1(0x1p-140), 0x1p-140, "expm1(subnormal)")
        same(FloatMath.log(0), -inf, "log(0)")
        same(FloatMath.log(-0.0), -inf, "log(-0)")
        XCTAssertTrue(FloatMath.log(-1).isNaN, "log(-1)")
        XCTAssertTrue(FloatMath.log(-inf).isNaN, "log(-inf)")
        same(FloatMath.log(inf), inf, "log(inf)")
        same(FloatMath.log(1), 0, "log(1)")
        close(FloatMath.log(.leastNonzeroMagnitude), Glibc.log(Double(Float.leastNonzeroMagnitude)), "log(least subnormal)")
        same(FloatMath.log1p(-1), -inf, "log1p(-1)")
        XCTAssertTrue(FloatMath.log1p(-2).isNaN, "log1p(-2)")
        same(FloatMath.log1p(inf), inf, "log1p(inf)")
        same(FloatMath.log1p(-0.0), -0.0, "log1p(-0)")
        same(FloatMath.log1p(0x1p-140), 0x1p-140, "log1p(subnormal)")
        close(FloatMath.log1p(.greatestFiniteMagnitude), Glibc.log1p(Double(Float.greatestFiniteMagnitude)), "log1p(max)")
        same(FloatMath.tanh(-0.0), -0.0, "tanh(-0)")
        same(FloatMath.tanh(inf), 1, "tanh(inf)")
        same(FloatMath.tanh(-inf), -1, "tanh(-inf)")
        same(FloatMath.tanh(-20), -1, "tanh(-20)")
        same(FloatMath.tanh(0x1p-140), 0x1p-140, "tanh(subnormal)")
        same(FloatMath.sigmoid(-inf), 0, "sigmoid(-inf)")
        same(FloatMath.sigmoid(inf), 1, "sigmoid(inf)")
        same(FloatMath.sigmoid(-0.0), 0.5, "sigmoid(-0)")
        close(FloatMath.sigmoid(-100), 1 / (1 + Glibc.exp(100.0)), "sigmoid(-100) (subnormal)")
        same(FloatMath.sin(-0.0), -0.0, "sin(-0)")
        same(FloatMath.cos(-0.0), 1, "cos(-0)")
        XCTAssertTrue(FloatMath.sin(inf).isNaN && FloatMath.cos(-inf).isNaN, "sin, cos of inf")
        same(FloatMath.sin(1e30), Glibc.sinf(1e30), "sin(1e30) (libm's reduction)")
        same(FloatMath.cos(-7000), Glibc.cosf(-7000), "cos(-7000) (libm's reduction)")
    }

    /// The rows (vectorized blocks, libm blocks where an argument is out of range) equal `sin` and
    /// `cos` element by element, and the eager kernels (contiguous and strided) equal FloatMath.
    func testRowsAndKernelsMatchTheElementFunctions() throws {
        var rng = TestRandom(seed: 11)
        var values = (0..<1500).map { _ in Float(rng.uniform(-20, 20)) }
        values[300] = 1e6  // the second block of 256 takes the libm path
        values[1100] = .nan
        values[1400] = -.infinity
        let output = UnsafeMutablePointer<Float>.allocate(capacity: values.count)
        defer { output.deallocate() }
        for (row, element) in [(FloatMath.sinRow, FloatMath.sin), (FloatMath.cosRow, FloatMath.cos)] {
            values.withUnsafeBufferPointer { row($0.baseAddress!, output, values.count) }
            for (i, x) in values.enumerated() where output[i].bitPattern != element(x).bitPattern && !x.isNaN {
                XCTFail("row element \(i) of \(x): \(output[i]) != \(element(x))")
            }
        }
        let ops: [(String, (Value) throws -> Value, (Float) -> Float)] = [
            ("exp", Ops.exp, FloatMath.exp), ("expm1", Ops.expm1, FloatMath.expm1), ("log", Ops.log, FloatMath.log),
            ("log1p", Ops.log1p, FloatMath.log1p), ("tanh", Ops.tanh, FloatMath.tanh),
            ("sigmoid", Ops.sigmoid, FloatMath.sigmoid), ("sin", Ops.sin, FloatMath.sin), ("cos", Ops.cos, FloatMath.cos),
        ]
        let doubles = values.map(Double.init)
        for layout in [Layout.contiguous, .strided] {
            let x = try makeTensor(doubles, shape: [values.count], dtype: .float32, layout: layout)
            for (name, op, element) in ops {
                let y = try Ops.doubles(op(x))
                for (i, v) in values.enumerated() {
                    let expected = element(v)
                    if expected.isNaN ? !y[i].isNaN : Float(y[i]).bitPattern != expected.bitPattern {
                        XCTFail("\(name) \(layout) element \(i) of \(v): \(y[i]) != \(expected)")
                        break
                    }
                }
            }
        }
    }
}

/// getenv without Foundation.
enum ProcessInfoLite {
    static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}
