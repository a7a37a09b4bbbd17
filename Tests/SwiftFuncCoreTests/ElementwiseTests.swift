import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import SwiftFuncCore

/// Elementwise primitives and activation composites against naive references written here:
/// plain loops over row-major values with an explicit broadcast index, computed in Double.
final class ElementwiseTests: XCTestCase {
    // MARK: Reference helpers

    /// The row-major index into `shape` of output element `flat` of `outShape` (numpy broadcasting).
    private func sourceIndex(_ flat: Int, outShape: [Int], shape: [Int]) -> Int {
        var rest = flat, index = 0, step = 1
        for d in stride(from: outShape.count - 1, through: 0, by: -1) {
            let coordinate = rest % outShape[d]
            rest /= outShape[d]
            let sd = d - (outShape.count - shape.count)
            if sd >= 0 {
                if shape[sd] != 1 { index += coordinate * step }
                step *= shape[sd]
            }
        }
        return index
    }

    /// The numpy broadcast of two shapes, written independently of ShapeChecks.
    private func broadcast(_ a: [Int], _ b: [Int]) -> [Int] {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        return zip(pa, pb).map { $0 == 1 ? $1 : $0 }
    }

    /// erf by its Maclaurin series (independent of libm); accurate to ~1e-15 for |x| <= 3.
    private func erfSeries(_ x: Double) -> Double {
        var term = x, sum = x
        var n = 0
        while Swift.abs(term) > 1e-18 * Swift.max(1, Swift.abs(sum)) && n < 200 {
            n += 1
            term *= -x * x / Double(n)
            sum += term / Double(2 * n + 1)
        }
        return 2 / Double.pi.squareRoot() * sum
    }

    private func isFloat(_ d: DType) -> Bool { d == .float32 || d == .float64 }

    private let allDTypes: [DType] = [.float32, .float64, .int32, .int64, .bool]

    // MARK: Unary float ops

    private struct UnaryFloatCase {
        let name: String
        let op: (Value) throws -> Value
        let reference: (Double) -> Double
        let range: (Double, Double)
    }

    private var unaryFloatCases: [UnaryFloatCase] {
        [
            .init(name: "exp", op: Ops.exp, reference: { Glibc.exp($0) }, range: (-3, 3)),
            .init(name: "log", op: Ops.log, reference: { Glibc.log($0) }, range: (0, 5)),
            .init(name: "log1p", op: Ops.log1p, reference: { Glibc.log1p($0) }, range: (-0.9, 3)),
            .init(name: "expm1", op: Ops.expm1, reference: { Glibc.expm1($0) }, range: (-3, 3)),
            .init(name: "sin", op: Ops.sin, reference: { Glibc.sin($0) }, range: (-4, 4)),
            .init(name: "cos", op: Ops.cos, reference: { Glibc.cos($0) }, range: (-4, 4)),
            .init(name: "tan", op: Ops.tan, reference: { Glibc.tan($0) }, range: (-1.2, 1.2)),
            .init(name: "tanh", op: Ops.tanh, reference: { Glibc.tanh($0) }, range: (-3, 3)),
            .init(name: "sigmoid", op: Ops.sigmoid, reference: { 1 / (1 + Glibc.exp(-$0)) }, range: (-6, 6)),
            .init(name: "sqrt", op: Ops.sqrt, reference: { $0.squareRoot() }, range: (0, 9)),
            .init(name: "rsqrt", op: Ops.rsqrt, reference: { 1 / $0.squareRoot() }, range: (0.1, 9)),
            .init(name: "erf", op: Ops.erf, reference: erfSeries, range: (-2.5, 2.5)),
        ]
    }

    func testUnaryFloatOpsAllDTypesAndLayouts() throws {
        var rng = TestRandom(seed: 1)
        let shapes: [[Int]] = [[3, 4], [2, 3, 5], [], [0, 3], [7]]
        for c in unaryFloatCases {
            for dtype in allDTypes {
                for shape in shapes {
                    for layout in Layout.allCases {
                        let values = randomValues(shape, dtype: dtype, in: c.range, rng: &rng)
                        let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                        let y = try c.op(x)
                        let expectedType: DType = dtype == .float64 ? .float64 : .float32
                        try assertValues(y, values.map(c.reference), shape: shape, dtype: expectedType,
                                         "\(c.name) \(dtype) \(formatShape(shape)) \(layout)")
                        // The input is untouched.
                        try assertValues(x, values, shape: shape, dtype: dtype, "\(c.name) input")
                    }
                }
            }
        }
    }

