import XCTest
@testable import SwiftFuncCore

/// The raw elements of a contiguous tensor of element type T.
func rawElements<T>(_ value: Value, as: T.Type) throws -> [T] {
    let tensor = try XCTUnwrap(value as? Tensor).contiguous(op: "test")
    let p = tensor.elements(as: T.self)
    return (0..<tensor.count).map { p[$0] }
}

final class CreationTests: XCTestCase {
    // MARK: cast

    /// What torch's x.to(dtype) gives, written out per case.
    func reference(_ v: Double, to dtype: DType) -> Double {
        switch dtype {
        case .float32: return Double(Float(v))
        case .float64: return v
        case .int32:
            if v.isNaN { return 0 }
            return Swift.min(Swift.max(v.rounded(.towardZero), -2147483648), 2147483647)
        case .int64:
            if v.isNaN { return 0 }
            return v.rounded(.towardZero)
        case .bool: return v != 0 ? 1 : 0
        }
    }

    func testCastTable() throws {
        let floats: [Double] = [0, -0.0, 1.5, -1.5, 2.7, -2.7, 0.1, -0.9, 1e10, -1e10, 3e9, .nan, .infinity, -.infinity, 123456.789]
        for source in [DType.float32, .float64] {
            for target in DType.allCases {
                for layout in Layout.allCases {
                    let values = floats.map { source == .float32 ? Double(Float($0)) : $0 }
                    let x = try makeTensor(values, shape: [3, 5], dtype: source, layout: layout)
                    let expected = values.map { reference($0, to: target) }
                    if target == .int64 {
                        // Compare exactly (doubles of int64 results): saturation at the extremes.
                        let got = try rawElements(Ops.cast(x, to: target), as: Int64.self)
                        let want = values.map { v -> Int64 in
                            v.isNaN ? 0 : v >= 9.3e18 ? .max : v <= -9.3e18 ? .min : Int64(v.rounded(.towardZero))
                        }
                        XCTAssertEqual(got, want, "\(source) -> int64 \(layout)")
                    } else {
                        try assertValues(Ops.cast(x, to: target), expected, shape: [3, 5], dtype: target, tolerance: 0,
                                         "\(source) -> \(target) \(layout)")
                    }
                }
            }
        }
    }

    func testCastFromIntegersAndBool() throws {
        let ints: [Double] = [0, 1, -1, 7, -8, 2147483647, -2147483648]
        for source in [DType.int32, .int64] {
            for target in DType.allCases {
                for layout in Layout.allCases {
                    let x = try makeTensor(ints, shape: [7], dtype: source, layout: layout)
                    try assertValues(Ops.cast(x, to: target), ints.map { reference($0, to: target) }, shape: [7], dtype: target,
                                     tolerance: 0, "\(source) -> \(target) \(layout)")
                }
            }
        }
        let bools = try makeTensor([1, 0, 1, 1], shape: [2, 2], dtype: .bool)
        for target in DType.allCases {
            try assertValues(Ops.cast(bools, to: target), [1, 0, 1, 1], shape: [2, 2], dtype: target, tolerance: 0)
        }
    }

    func testCastInt64ExactPaths() throws {
        // int64 -> int32 wraps as in torch (not saturating), int64 -> float32 rounds once.
        let big: [Int64] = [(1 << 40) + 5, -(1 << 40) - 5, (1 << 60) + (1 << 36) + 1, Int64.max, Int64.min, 9007199254740993]
        let x = try big.withUnsafeBytes { try Ops.tensor(copying: $0.baseAddress, dtype: .int64, shape: [big.count]) }
        XCTAssertEqual(try rawElements(Ops.cast(x, to: .int32), as: Int32.self), big.map { Int32(truncatingIfNeeded: $0) })
        XCTAssertEqual(try rawElements(Ops.cast(x, to: .float32), as: Float.self), big.map { Float($0) })
        XCTAssertEqual(try rawElements(Ops.cast(x, to: .float64), as: Double.self), big.map { Double($0) })
        // 2^60 + 2^36 + 1 is just above the float32 halfway point: a double detour would round down.
        XCTAssertEqual(Float(Int64((1 << 60) + (1 << 36) + 1)), Float(Int64((1 << 60) + (1 << 37))))
        let i32: [Int32] = [.max, .min, -3]
        let y = try i32.withUnsafeBytes { try Ops.tensor(copying: $0.baseAddress, dtype: .int32, shape: [3]) }
        XCTAssertEqual(try rawElements(Ops.cast(y, to: .int64), as: Int64.self), i32.map { Int64($0) })
    }

    func testCastToSameDTypeReturnsInputAndZeroSize() throws {
        let x = try makeTensor([1, 2, 3, 4], shape: [2, 2], dtype: .float32, layout: .transposed)
        XCTAssertTrue(try Ops.cast(x, to: .float32) === x)
        XCTAssertTrue(try emit(.cast, [x], .dtype(.float32)) === x)
        let empty = try makeTensor([], shape: [0, 3], dtype: .float64)
        try assertValues(Ops.cast(empty, to: .int32), [], shape: [0, 3], dtype: .int32)
        let rank0 = try makeTensor([-2.5], shape: [], dtype: .float64)
        try assertValues(Ops.cast(rank0, to: .int64), [-2], shape: [], dtype: .int64)
    }

    // MARK: scalar, full, zeros, ones

    func testScalarIsWeakFloat64() throws {
        let s = try Ops.scalar(2.5)
        XCTAssertEqual(s.type, TensorType(shape: [], dtype: .float64, isWeak: true))
        try assertValues(s, [2.5], shape: [], dtype: .float64)
        // Casting makes it strong, even to float64.
        let strong = try Ops.cast(s, to: .float64)
        XCTAssertFalse(strong.type.isWeak)
        try assertValues(strong, [2.5], shape: [], dtype: .float64)
    }

