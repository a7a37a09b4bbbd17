import XCTest
@testable import SwiftFuncCore

/// The threaded kernels (issue 10): elementwise, copies and reductions give the same bits on every
/// thread count and from run to run, at sizes around the grain, on every dtype and layout, and
/// match naive references; the small-group reduction path matches the row reducers bit for bit;
/// the identity basis of jacrev/jacfwd is the identity. Every test restores the thread count.
final class ThreadingTests: XCTestCase {
    private var savedThreads = 0

    override func setUp() {
        super.setUp()
        savedThreads = Parallel.threadCount
    }

    override func tearDown() {
        Parallel.threadCount = savedThreads
        super.tearDown()
    }

    /// The raw bytes of a value's elements, in row-major order.
    private func bytes(_ value: Value) throws -> [UInt8] {
        let tensor = try XCTUnwrap(value as? Tensor).contiguous(op: "test")
        guard let base = tensor.baseAddress else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: tensor.count * tensor.dtype.itemSize))
    }

    /// `make()` on 1, 2 and 3 threads (and, with `again`, on 2 once more: run to run): the same
    /// bytes every time. Returns the single-thread result.
    @discardableResult
    private func assertSameBits(_ what: String, again: Bool = false, file: StaticString = #filePath, line: UInt = #line,
                                _ make: () throws -> Value) throws -> Value {
        Parallel.threadCount = 1
        let serial = try make()
        let reference = try bytes(serial)
        for threads in again ? [2, 3, 2] : [2, 3] {
            Parallel.threadCount = threads
            XCTAssertEqual(try bytes(make()), reference, "\(what) on \(threads) threads", file: file, line: line)
        }
        return serial
    }

    private static let dtypes: [DType] = [.float32, .float64, .int32, .int64, .bool]

    // MARK: Parallel.run and the strided walk

    func testRunSplitsFromTwiceTheGrain() {
        Parallel.threadCount = 2
        for (count, chunks) in [(0, 0), (1, 1), (199, 1), (200, 2), (201, 2), (799, 7), (10_000, 2 * Parallel.chunksPerThread)] {
            var seen: [Range<Int>] = []
            var lock = pthread_mutex_t()
            pthread_mutex_init(&lock, nil)
            Parallel.run(count, grain: 100) { range in
                pthread_mutex_lock(&lock)
                seen.append(range)
                pthread_mutex_unlock(&lock)
            }
            seen.sort { $0.lowerBound < $1.lowerBound }
            XCTAssertEqual(seen.count, chunks, "count \(count)")
            XCTAssertEqual(seen.map(\.count).reduce(0, +), count)
            for (a, b) in zip(seen, seen.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound) }
            XCTAssertEqual(Parallel.splits(count, grain: 100), chunks > 1)
        }
        Parallel.threadCount = 1
        XCTAssertFalse(Parallel.splits(10_000, grain: 100))
    }

    func testForEachRunCoversAnyRangeInOrder() {
        // Odd, negative, zero (broadcast) and mergeable strides, two operands.
        let shape = [3, 1, 5, 4, 7]
        let strides = [[-301, 999, 61, 13, -2], [0, 5, 28, 7, 1]]
        let loop = StridedLoop(shape: shape, strides: strides)
        let count = shape.reduce(1, *)
        XCTAssertEqual(loop.count, count)
        func offsets(_ flat: Int) -> [Int] {
            let index = unravel(flat, shape)
            return strides.map { s in zip(index, s).map { $0 * $1 }.reduce(0, +) }
        }
        var rng = TestRandom(seed: 5)
        var ranges = [0..<count, 0..<0, 7..<8, 27..<29, 0..<1, (count - 3)..<count]
        for _ in 0..<40 {
            let a = Int(rng.next() * Double(count + 1)), b = Int(rng.next() * Double(count + 1))
            ranges.append(Swift.min(a, b)..<Swift.max(a, b))
        }
        for range in ranges {
            var next = range.lowerBound
            loop.forEachRun(in: range) { at, n, position in
                XCTAssertEqual(position, next, "range \(range)")
                XCTAssertGreaterThan(n, 0)
                for i in 0..<n {
                    let expected = offsets(position + i)
                    XCTAssertEqual(at[0] + i * loop.innerStride(0), expected[0], "range \(range) position \(position + i)")
                    XCTAssertEqual(at[1] + i * loop.innerStride(1), expected[1], "range \(range) position \(position + i)")
                }
                next = position + n
            }
            XCTAssertEqual(next, range.upperBound, "range \(range)")
        }
        var odometer = Odometer(shape: [4, 3, 2], strides: [[6, -2, 1]], start: 17)
        XCTAssertEqual(odometer.index, [2, 2, 1])
        XCTAssertEqual(odometer.offset, 12 - 4 + 1)
        odometer.advance()
        XCTAssertEqual(odometer.index, [3, 0, 0])
        XCTAssertEqual(odometer.offset, 18)
    }

    // MARK: Elementwise and copies around the grain

    /// Sizes around the grain: below it, at it, one past it, around twice it (the split), many chunks.
    private func sizes(_ grain: Int) -> [Int] { [grain - 1, grain, grain + 1, 2 * grain - 1, 2 * grain, 2 * grain + 1, 5 * grain + 3] }

    func testContiguousElementwiseAroundTheGrain() throws {
        var rng = TestRandom(seed: 11)
        let split = 2 * Parallel.memoryGrain + 1
        for (n, dtype) in sizes(Parallel.memoryGrain).map({ ($0, DType.float32) }) + Self.dtypes.dropFirst().map({ (split, $0) }) {
            do {
                let av = randomValues([n], dtype: dtype, in: (-50, 50), rng: &rng)
                let bv = randomValues([n], dtype: dtype, in: (-50, 50), rng: &rng)
                let a = try Ops.tensor(av, shape: [n], dtype: dtype), b = try Ops.tensor(bv, shape: [n], dtype: dtype)
                let sum = try assertSameBits("add \(dtype) n \(n)", again: true) { try Ops.add(a, b) }
                let expected = zip(av, bv).map { x, y -> Double in
                    switch dtype {
                    case .float32: return Double(Float(x) + Float(y))
                    case .bool: return x != 0 || y != 0 ? 1 : 0
                    default: return x + y
                    }
                }
                try assertValues(sum, expected, shape: [n], dtype: dtype, tolerance: 0, "add \(dtype) n \(n)")
                try assertSameBits("lt \(dtype) n \(n)") { try Ops.lt(a, b) }
                // The other fast paths once per dtype, at a size that splits.
                guard n == split else { continue }
                try assertSameBits("add scalar \(dtype) n \(n)") { try Ops.add(a, Ops.scalar(3)) }
                if dtype != .bool { try assertSameBits("neg \(dtype) n \(n)") { try Ops.neg(a) } }
                try assertSameBits("where \(dtype) n \(n)") { try Ops.where(Ops.gt(a, b), a, b) }
                let cast = try assertSameBits("cast \(dtype) n \(n)") { try Ops.cast(a, to: dtype == .float64 ? .int32 : .float64) }
                try assertValues(cast, av.map { dtype == .float64 ? $0.rounded(.towardZero) : $0 }, shape: [n],
                                 dtype: dtype == .float64 ? .int32 : .float64, tolerance: 0, "cast \(dtype) n \(n)")
            }
        }
        // The libm ops split from a smaller grain.
        for n in sizes(Parallel.mathGrain) {
            for dtype in [DType.float32, .float64] {
                let values = randomValues([n], dtype: dtype, in: (-3, 3), rng: &rng)
                let x = try Ops.tensor(values, shape: [n], dtype: dtype)
                let y = try assertSameBits("tanh \(dtype) n \(n)", again: true) { try Ops.tanh(x) }
                try assertValues(y, values.map { dtype == .float32 ? Double(Float(referenceTanh($0))) : referenceTanh($0) },
                                 shape: [n], dtype: dtype, tolerance: dtype == .float32 ? 1e-6 : 1e-15, "tanh n \(n)")
                try assertSameBits("pow \(dtype) n \(n)") { try Ops.pow(x, Ops.tensor([2], shape: [1], dtype: dtype)) }
                try assertSameBits("atan2 \(dtype) n \(n)") { try Ops.atan2(x, Ops.add(x, Ops.scalar(0.5))) }
            }
        }
    }

    /// Strided, transposed, reversed, odd-stride and broadcast operands: the row walk split at
    /// arbitrary positions, also inside rows.
    func testStridedElementwiseAroundTheGrain() throws {
        var rng = TestRandom(seed: 12)
        let grain = Parallel.memoryGrain
        // [rows, columns] shapes whose counts straddle the grain and twice it, rows of odd length.
        // Counts past twice the grain, so chunks start inside rows; every layout for float32, the
        // transposed one (the general walk) for the other dtypes. Rows of 7 (strided, reversed,
        // transposed: shorter than `Tensor.shortRow`) are copied a run of rows at a time.
        for shape in [[723, 365], [3, 87_403], [40_001, 7]] {
            let n = shape.reduce(1, *)
            for dtype in shape[0] != 723 ? [.float32] : Self.dtypes {
                for layout in dtype == .float32 ? Layout.allCases : [.transposed] {
                    let values = randomValues(shape, dtype: dtype, in: (-20, 20), rng: &rng)
                    let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                    let row = try makeTensor(randomValues([shape[1]], dtype: dtype, in: (-20, 20), rng: &rng), shape: [shape[1]], dtype: dtype)
                    let what = "\(dtype) \(layout) \(shape)"
                    let copy = try assertSameBits("contiguous copy \(what)") { try x.contiguous(op: "test") }
                    try assertValues(copy, values, shape: shape, dtype: dtype, tolerance: 0, "copy " + what)
                    try assertSameBits("max with a broadcast row \(what)") { try Ops.maximum(x, row) }
                    if dtype != .bool { try assertSameBits("abs \(what)") { try Ops.abs(x) } }
                    if dtype == .float32 { try assertSameBits("cast \(what)") { try Ops.cast(x, to: .int64) } }
                    XCTAssertEqual(n, values.count)
                }
            }
        }
        // An odd stride (every third element) and a broadcast column, float32.
        let n = 2 * grain + 5
        let wide = try Ops.tensor(randomValues([3 * n], dtype: .float32, rng: &rng), shape: [3 * n], dtype: .float32)
        let third = try XCTUnwrap(Ops.slice(wide, dim: 0, start: 1, step: 3) as? Tensor)
        XCTAssertEqual(third.strides, [3])
        let column = try Ops.reshape(third, shape: [n, 1])
        let sum = try assertSameBits("odd stride + broadcast column") { try Ops.add(column, Ops.tensor([1, 2], shape: [1, 2], dtype: .float32)) }
        let thirdValues = try Ops.doubles(third)
        try assertValues(sum, thirdValues.flatMap { [Double(Float($0) + 1), Double(Float($0) + 2)] }, shape: [n, 2], dtype: .float32, tolerance: 0)
    }

    // MARK: Reductions

    /// Naive references over row-major values: each output reduces its group in row-major order.
    private func naive(_ values: [Double], shape: [Int], dims: [Int], _ combine: ([Double]) -> Double) -> [Double] {
        // The output each input position feeds, walked with an odometer (kept dims' row-major strides).
        var outStride = [Int](repeating: 0, count: shape.count), step = 1
        for d in shape.indices.reversed() where !dims.contains(d) {
            outStride[d] = step
            step *= shape[d]
        }
        var groups = [[Double]](repeating: [], count: step)
        var index = [Int](repeating: 0, count: shape.count), out = 0
        for value in values {
            groups[out].append(value)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                out += outStride[d]
                if index[d] < shape[d] { break }
                out -= outStride[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
        return groups.map(combine)
    }

    private func largest(_ group: [Double]) -> Double { group.first(where: \.isNaN) ?? group.max()! }
    private func smallest(_ group: [Double]) -> Double { group.first(where: \.isNaN) ?? group.min()! }

    func testSingleOutputReductionsAreCutIntoPiecesExactly() throws {
        var rng = TestRandom(seed: 21)
        let grain = Parallel.memoryGrain
        let cases = [2 * grain - 1, 2 * grain, 3 * grain + 129].flatMap { n in [(n, DType.float32), (n, .float64)] }
            + [DType.int32, .int64, .bool].map { (2 * grain + 1, $0) }
        for (n, dtype) in cases {
            do {
                for layout in dtype == .float32 ? [Layout.contiguous, .strided, .reversed] : [.reversed] {
                    var values = randomValues([n], dtype: dtype, in: (-1000, 1000), rng: &rng)
                    if dtype.isFloatingPoint {
                        // Magnitudes far apart, so the order of additions shows in the bits.
                        for i in stride(from: 0, to: n, by: 7) { values[i] = dtype == .float32 ? Double(Float(values[i] * 1e7)) : values[i] * 1e7 }
                    }
                    let x = try makeTensor(values, shape: [n], dtype: dtype, layout: layout)
                    let what = "\(dtype) \(layout) n \(n)"
                    let sum = try assertSameBits("sum " + what, again: true) { try Ops.sum(x) }
                    let exact = values.reduce(0, +)
                    try assertValues(sum, [exact], shape: [], dtype: Reductions.sumDType(dtype), tolerance: dtype == .float32 ? 1e-6 : 1e-12, "sum " + what)
                    let maximum = try assertSameBits("amax " + what) { try Ops.amax(x) }
                    try assertValues(maximum, [values.max()!], shape: [], dtype: dtype, tolerance: 0, "amax " + what)
                    let minimum = try assertSameBits("amin " + what) { try Ops.amin(x) }
                    try assertValues(minimum, [values.min()!], shape: [], dtype: dtype, tolerance: 0, "amin " + what)
                    let position = try assertSameBits("argmax " + what) { try Ops.argmax(x) }
                    try assertValues(position, [Double(values.firstIndex(of: values.max()!)!)], shape: [], dtype: .int64, tolerance: 0, "argmax " + what)
                    try assertSameBits("prod " + what) { try Ops.prod(x) }
                }
            }
        }
        // The first NaN wins, wherever the pieces start; ties keep the first position.
        let n = 3 * grain + 11
        for nanAt in [nil, 5, grain - 1, grain, 2 * grain + 3, n - 1] as [Int?] {
            var values = (0..<n).map { Double($0 % 1000) }
            values[n / 2] = 5000
            values[n / 2 + grain] = 5000
            if let nanAt { values[nanAt] = .nan; values[n - 1 - (nanAt == n - 1 ? 1 : 0)] = -.nan }
            let x = try Ops.tensor(values, shape: [n], dtype: .float32)
            let maximum = try assertSameBits("amax with NaN at \(String(describing: nanAt))") { try Ops.amax(x) }
            let position = try assertSameBits("argmax with NaN at \(String(describing: nanAt))") { try Ops.argmax(x) }
            let first = values.firstIndex(where: \.isNaN) ?? n / 2
            try assertValues(position, [Double(first)], shape: [], dtype: .int64, tolerance: 0)
            try assertValues(maximum, [values[first]], shape: [], dtype: .float32, tolerance: 0)
            if nanAt != nil { XCTAssertEqual(try bytes(maximum), try bytes(Ops.tensor([values[first]], shape: [], dtype: .float32))) }
        }
    }

    /// FloatSum's pieces of 128 * 2^m elements, joined with `append`, give one pass's bits.
    func testFloatSumPiecesJoinToOnePassBitForBit() {
        var rng = TestRandom(seed: 22)
        for total in [0, 1, 127, 128, 129, 128 * 5 + 3, 128 * 8, 128 * 64 + 1, 128 * 37 + 100] {
            let values = (0..<total).map { i in Float(rng.uniform(-1, 1) * (i % 5 == 0 ? 1e6 : 1)) }
            values.withUnsafeBufferPointer { buffer in
                guard let base = buffer.baseAddress ?? UnsafePointer(bitPattern: 16) else { return }
                var whole = FloatSum<Float>()
                if total > 0 { whole.consume(base, count: total, stride: 1) }
                let expected = whole.result()
                for m in 0...3 {
                    let piece = 128 << m
                    var joined: FloatSum<Float>?
                    var start = 0
                    while start < total || joined == nil {
                        var part = FloatSum<Float>()
                        let count = Swift.min(piece, total - start)
                        // Each piece in rows of uneven length: blocks depend on counts only.
                        var done = 0
                        while done < count {
                            let row = Swift.min(count - done, 1 + done % 50)
                            part.consume(base + start + done, count: row, stride: 1)
                            done += row
                        }
                        if joined == nil { joined = part } else { joined!.append(part) }
                        start += piece
                    }
                    XCTAssertEqual(joined!.result().bitPattern, expected.bitPattern, "total \(total) piece \(piece)")
                }
            }
        }
    }

    func testManyOutputReductionsSplitAcrossThreads() throws {
        var rng = TestRandom(seed: 23)
        // Outputs split (long rows, strided rows), column sums over a strided batch dim, and
        // outputs fewer than threads with long groups.
        let cases: [([Int], [Int])] = [([600, 450], [1]), ([450, 600], [0]), ([2, 3, 45_000], [2]), ([3, 90_000], [0]),
                                       ([3, 90_000], [1]), ([60, 70, 70], [0, 2])]
        for (shape, dims) in cases {
            for dtype in [DType.float32, .int32] {
                for layout in dtype == .float32 ? [Layout.contiguous, .transposed] : [.transposed] {
                    let values = randomValues(shape, dtype: dtype, in: (-100, 100), rng: &rng)
                    let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                    let what = "\(dtype) \(layout) \(shape) dims \(dims)"
                    let outShape = shape.indices.filter { !dims.contains($0) }.map { shape[$0] }
                    let sum = try assertSameBits("sum " + what, again: true) { try Ops.sum(x, dims: dims) }
                    try assertValues(sum, naive(values, shape: shape, dims: dims) { $0.reduce(0, +) }, shape: outShape,
                                     dtype: Reductions.sumDType(dtype), tolerance: dtype == .float32 ? 1e-5 : 1e-12, "sum " + what)
                    let maximum = try assertSameBits("amax " + what) { try Ops.amax(x, dims: dims) }
                    try assertValues(maximum, naive(values, shape: shape, dims: dims, largest), shape: outShape, dtype: dtype, tolerance: 0, "amax " + what)
                }
            }
        }
    }

    /// Pooling windows and short rows go across the kept dims (`runLanes`): against naive loops,
    /// on every dtype and layout, for sum, mean, amax, amin and prod.
    func testSmallGroupReductionsMatchNaiveLoops() throws {
        var rng = TestRandom(seed: 24)
        let cases: [([Int], [Int])] = [
            ([2, 3, 8, 2, 6, 2], [3, 5]),   // 2x2 pooling written as reshape + amax
            ([2, 4, 3, 3, 5, 3], [3, 5]),   // 3x3 windows
            ([5, 2, 7], [1]),               // pairs, kept dims on both sides
            ([4, 6, 1], [1]), ([300, 1], [1]),
        ] + [1, 2, 3, 4, 5, 8, 17, 63, 64, 65].map { ([37, $0], [1]) }  // per-row sums of short rows (65: the row path)
        for (shape, dims) in cases {
            let outShape = shape.indices.filter { !dims.contains($0) }.map { shape[$0] }
            for dtype in Self.dtypes {
                for layout in Layout.allCases {
                    var values = randomValues(shape, dtype: dtype, in: (-3, 3), rng: &rng)
                    if dtype.isFloatingPoint && values.count > 10 {
                        values[3] = -0.0
                        values[values.count - 2] = .infinity
                    }
                    let x = try makeTensor(values, shape: shape, dtype: dtype, layout: layout)
                    let what = "\(dtype) \(layout) \(shape) dims \(dims)"
                    let sumType = Reductions.sumDType(dtype)
                    try assertValues(Ops.sum(x, dims: dims), naive(values, shape: shape, dims: dims) { $0.reduce(0, +) }, shape: outShape,
                                     dtype: sumType, tolerance: dtype == .float32 ? 1e-6 : 1e-13, "sum " + what)
                    try assertValues(Ops.prod(x, dims: dims), naive(values, shape: shape, dims: dims) { $0.reduce(1, *) }, shape: outShape,
                                     dtype: sumType, tolerance: dtype == .float32 ? 1e-5 : 1e-12, "prod " + what)
                    try assertValues(Ops.amax(x, dims: dims), naive(values, shape: shape, dims: dims, largest), shape: outShape,
                                     dtype: dtype, tolerance: 0, "amax " + what)
                    try assertValues(Ops.amin(x, dims: dims), naive(values, shape: shape, dims: dims, smallest), shape: outShape,
                                     dtype: dtype, tolerance: 0, "amin " + what)
                    if dtype.isFloatingPoint {
                        try assertValues(Ops.mean(x, dims: dims), naive(values, shape: shape, dims: dims) { $0.reduce(0, +) / Double($0.count) },
                                         shape: outShape, dtype: dtype, tolerance: dtype == .float32 ? 1e-6 : 1e-13, "mean " + what)
                    }
                }
            }
        }
        // The tutorial CNN's pooling at its size, threaded: the same bits on every thread count.
        let activation = try Ops.tensor(randomValues([64, 64, 24, 24], dtype: .float32, rng: &rng), shape: [64, 64, 24, 24], dtype: .float32)
        let windows = try Ops.reshape(activation, shape: [64, 64, 12, 2, 12, 2])
        try assertSameBits("2x2 pooling of [64, 64, 24, 24]", again: true) { try Ops.amax(windows, dims: [3, 5]) }
        try assertSameBits("row sums of [589824, 4]") { try Ops.sum(Ops.reshape(activation, shape: [-1, 4]), dims: [1]) }
    }

    /// The lanes give exactly what the row reducers give (NaN, signed zeros, infinities included):
    /// each lane makes its row reducer's operations in the same order.
    func testLanesMatchRowReducersBitForBit() throws {
        var rng = TestRandom(seed: 25)
        let plans: [([Int], [Int])] = [([6, 4, 2, 5, 2], [2, 4]), ([9, 7], [1]), ([3, 64, 5], [1]), ([2, 5, 3, 2], [0, 2]), ([8, 2], [0])]
        for (shape, dims) in plans {
            for layout in Layout.allCases {
                var values = randomValues(shape, dtype: .float64, in: (-4, 4), rng: &rng)
                for i in values.indices where i % 11 == 3 { values[i] = [.nan, -0.0, 0.0, .infinity, -.infinity][i % 5] }
                for dtype in Self.dtypes {
                    let typed = values.map { v in dtype.isFloatingPoint ? v : (v.isFinite ? v.rounded(.down) : 7) }
                    let x = try makeTensor(typed, shape: shape, dtype: dtype, layout: layout)
                    let plan = ReductionPlan(shape: x.shape, strides: x.strides, reduced: dims)
                    XCTAssertTrue(plan.suitsLanes, "\(shape) \(dims) \(layout)")
                    struct Compare: DTypeVisitor {
                        let x: Tensor, plan: ReductionPlan
                        func visit<T: Element>(_: T.Type) -> [String] {
                            let source = UnsafePointer(x.elements(as: T.self))
                            var failures: [String] = []
                            func check<R: RowReducer, L: LaneReducer>(_ name: String, _ row: R, _ lanes: L)
                                where R.Input == T, L.Input == T, R.Output == L.Output {
                                let n = plan.outerCount
                                let a = UnsafeMutablePointer<R.Output>.allocate(capacity: n), b = UnsafeMutablePointer<R.Output>.allocate(capacity: n)
                                defer { a.deallocate(); b.deallocate() }
                                plan.run(row, source: source, into: a)
                                plan.runLanes(lanes, source: source, into: b)
                                if memcmp(a, b, n * MemoryLayout<R.Output>.stride) != 0 { failures.append(name) }
                            }
                            if T.isFloatingPointElement {
                                check("sum", FloatSum<T>(), FloatSumLanes<T>())
                                check("prod", FloatProduct<T>(), FloatProductLanes<T>())
                            } else {
                                check("sum", IntegerSum<T>(), IntegerSumLanes<T>())
                                check("prod", IntegerProduct<T>(), IntegerProductLanes<T>())
                            }
                            check("amax", Extreme<T>(maximum: true), ExtremeLanes<T, Larger>())
                            check("amin", Extreme<T>(maximum: false), ExtremeLanes<T, Smaller>())
                            return failures
                        }
                    }
                    XCTAssertEqual(try dtype.dispatch(Compare(x: x, plan: plan)), [], "\(dtype) \(layout) \(shape) dims \(dims)")
                }
            }
        }
    }

    // MARK: The identity basis

    func testIdentityBasisIsTheIdentity() throws {
        for (count, shape, rows, offset) in [(6, [2, 3], nil, 0), (1, [], nil, 0), (0, [0], nil, 0), (4, [4], 10, 3),
                                              (4, [2, 2], 10, 6), (3, [3], 5, 0), (5, [5], 5, 0)] as [(Int, [Int], Int?, Int)] {
            for dtype in Self.dtypes {
                let basis = try Transforms.identityBasis(count: count, shape: shape, dtype: dtype, rows: rows, offset: offset)
                let rowCount = rows ?? count
                // Row offset + k is e_k; every other row is zero.
                let expected = (0..<(rowCount * count)).map { flat in flat / count == offset + flat % count ? 1.0 : 0.0 }
                try assertValues(basis, expected, shape: [rowCount] + shape, dtype: dtype, tolerance: 0, "count \(count) rows \(String(describing: rows)) offset \(offset)")
            }
        }
        for (n, m) in [(5, 3), (3, 5), (4, 4), (0, 2), (2, 0)] {
            for offset in [-6, -5, -2, -1, 0, 1, 2, 4, 5, 6, Int.min, Int.max] {
                let expected = (0..<(n * m)).map { flat -> Double in flat % m - flat / m == offset ? 1 : 0 }
                try assertValues(Ops.eye(n, m, offset: offset, dtype: .int32), expected, shape: [n, m], dtype: .int32, tolerance: 0, "eye(\(n), \(m), \(offset))")
            }
        }
        assertThrows(.invalidArgument, "sizes must be >= 0") { try emit(.eye, [], .eye(rows: -1, columns: 2, offset: 0, dtype: .float32)) }
        // jacrev and jacfwd of a linear map are its matrix.
        let a = try Ops.tensor((0..<12).map(Double.init), shape: [3, 4])
        let f = makeFunction("A x", inputs: 1) { [try Ops.matmul(a, $0[0])] }
        let x = try Ops.tensor([1, 2, 3, 4], shape: [4])
        try assertValues(Transforms.jacrev(f, argnums: [0], hasAux: false)([x])[0], (0..<12).map(Double.init), shape: [3, 4], dtype: .float64)
        try assertValues(Transforms.jacfwd(f, argnums: [0], hasAux: false)([x])[0], (0..<12).map(Double.init), shape: [3, 4], dtype: .float64)
    }

    // MARK: Linear algebra

    /// Batches of small matrices are split over the threads (one matrix per thread at a time): the
    /// same bits on every count, and a failure names the first failing matrix whichever thread met it.
    func testLinalgBatchesAcrossThreads() throws {
        var rng = TestRandom(seed: 21)
        let n = 16, count = 40  // 16³ multiply-adds: a piece of 8 matrices, so 40 split
        var values = randomValues([count, n, n], rng: &rng)
        for m in 0..<count { for i in 0..<n { values[m * n * n + i * n + i] += 3 * Double(n) } }
        let a = try Ops.tensor(values, shape: [count, n, n]), b = try randomTensor([count, n, 3], rng: &rng)
        try assertSameBits("solve") { try Ops.linalgSolve(a, b) }
        try assertSameBits("solve_triangular") { try Ops.solveTriangular(a, b, upper: true) }
        try assertSameBits("cholesky") { try Ops.cholesky(Ops.matmul(a, Ops.transpose(a, -1, -2))) }
        try assertSameBits("det") { try Ops.det(a) }
        try assertSameBits("eigh") { try Ops.eigh(a).eigenvectors }
        // Matrices 25 and 33 are not positive-definite: the message names 25 on every thread count.
        for bad in [25, 33] { values[bad * n * n] = -1 }
        let notPD = try Ops.tensor(values, shape: [count, n, n])
        for threads in [1, 2, 3] {
            Parallel.threadCount = threads
            assertThrows(.invalidArgument, "(batch element [25]) is not positive-definite (the leading minor of order 1") {
                try Ops.cholesky(notPD)
            }
        }
    }
}

/// libm's tanh, the reference for the kernel's.
private func referenceTanh(_ x: Double) -> Double { Glibc.tanh(x) }