    func testSigmoidIsStableForLargeMagnitudes() throws {
        for dtype in [DType.float32, .float64] {
            let x = try makeTensor([-1000, -100, -30, 0, 30, 100, 1000], shape: [7], dtype: dtype)
            let y = try Ops.doubles(Ops.sigmoid(x))
            XCTAssertFalse(y.contains { $0.isNaN }, "\(dtype) \(y)")
            XCTAssertEqual(y[0], 0)
            XCTAssertEqual(y[6], 1)
            XCTAssertEqual(y[3], 0.5)
            // e^-30 is representable: the small side keeps relative precision, not just 0.
            XCTAssertEqual(y[2], Glibc.exp(-30.0) / (1 + Glibc.exp(-30.0)), accuracy: 1e-6 * Glibc.exp(-30.0))
            XCTAssertGreaterThan(y[1], 0)
        }
    }

    // MARK: Unary numeric ops

    private struct UnaryNumericCase {
        let name: String
        let op: (Value) throws -> Value
        let reference: (Double) -> Double
        let acceptsBool: Bool
    }

    private var unaryNumericCases: [UnaryNumericCase] {
        [
            .init(name: "neg", op: Ops.neg, reference: { -$0 }, acceptsBool: false),
            .init(name: "abs", op: Ops.abs, reference: { Swift.abs($0) }, acceptsBool: false),
            .init(name: "sign", op: Ops.sign, reference: { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, acceptsBool: true),
            .init(name: "relu", op: Ops.relu, reference: { $0 < 0 ? 0 : $0 }, acceptsBool: false),
            .init(name: "floor", op: Ops.floor, reference: { Glibc.floor($0) }, acceptsBool: false),
            .init(name: "ceil", op: Ops.ceil, reference: { Glibc.ceil($0) }, acceptsBool: false),
            .init(name: "round", op: Ops.round, reference: { Glibc.rint($0) }, acceptsBool: false),
        ]
    }

    func testUnaryNumericOpsKeepDTypeAllLayouts() throws {
        var rng = TestRandom(seed: 2)
        let shapes: [[Int]] = [[3, 4], [2, 3, 5], [], [4, 0]]
        for c in unaryNumericCases {
            for dtype in allDTypes {
                for shape in shapes {
                    for layout in Layout.allCases {
                        let values = randomValues(shape, dtype: dtype, in: (-5, 5), rng: &rng)
                        let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                        if dtype == .bool && !c.acceptsBool {
                            assertThrows(.dtype, "sf_\(c.name): bool") { try c.op(x) }
                            continue
                        }
                        try assertValues(c.op(x), values.map(c.reference), shape: shape, dtype: dtype,
                                         "\(c.name) \(dtype) \(formatShape(shape)) \(layout)")
                    }
                }
            }
        }
    }

    func testRoundIsHalfToEven() throws {
        let values: [Double] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 0.49999997, 2.6, -2.6]
        let expected: [Double] = [0, 2, 2, -0, -2, -2, 4, 0, 3, -3]
        for dtype in [DType.float32, .float64] {
            try assertValues(Ops.round(makeTensor(values, shape: [10], dtype: dtype)), expected, shape: [10], dtype: dtype)
        }
    }

    func testSignAndReluSpecialValues() throws {
        let x = try makeTensor([.nan, -0.0, 0.0, -.infinity, .infinity], shape: [5], dtype: .float32)
        let sign = try Ops.doubles(Ops.sign(x))
        XCTAssertEqual(sign, [0, 0, 0, -1, 1])
        let relu = try Ops.doubles(Ops.relu(x))
        XCTAssertTrue(relu[0].isNaN, "relu keeps NaN")
        XCTAssertEqual(Array(relu[1...]), [0, 0, 0, .infinity])
        // Integer neg and abs wrap at the most negative value, as two's complement (torch).
        let m = try makeTensor([-2147483648, 7], shape: [2], dtype: .int32)
        XCTAssertEqual(try Ops.doubles(Ops.abs(m)), [-2147483648, 7])
        XCTAssertEqual(try Ops.doubles(Ops.neg(m)), [-2147483648, -7])
        // sign of bool is the identity.
        try assertValues(Ops.sign(makeTensor([1, 0, 1], shape: [3], dtype: .bool)), [1, 0, 1], shape: [3], dtype: .bool)
    }

