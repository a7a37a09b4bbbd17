/// Validation and arithmetic on shapes, dims and strides. Everything that comes from a host goes
/// through these checks before it is used, so that no size can overflow or index out of range.
public enum ShapeChecks {
    /// The largest rank a tensor may have (SF_MAX_NDIM).
    public static let maxRank = 16

    /// Validates a shape (rank, non-negative sizes, element count and byte count within Int) and
    /// returns its element count. The product of the sizes other than 0 must fit too, so that the
    /// product of any subset of dims (a reduction's group, a batch) fits in every kernel even when
    /// a zero-size dim makes the tensor empty; whether a shape is accepted does not depend on where
    /// its zeros are.
    @discardableResult
    public static func validate(_ shape: [Int], itemSize: Int = 8, op: String) throws -> Int {
        guard shape.count <= maxRank else {
            throw SwiftFuncError.shape(op, "rank \(shape.count) exceeds the maximum of \(maxRank)")
        }
        var product = 1
        for size in shape {
            guard size >= 0 else { throw SwiftFuncError.shape(op, "negative size \(size) in shape \(formatShape(shape))") }
            let (next, overflow) = product.multipliedReportingOverflow(by: Swift.max(size, 1))
            guard !overflow else { throw SwiftFuncError.shape(op, "shape \(formatShape(shape)) has more elements than int64 can count") }
            product = next
        }
        guard !product.multipliedReportingOverflow(by: itemSize).overflow else {
            throw SwiftFuncError.shape(op, "shape \(formatShape(shape)) is too large to allocate")
        }
        return shape.contains(0) ? 0 : product
    }

    /// `dim` counted from the end when negative, checked against `rank`.
    public static func normalize(dim: Int, rank: Int, op: String) throws -> Int {
        let d = dim < 0 ? dim &+ rank : dim
        guard d >= 0 && d < rank else {
            throw SwiftFuncError.invalidArgument(op, "dim \(dim) is out of range for a tensor of rank \(rank)")
        }
        return d
    }

    /// A set of dims, normalized and sorted; an empty input means every dim. Repeats are errors.
    public static func normalize(dims: [Int]?, rank: Int, op: String) throws -> [Int] {
        guard let dims, !dims.isEmpty else { return Array(0..<rank) }
        var seen = [Bool](repeating: false, count: Swift.max(rank, 1))
        var result: [Int] = []
        for dim in dims {
            // A 0-d tensor accepts dim 0 and -1 as torch does.
            let d = try normalize(dim: dim, rank: Swift.max(rank, 1), op: op)
            guard !seen[d] else { throw SwiftFuncError.invalidArgument(op, "dim \(dim) appears more than once") }
            seen[d] = true
            if d < rank { result.append(d) }
        }
        return result.sorted()
    }

    /// Row-major strides, in elements, of a contiguous tensor of `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = running
            running = running &* Swift.max(shape[i], 1)
        }
        return strides
    }

    /// The numpy/torch broadcast of two shapes.
    public static func broadcast(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
        let rank = Swift.max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard x == y || x == 1 || y == 1 else {
                throw SwiftFuncError.shape(op, "shapes \(formatShape(a)) and \(formatShape(b)) cannot be broadcast together")
            }
            result[i] = x == 1 ? y : x
        }
        return result
    }

    /// Strides that read a tensor of `shape`/`strides` as if it had the broadcast shape `target`
    /// (stride 0 on broadcast dims). `shape` must broadcast to `target`.
    public static func broadcastStrides(shape: [Int], strides: [Int], to target: [Int]) -> [Int] {
        let lead = target.count - shape.count
        var result = [Int](repeating: 0, count: target.count)
        for i in 0..<shape.count where shape[i] != 1 || target[lead + i] == 1 {
            result[lead + i] = shape[i] == 1 ? 0 : strides[i]
        }
        return result
    }
}