    func testFullZerosOnes() throws {
        for dtype in DType.allCases {
            for shape in [[2, 3], [], [0, 4], [1, 1, 5]] {
                let count = shape.reduce(1, *)
                try assertValues(Ops.zeros(shape: shape, dtype: dtype), [Double](repeating: 0, count: count), shape: shape, dtype: dtype)
                try assertValues(Ops.ones(shape: shape, dtype: dtype), [Double](repeating: 1, count: count), shape: shape, dtype: dtype)
                for value in [-2.75, 0.5, -0.0, 3.0] {
                    try assertValues(Ops.full(shape: shape, value: value, dtype: dtype),
                                     [Double](repeating: reference(value, to: dtype), count: count), shape: shape, dtype: dtype,
                                     tolerance: 0, "full \(value) \(dtype)")
                }
            }
        }
        // -0.0 keeps its sign in float dtypes.
        let negativeZero = try rawElements(Ops.full(shape: [2], value: -0.0, dtype: .float64), as: Double.self)
        XCTAssertEqual(negativeZero.map { $0.sign }, [.minus, .minus])
        XCTAssertFalse(try Ops.zeros(shape: [2]).type.isWeak)
    }

    func testFullShapeErrors() throws {
        assertThrows(.shape, "negative size -1") { try Ops.zeros(shape: [2, -1]) }
        assertThrows(.shape, "more elements than int64 can count") { try Ops.ones(shape: [1 << 40, 1 << 40]) }
        assertThrows(.shape, "too large to allocate") { try Ops.full(shape: [1 << 62], value: 1, dtype: .float64) }
        assertThrows(.shape, "rank 17 exceeds") { try Ops.zeros(shape: [Int](repeating: 1, count: 17)) }
    }

    // MARK: arange

    /// torch.arange's values: count = ceil((end - start) / step), value i = start + i * step.
    func referenceArange(_ start: Double, _ end: Double, _ step: Double, _ dtype: DType) -> [Double] {
        let count = Int(((end - start) / step).rounded(.up))
        return (0..<count).map { reference(start + Double($0) * step, to: dtype) }
    }

    func testArange() throws {
        let cases: [(Double, Double, Double)] = [
            (0, 5, 1), (2, 9, 3), (5, 0, -1), (10, -3, -2.5), (0, 1, 0.1), (0.5, 2.75, 0.25), (-1, 1, 0.3),
            (3, 3, 1), (1, 1.0000001, 1), (0, 10, 20),
        ]
        for (start, end, step) in cases {
            for dtype in [DType.float32, .float64, .int32, .int64] {
                let expected = referenceArange(start, end, step, dtype)
                try assertValues(Ops.arange(start, end, step, dtype: dtype), expected, shape: [expected.count], dtype: dtype,
                                 tolerance: 0, "arange(\(start), \(end), \(step), \(dtype))")
            }
        }
        // torch's count for float steps: arange(0, 1, 0.1) has 10 elements, arange(1, 2.5, 0.5) 3.
        XCTAssertEqual(try Ops.arange(0, 1, 0.1).shape, [10])
        XCTAssertEqual(try Ops.arange(1, 2.5, 0.5).shape, [3])
        XCTAssertEqual(try Ops.arange(0, 5).dtype, .float32)
        // Large integral int64 values are exact.
        let big = Double(1 << 60)
        XCTAssertEqual(try rawElements(Ops.arange(big, big + 1024, 512, dtype: .int64), as: Int64.self), [1 << 60, (1 << 60) + 512])
        // Past int64 the values saturate rather than wrap.
        XCTAssertEqual(try rawElements(Ops.arange(0, 2e19, 8e18, dtype: .int64), as: Int64.self), [0, 8_000_000_000_000_000_000, .max])
        XCTAssertEqual(try rawElements(Ops.arange(0, -2e19, -8e18, dtype: .int64), as: Int64.self), [0, -8_000_000_000_000_000_000, .min])
    }

    func testArangeErrors() {
        assertThrows(.invalidArgument, "step must be finite and nonzero") { try Ops.arange(0, 5, 0) }
        assertThrows(.invalidArgument, "step must be finite and nonzero") { try Ops.arange(0, 5, .nan) }
        assertThrows(.invalidArgument, "bounds must be finite") { try Ops.arange(0, .infinity) }
        assertThrows(.invalidArgument, "bounds must be finite") { try Ops.arange(.nan, 1) }
        assertThrows(.invalidArgument, "does not lead from 5.0 to 0.0") { try Ops.arange(5, 0, 1) }
        assertThrows(.invalidArgument, "does not lead") { try Ops.arange(0, 5, -1) }
        assertThrows(.invalidArgument, "too many elements") { try Ops.arange(-1e300, 1e300, 1e-300) }
        assertThrows(.invalidArgument, "too many elements") { try Ops.arange(0, 1e19) }
        assertThrows(.shape, "too large to allocate") { try Ops.arange(0, 9e18) }
        assertThrows(.dtype, "bool is not supported") { try Ops.arange(0, 5, dtype: .bool) }
        assertThrows(.invalidArgument, "must be finite") { try emit(.arange, [], .arange(start: .nan, step: 1, count: 2, dtype: .float32)) }
        assertThrows(.shape, "negative size") { try emit(.arange, [], .arange(start: 0, step: 1, count: -2, dtype: .float32)) }
    }
}