    func testUnaryKeepsWeakness() throws {
        let weak = try Tensor(uninitialized: TensorType(shape: [], dtype: .float64, isWeak: true), op: "test")
        weak.elements(as: Double.self).pointee = 2
        let y = try Ops.exp(weak)
        XCTAssertTrue(y.type.isWeak)
        XCTAssertEqual(y.dtype, .float64)
        XCTAssertFalse(try Ops.exp(makeTensor([1], shape: [1])).type.isWeak)
    }

    // MARK: Binary ops

    private struct BinaryCase {
        let name: String
        let op: (Value, Value) throws -> Value
        /// The reference in Double for the computation dtype (already promoted).
        let reference: (Double, Double, DType) -> Double
        /// The result dtype for a computation dtype (nil: the op refuses it).
        let resultType: (DType) -> DType?
    }

    private var binaryCases: [BinaryCase] {
        [
            .init(name: "add", op: Ops.add, reference: { a, b, d in d == .bool ? (a != 0 || b != 0 ? 1 : 0) : a + b },
                  resultType: { $0 }),
            .init(name: "sub", op: Ops.sub, reference: { a, b, _ in a - b }, resultType: { $0 == .bool ? nil : $0 }),
            .init(name: "mul", op: Ops.mul, reference: { a, b, d in d == .bool ? (a != 0 && b != 0 ? 1 : 0) : a * b },
                  resultType: { $0 }),
            .init(name: "div", op: Ops.div, reference: { a, b, _ in a / b },
                  resultType: { $0 == .float64 ? .float64 : .float32 }),
            .init(name: "pow", op: Ops.pow, reference: { a, b, _ in Glibc.pow(a, b) }, resultType: { $0 == .bool ? nil : $0 }),
            .init(name: "maximum", op: Ops.maximum, reference: { a, b, _ in a.isNaN || b.isNaN ? .nan : Swift.max(a, b) },
                  resultType: { $0 }),
            .init(name: "minimum", op: Ops.minimum, reference: { a, b, _ in a.isNaN || b.isNaN ? .nan : Swift.min(a, b) },
                  resultType: { $0 }),
            .init(name: "atan2", op: Ops.atan2, reference: { a, b, _ in Glibc.atan2(a, b) },
                  resultType: { $0 == .float64 ? .float64 : .float32 }),
        ]
    }

    /// Shape pairs: equal, one-sided and two-sided broadcasting, rank 0, zero-size.
    private let shapePairs: [([Int], [Int])] = [
        ([3, 4], [3, 4]), ([3, 1], [4]), ([2, 3, 4], [3, 1]), ([1, 4], [3, 1]), ([], [2, 3]), ([2, 3], []),
        ([], []), ([0, 3], [3]), ([2, 0], [1, 1]), ([5], [1]), ([2, 1, 3], [2, 4, 1]),
    ]

    /// Values for operand `isExponent` of op `name` in dtype, chosen so the reference is well defined.
    private func operandValues(_ shape: [Int], _ dtype: DType, op: String, second: Bool, rng: inout TestRandom) -> [Double] {
        switch (op, second) {
        case ("pow", false) where isFloat(dtype): return randomValues(shape, dtype: dtype, in: (0.1, 3), rng: &rng)
        case ("pow", false): return randomValues(shape, dtype: dtype, in: (-3, 4), rng: &rng)
        case ("pow", true): return randomValues(shape, dtype: dtype, in: (0, 4), rng: &rng)
        case ("div", true) where !isFloat(dtype): return randomValues(shape, dtype: dtype, in: (1, 6), rng: &rng)
        default: return randomValues(shape, dtype: dtype, in: (-4, 4), rng: &rng)
        }
    }

