import XCTest
@testable import SwiftFuncCore

/// A small deterministic generator so that every test run sees the same "random" inputs.
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    /// A double in [0, 1).
    mutating func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }

    /// A double in [low, high).
    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * next() }
}

/// How a test input is laid out in memory, so every kernel is checked on non-contiguous views too.
enum Layout: CaseIterable {
    case contiguous
    /// Elements two apart in the innermost dim (a slice with step 2).
    case strided
    /// A transposed view of the last two dims (or contiguous below rank 2).
    case transposed
    /// Reversed innermost dim (negative stride).
    case reversed
}

/// Row-major values `values` of `shape` as a tensor with the given layout (the values seen through
/// the view are always `values` in row-major order).
func makeTensor(_ values: [Double], shape: [Int], dtype: DType = .float64, layout: Layout = .contiguous) throws -> Tensor {
    let dense = try Ops.tensor(values, shape: shape, dtype: dtype)
    let rank = shape.count
    switch layout {
    case .contiguous:
        return dense
    case .strided:
        guard rank >= 1 else { return dense }
        var wide = shape
        wide[rank - 1] *= 2
        let base = try Tensor(uninitialized: TensorType(shape: wide, dtype: dtype), zeroed: true, op: "test")
        var strides = ShapeChecks.contiguousStrides(wide)
        strides[rank - 1] = 2
        let view = base.view(type: dense.type, strides: strides, offset: 0)
        try copyInto(view, values)
        return view
    case .transposed:
        guard rank >= 2 else { return dense }
        var swapped = shape
        swapped.swapAt(rank - 1, rank - 2)
        let base = try Tensor(uninitialized: TensorType(shape: swapped, dtype: dtype), op: "test")
        var strides = ShapeChecks.contiguousStrides(swapped)
        strides.swapAt(rank - 1, rank - 2)
        let view = base.view(type: dense.type, strides: strides, offset: 0)
        try copyInto(view, values)
        return view
    case .reversed:
        guard rank >= 1, shape[rank - 1] > 0 else { return dense }
        let base = try Tensor(uninitialized: dense.type, op: "test")
        var strides = ShapeChecks.contiguousStrides(shape)
        strides[rank - 1] = -1
        let view = base.view(type: dense.type, strides: strides, offset: shape[rank - 1] - 1)
        try copyInto(view, values)
        return view
    }
}

/// Writes row-major `values` through an arbitrary view (test setup only; the engine never writes into views).
private func copyInto(_ view: Tensor, _ values: [Double]) throws {
    let strides = view.strides
    let shape = view.shape
    for (flat, value) in values.enumerated() {
        var rest = flat, offset = view.offset
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            offset += (rest % shape[d]) * strides[d]
            rest /= shape[d]
        }
        let address = view.storage.base! + offset * view.dtype.itemSize
        switch view.dtype {
        case .float32: address.storeBytes(of: Float(value), as: Float.self)
        case .float64: address.storeBytes(of: value, as: Double.self)
        case .int32: address.storeBytes(of: Int32(value), as: Int32.self)
        case .int64: address.storeBytes(of: Int64(value), as: Int64.self)
        case .bool: address.storeBytes(of: value != 0 ? 1 : 0, as: UInt8.self)
        }
    }
}

/// Random values of `shape` in [low, high) (rounded for integer dtypes, 0/1 for bool).
func randomValues(_ shape: [Int], dtype: DType = .float64, in range: (Double, Double) = (-2, 2), rng: inout TestRandom) -> [Double] {
    let count = shape.reduce(1, *)
    return (0..<count).map { _ in
        let v = rng.uniform(range.0, range.1)
        switch dtype {
        case .float32: return Double(Float(v))
        case .float64: return v
        case .int32, .int64: return v.rounded(.down)
        case .bool: return v > (range.0 + range.1) / 2 ? 1 : 0
        }
    }
}

/// Asserts that `value` has `shape` and `dtype` and holds `expected` within tolerance.
func assertValues(_ value: Value, _ expected: [Double], shape: [Int], dtype: DType, tolerance: Double? = nil,
                  _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) throws {
    XCTAssertEqual(value.shape, shape, "shape " + message(), file: file, line: line)
    XCTAssertEqual(value.dtype, dtype, "dtype " + message(), file: file, line: line)
    let actual = try Ops.doubles(value)
    XCTAssertEqual(actual.count, expected.count, "count " + message(), file: file, line: line)
    let tol = tolerance ?? (dtype == .float32 ? 1e-5 : 1e-12)
    for (i, (a, e)) in zip(actual, expected).enumerated() {
        if a.isNaN && e.isNaN { continue }
        if a == e { continue }
        let scale = Swift.max(1, Swift.abs(e))
        if !(Swift.abs(a - e) <= tol * scale) {
            XCTFail("element \(i): \(a) != expected \(e) " + message(), file: file, line: line)
            return
        }
    }
}

/// Asserts that `body` throws a SwiftFuncError with `status` whose message contains `fragment`.
func assertThrows(_ status: Status, _ fragment: String, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Any) {
    do {
        _ = try body()
        XCTFail("expected an error containing \"\(fragment)\"", file: file, line: line)
    } catch let error as SwiftFuncError {
        XCTAssertEqual(error.status, status, error.message, file: file, line: line)
        XCTAssertTrue(error.message.contains(fragment), "\"\(error.message)\" lacks \"\(fragment)\"", file: file, line: line)
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

/// Multi-index of row-major position `flat` in `shape`.
func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
    var rest = flat
    var index = [Int](repeating: 0, count: shape.count)
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        index[d] = rest % shape[d]
        rest /= shape[d]
    }
    return index
}

/// Row-major position of `index` in `shape`.
func ravel(_ index: [Int], _ shape: [Int]) -> Int {
    var flat = 0
    for d in 0..<shape.count { flat = flat * shape[d] + index[d] }
    return flat
}