    private func checkBinary(_ c: BinaryCase, _ da: DType, _ db: DType, _ sa: [Int], _ sb: [Int],
                             _ la: Layout, _ lb: Layout, rng: inout TestRandom) throws {
        let va = operandValues(sa, da, op: c.name, second: false, rng: &rng)
        let vb = operandValues(sb, db, op: c.name, second: true, rng: &rng)
        let a = try makeTensor(va, shape: sa, dtype: da, layout: la)
        let b = try makeTensor(vb, shape: sb, dtype: db, layout: lb)
        let compute = DType.promoteStrong(da, db)
        let label = "\(c.name) \(da)\(formatShape(sa)) \(la) with \(db)\(formatShape(sb)) \(lb)"
        guard let resultType = c.resultType(compute) else {
            assertThrows(.dtype, "sf_\(c.name):") { try c.op(a, b) }
            return
        }
        let out = broadcast(sa, sb)
        let count = out.reduce(1, *)
        let expected = (0..<count).map { i -> Double in
            let x = va[sourceIndex(i, outShape: out, shape: sa)], y = vb[sourceIndex(i, outShape: out, shape: sb)]
            return c.reference(x, y, compute)
        }
        try assertValues(c.op(a, b), expected, shape: out, dtype: resultType, label)
        try assertValues(a, va, shape: sa, dtype: da, "input a untouched: " + label)
        try assertValues(b, vb, shape: sb, dtype: db, "input b untouched: " + label)
    }

    func testBinaryOpsSameDTypeBroadcastingAllLayouts() throws {
        var rng = TestRandom(seed: 3)
        for c in binaryCases {
            for dtype in allDTypes {
                for (sa, sb) in shapePairs {
                    for la in Layout.allCases {
                        for lb in Layout.allCases {
                            try checkBinary(c, dtype, dtype, sa, sb, la, lb, rng: &rng)
                        }
                    }
                }
            }
        }
    }

    func testBinaryOpsMixedDTypes() throws {
        var rng = TestRandom(seed: 4)
        let pairs: [(DType, DType)] = [(.int32, .float32), (.float32, .float64), (.bool, .int64), (.int32, .int64),
                                       (.float64, .int32), (.bool, .float32), (.int64, .bool)]
        for c in binaryCases {
            for (da, db) in pairs {
                for (sa, sb) in shapePairs {
                    for layout in [Layout.contiguous, .transposed, .reversed] {
                        try checkBinary(c, da, db, sa, sb, layout, .contiguous, rng: &rng)
                        try checkBinary(c, da, db, sa, sb, .strided, layout, rng: &rng)
                    }
                }
            }
        }
    }

    func testIntegerPowIsExactAndWraps() throws {
        let a = try makeTensor([2, -3, 0, 0, 7, -1], shape: [6], dtype: .int64)
        let b = try makeTensor([10, 3, 0, 5, 2, 7], shape: [6], dtype: .int64)
        try assertValues(Ops.pow(a, b), [1024, -27, 1, 0, 49, -1], shape: [6], dtype: .int64)
        // 3^40 overflows int32 and wraps like C's unsigned arithmetic.
        let big = try Ops.doubles(Ops.pow(makeTensor([3], shape: [1], dtype: .int32), makeTensor([40], shape: [1], dtype: .int32)))
        var wrapped: Int32 = 1
        for _ in 0..<40 { wrapped = wrapped &* 3 }
        XCTAssertEqual(big, [Double(wrapped)])
    }

    func testIntegerDivisionIsTrueDivision() throws {
        let a = try makeTensor([7, -7, 1, 0], shape: [4], dtype: .int32)
        let b = try makeTensor([2, 2, 0, 0], shape: [4], dtype: .int64)
        let y = try Ops.div(a, b)
        XCTAssertEqual(y.dtype, .float32)
        let values = try Ops.doubles(y)
        XCTAssertEqual(Array(values[0..<3]), [3.5, -3.5, .infinity])
        XCTAssertTrue(values[3].isNaN)
    }

    func testMaximumMinimumPropagateNaN() throws {
        for dtype in [DType.float32, .float64] {
            let a = try makeTensor([.nan, 1, .nan, 2, -0.5], shape: [5], dtype: dtype)
            let b = try makeTensor([1, .nan, .nan, 3, -1], shape: [5], dtype: dtype)
            let mx = try Ops.doubles(Ops.maximum(a, b)), mn = try Ops.doubles(Ops.minimum(a, b))
            XCTAssertTrue(mx[0].isNaN && mx[1].isNaN && mx[2].isNaN, "\(mx)")
            XCTAssertTrue(mn[0].isNaN && mn[1].isNaN && mn[2].isNaN, "\(mn)")
            XCTAssertEqual(Array(mx[3...]), [3, -0.5])
            XCTAssertEqual(Array(mn[3...]), [2, -1])
            // The scalar-broadcast fast path propagates too, from either side.
            let s = try makeTensor([.nan], shape: [], dtype: dtype)
            XCTAssertTrue(try Ops.doubles(Ops.maximum(b, s)).allSatisfy { $0.isNaN })
            XCTAssertTrue(try Ops.doubles(Ops.minimum(s, b)).allSatisfy { $0.isNaN })
        }
    }

    func testBoolArithmetic() throws {
        let a = try makeTensor([0, 0, 1, 1], shape: [4], dtype: .bool)
        let b = try makeTensor([0, 1, 0, 1], shape: [4], dtype: .bool)
        try assertValues(Ops.add(a, b), [0, 1, 1, 1], shape: [4], dtype: .bool)
        try assertValues(Ops.mul(a, b), [0, 0, 0, 1], shape: [4], dtype: .bool)
        try assertValues(Ops.maximum(a, b), [0, 1, 1, 1], shape: [4], dtype: .bool)
        try assertValues(Ops.minimum(a, b), [0, 0, 0, 1], shape: [4], dtype: .bool)
        try assertValues(Ops.div(a, b), [.nan, 0, .infinity, 1], shape: [4], dtype: .float32)
        assertThrows(.dtype, "sf_sub: subtraction of two bool tensors") { try Ops.sub(a, b) }
        assertThrows(.dtype, "sf_pow: two bool tensors") { try Ops.pow(a, b) }
        assertThrows(.dtype, "sf_neg: bool") { try Ops.neg(a) }
        // bool with a number is the number's type: sub is fine then.
        try assertValues(Ops.sub(a, makeTensor([1], shape: [1], dtype: .int32)), [-1, -1, 0, 0], shape: [4], dtype: .int32)
    }

    func testBoolBytesOtherThanOneReadAsTrue() throws {
        // Foreign bool memory may hold any nonzero byte; results are canonical 0/1.
        let raw = try Tensor(uninitialized: TensorType(shape: [3], dtype: .bool), op: "test")
        let p = raw.elements(as: UInt8.self)
        p[0] = 2; p[1] = 0; p[2] = 255
        let ones = try makeTensor([1, 1, 1], shape: [3], dtype: .bool)
        XCTAssertEqual(try Ops.doubles(Ops.eq(raw, ones)), [1, 0, 1])
        let sum = try Ops.add(raw, makeTensor([0, 0, 0], shape: [3], dtype: .bool)) as! Tensor
        XCTAssertEqual(Array(UnsafeBufferPointer(start: sum.elements(as: UInt8.self), count: 3)), [1, 0, 1])
        let sign = try Ops.sign(raw) as! Tensor
        XCTAssertEqual(Array(UnsafeBufferPointer(start: sign.elements(as: UInt8.self), count: 3)), [1, 0, 1])
        let w = try Ops.where(raw, makeTensor([1, 2, 3], shape: [3]), makeTensor([-1, -2, -3], shape: [3]))
        XCTAssertEqual(try Ops.doubles(w), [1, -2, 3])
    }

    // MARK: Promotion

    private func weakScalar(_ value: Double) throws -> Tensor {
        let t = try Tensor(uninitialized: TensorType(shape: [], dtype: .float64, isWeak: true), op: "test")
        t.elements(as: Double.self).pointee = value
        return t
    }

    func testPromotionTable() throws {
        let cases: [(DType, DType, DType)] = [
            (.int32, .float32, .float32), (.float32, .float64, .float64), (.bool, .int64, .int64),
            (.int32, .int64, .int64), (.bool, .bool, .bool), (.bool, .int32, .int32), (.int64, .float32, .float32),
        ]
        for (da, db, expected) in cases {
            let a = try makeTensor([1, 0], shape: [2], dtype: da), b = try makeTensor([1, 1], shape: [2], dtype: db)
            let ab = try Ops.add(a, b), ba = try Ops.add(b, a)
            XCTAssertEqual(ab.dtype, expected, "\(da) + \(db)")
            XCTAssertEqual(ba.dtype, expected, "\(db) + \(da)")
            XCTAssertFalse(ab.type.isWeak)
            XCTAssertEqual(try Ops.lt(a, b).dtype, .bool)
        }
        // Weak scalars take a float partner's dtype and lift integers and bool to float32.
        let weakCases: [(DType, DType)] = [(.float32, .float32), (.float64, .float64), (.int64, .float32), (.int32, .float32), (.bool, .float32)]
        for (d, expected) in weakCases {
            let x = try makeTensor([3, 4], shape: [2], dtype: d)
            let left = try Ops.mul(try weakScalar(0.5), x), right = try Ops.add(x, try weakScalar(0.5))
            XCTAssertEqual(left.dtype, expected, "weak * \(d)")
            XCTAssertEqual(right.dtype, expected, "\(d) + weak")
            XCTAssertFalse(left.type.isWeak)
            let dv: Double = d == .bool ? 1 : 3
            try assertValues(left, [0.5 * dv, d == .bool ? 0.5 : 2], shape: [2], dtype: expected)
        }
        // Two weak operands stay weak float64.
        let both = try Ops.add(weakScalar(1), weakScalar(2))
        XCTAssertTrue(both.type.isWeak)
        XCTAssertEqual(both.dtype, .float64)
        try assertValues(both, [3], shape: [], dtype: .float64)
        // An int64 tensor against a weak 2.5 compares in float32, not after truncating 2.5 to 2.
        let i = try makeTensor([2, 3], shape: [2], dtype: .int64)
        XCTAssertEqual(try Ops.doubles(Ops.lt(i, weakScalar(2.5))), [1, 0])
        XCTAssertEqual(try Ops.doubles(Ops.eq(i, weakScalar(2.5))), [0, 0])
    }

    func testComparisonsComputeInPromotedDType() throws {
        // 16777217 is not a float32: promoted to float32 it equals 16777216 (torch agrees).
        let i = try makeTensor([16777217], shape: [1], dtype: .int32)
        let f = try makeTensor([16777216], shape: [1], dtype: .float32)
        XCTAssertEqual(try Ops.doubles(Ops.eq(i, f)), [1])
        // In float64 they differ.
        XCTAssertEqual(try Ops.doubles(Ops.eq(i, makeTensor([16777216], shape: [1], dtype: .float64))), [0])
    }

    // MARK: Comparisons

    func testComparisonsAllDTypesBroadcastingLayouts() throws {
        var rng = TestRandom(seed: 5)
        let ops: [(String, (Value, Value) throws -> Value, (Double, Double) -> Bool)] = [
            ("lt", Ops.lt, { $0 < $1 }), ("le", Ops.le, { $0 <= $1 }), ("gt", Ops.gt, { $0 > $1 }),
            ("ge", Ops.ge, { $0 >= $1 }), ("eq", Ops.eq, { $0 == $1 }), ("ne", Ops.ne, { $0 != $1 }),
        ]
        for (name, op, reference) in ops {
            for (da, db) in [(DType.float32, DType.float32), (.float64, .float64), (.int32, .int32), (.int64, .int64),
                             (.bool, .bool), (.int32, .float64), (.bool, .float32)] {
                for (sa, sb) in shapePairs {
                    for layout in Layout.allCases {
                        // Small integer-valued ranges make ties (eq, le, ge) common.
                        let va = randomValues(sa, dtype: da, in: (-2, 2), rng: &rng).map { isFloat(da) ? $0.rounded() : $0 }
                        let vb = randomValues(sb, dtype: db, in: (-2, 2), rng: &rng).map { isFloat(db) ? $0.rounded() : $0 }
                        let a = try makeTensor(va, shape: sa, dtype: da, layout: layout)
                        let b = try makeTensor(vb, shape: sb, dtype: db, layout: .reversed)
                        let out = broadcast(sa, sb)
                        let expected = (0..<out.reduce(1, *)).map { k -> Double in
                            reference(va[sourceIndex(k, outShape: out, shape: sa)], vb[sourceIndex(k, outShape: out, shape: sb)]) ? 1 : 0
                        }
                        try assertValues(op(a, b), expected, shape: out, dtype: .bool, "\(name) \(da) \(db) \(formatShape(sa)) \(formatShape(sb)) \(layout)")
                    }
                }
            }
        }
        // NaN: every comparison is false except ne.
        let n = try makeTensor([.nan, 1], shape: [2], dtype: .float32)
        let one = try makeTensor([1, .nan], shape: [2], dtype: .float32)
        for (name, op, _) in ops {
            XCTAssertEqual(try Ops.doubles(op(n, one)), name == "ne" ? [1, 1] : [0, 0], name)
        }
    }

    // MARK: where

    func testWhereBroadcastsAndPromotes() throws {
        var rng = TestRandom(seed: 6)
        let shapes: [([Int], [Int], [Int])] = [
            ([3, 4], [3, 4], [3, 4]), ([3, 1], [4], []), ([], [2, 3], [3]), ([2, 1, 3], [4, 1], [1]), ([0, 2], [2], []),
            ([], [], []),
        ]
        for (sc, sa, sb) in shapes {
            for (da, db) in [(DType.float32, DType.float32), (.float64, .int32), (.int64, .int64), (.bool, .bool), (.int32, .float32)] {
                for layout in Layout.allCases {
                    let vc = randomValues(sc, dtype: .bool, rng: &rng)
                    let va = randomValues(sa, dtype: da, rng: &rng), vb = randomValues(sb, dtype: db, rng: &rng)
                    let c = try makeTensor(vc, shape: sc, dtype: .bool, layout: layout)
                    let a = try makeTensor(va, shape: sa, dtype: da, layout: .reversed)
                    let b = try makeTensor(vb, shape: sb, dtype: db, layout: layout)
                    let out = broadcast(broadcast(sc, sa), sb)
                    let expected = (0..<out.reduce(1, *)).map { k -> Double in
                        vc[sourceIndex(k, outShape: out, shape: sc)] != 0
                            ? va[sourceIndex(k, outShape: out, shape: sa)] : vb[sourceIndex(k, outShape: out, shape: sb)]
                    }
                    try assertValues(Ops.where(c, a, b), expected, shape: out, dtype: DType.promoteStrong(da, db),
                                     "where \(formatShape(sc)) \(da)\(formatShape(sa)) \(db)\(formatShape(sb)) \(layout)")
                }
            }
        }
        // Weak branches: where(cond, 1.0, x) takes x's dtype.
        let cond = try makeTensor([1, 0], shape: [2], dtype: .bool)
        let x = try makeTensor([5, 6], shape: [2], dtype: .float32)
        try assertValues(Ops.where(cond, weakScalar(1), x), [1, 6], shape: [2], dtype: .float32)
        XCTAssertTrue(try Ops.where(cond, weakScalar(1), weakScalar(2)).type.isWeak)
    }

    func testWhereErrors() throws {
        let x = try makeTensor([1, 2, 3], shape: [3])
        assertThrows(.dtype, "sf_where: cond must be a bool tensor, got float64") { try Ops.where(x, x, x) }
        let c = try makeTensor([1, 0], shape: [2], dtype: .bool)
        assertThrows(.shape, "[2] (cond), [3] (a) and [3] (b)") { try Ops.where(c, x, x) }
    }

    // MARK: Fast paths

    func testScalarAndExpandedOperandsMatchGeneralPath() throws {
        var rng = TestRandom(seed: 7)
        for dtype in [DType.float32, .float64, .int32, .int64] {
            let n = 37
            let values = randomValues([n], dtype: dtype, rng: &rng)
            let x = try makeTensor(values, shape: [n], dtype: dtype)
            // A 0-d operand of another dtype (read and converted once) on either side.
            let s = try makeTensor([3], shape: [], dtype: .int32)
            try assertValues(Ops.sub(x, s), values.map { $0 - 3 }, shape: [n], dtype: DType.promoteStrong(dtype, .int32))
            try assertValues(Ops.sub(s, x), values.map { 3 - $0 }, shape: [n], dtype: DType.promoteStrong(dtype, .int32))
            // An expanded operand: stride 0 over n elements of one stored value.
            let one = try makeTensor([2], shape: [1], dtype: dtype)
            let expanded = one.view(type: TensorType(shape: [n], dtype: dtype), strides: [0], offset: 0)
            try assertValues(Ops.mul(x, expanded), values.map { $0 * 2 }, shape: [n], dtype: dtype)
            try assertValues(Ops.mul(expanded, x), values.map { 2 * $0 }, shape: [n], dtype: dtype)
            // Uniform side with a strided other side goes through the row walk.
            let strided = try makeTensor(values, shape: [n], dtype: dtype, layout: .strided)
            try assertValues(Ops.sub(strided, s), values.map { $0 - 3 }, shape: [n], dtype: DType.promoteStrong(dtype, .int32))
        }
    }

    func testLargeContiguousAdd() throws {
        var rng = TestRandom(seed: 8)
        let n = 100_003
        let va = randomValues([n], dtype: .float32, rng: &rng), vb = randomValues([n], dtype: .float32, rng: &rng)
        let y = try Ops.add(makeTensor(va, shape: [n], dtype: .float32), makeTensor(vb, shape: [n], dtype: .float32))
        try assertValues(y, zip(va, vb).map { Double(Float($0) + Float($1)) }, shape: [n], dtype: .float32, tolerance: 0)
    }

    // MARK: Errors

    func testBinaryErrors() throws {
        let a = try makeTensor([Double](repeating: 1, count: 12), shape: [3, 4])
        let b = try makeTensor([1, 2, 3, 4, 5], shape: [5])
        for (name, op) in [("add", Ops.add), ("mul", Ops.mul), ("div", Ops.div), ("lt", Ops.lt), ("atan2", Ops.atan2)] as [(String, (Value, Value) throws -> Value)] {
            assertThrows(.shape, "sf_\(name): shapes [3, 4] and [5] cannot be broadcast together") { try op(a, b) }
        }
        let base = try makeTensor([2, 3], shape: [2], dtype: .int32)
        let exponent = try makeTensor([1, -1], shape: [2], dtype: .int64)
        assertThrows(.invalidArgument, "sf_pow: integers to negative integer powers are not allowed") { try Ops.pow(base, exponent) }
        // Negative exponents are fine once floats are involved.
        try assertValues(Ops.pow(base, makeTensor([1, -1], shape: [2], dtype: .float32)), [2, 1.0 / 3], shape: [2], dtype: .float32)
        assertThrows(.dtype, "sf_relu: bool") { try Ops.relu(makeTensor([1], shape: [1], dtype: .bool)) }
    }

    // MARK: Activations

    func testSiluAndGelu() throws {
        var rng = TestRandom(seed: 9)
        let sqrt2 = 2.0.squareRoot()
        let k = (2 / Double.pi).squareRoot()
        for dtype in [DType.float32, .float64] {
            for shape in [[3, 4], [], [0, 2], [2, 3, 2]] as [[Int]] {
                for layout in Layout.allCases {
                    let v = randomValues(shape, dtype: dtype, in: (-4, 4), rng: &rng)
                    let x = try makeTensor(v, shape: shape, dtype: dtype, layout: layout)
                    try assertValues(Ops.silu(x), v.map { $0 / (1 + Glibc.exp(-$0)) }, shape: shape, dtype: dtype, "silu")
                    try assertValues(Ops.gelu(x), v.map { 0.5 * $0 * (1 + erfSeries($0 / sqrt2)) }, shape: shape, dtype: dtype,
                                     tolerance: dtype == .float32 ? 1e-5 : 1e-12, "gelu")
                    try assertValues(Ops.gelu(x, tanhApproximation: true),
                                     v.map { 0.5 * $0 * (1 + Glibc.tanh(k * ($0 + 0.044715 * $0 * $0 * $0))) },
                                     shape: shape, dtype: dtype, "gelu tanh")
                }
            }
        }
        // The two gelu forms agree closely but are not the same function.
        let x = try makeTensor([1.0], shape: [1])
        let exact = try Ops.doubles(Ops.gelu(x))[0], approx = try Ops.doubles(Ops.gelu(x, tanhApproximation: true))[0]
        XCTAssertEqual(exact, approx, accuracy: 1e-3)
        XCTAssertNotEqual(exact, approx)
        assertThrows(.dtype, "sf_gelu: expected a float tensor, got int32") { try Ops.gelu(makeTensor([1], shape: [1], dtype: .int32)) }
        assertThrows(.dtype, "sf_silu: expected a float tensor, got bool") { try Ops.silu(makeTensor([1], shape: [1], dtype: .bool)) }
    }
}
