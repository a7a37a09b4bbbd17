#if canImport(Glibc)
import Glibc
#endif

// Views of memory owned by a foreign producer (DLPack). The boundary module converts the C structs;
// everything that needs checking (sizes, strides, offsets, the address range) is done here, with
// overflow-reporting arithmetic, because every number comes from outside.

extension Tensor {
    /// A tensor viewing foreign memory without copying.
    ///
    /// - `data` + `byteOffset` is the address of element [0, 0, ...]; `strides` (in elements, NULL
    ///   meaning row-major) may be negative or zero, so the lowest reachable address can lie below
    ///   `data`. The storage starts at the lowest reachable address and the tensor's offset points
    ///   at element [0, 0, ...] from there.
    /// - `release` gives the memory back to the producer. On success it runs exactly once: when the
    ///   last view dies, or before returning when the data had to be copied (see below). When this
    ///   throws, `release` is never called: ownership stays with the caller.
    /// - Data whose element [0, ...] is not aligned for the dtype is copied into a new contiguous
    ///   tensor: Swift's typed loads and stores require aligned addresses, and every element shares
    ///   element 0's alignment because strides count whole elements.
    public static func foreign(
        data: UnsafeMutableRawPointer?, byteOffset: UInt64, shape: [Int], strides: [Int]?, dtype: DType,
        isReadOnly: Bool, op: String, release: @escaping () -> Void
    ) throws -> Tensor {
        let count = try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: op)
        let type = TensorType(shape: shape, dtype: dtype)
        let rank = shape.count
        if let strides, strides.count != rank {
            throw SwiftFuncError.internal(op, "\(strides.count) strides for rank \(rank)")
        }
        guard count > 0 else {
            // Nothing is reachable, so data (possibly NULL) and strides do not matter.
            let storage = Storage(foreign: nil, byteCount: 0, isReadOnly: isReadOnly, release: release)
            return Tensor(storage: storage, type: type, strides: ShapeChecks.contiguousStrides(shape), offset: 0)
        }
        guard let data else {
            throw SwiftFuncError.invalidArgument(op, "data is NULL for a \(type) tensor with \(count) elements")
        }
        // Strides of size-1 dims are never used to reach an element; replace them by the row-major
        // value so that no arbitrary host number (e.g. INT64_MIN) enters later stride arithmetic.
        let contiguous = ShapeChecks.contiguousStrides(shape)
        var elementStrides = strides ?? contiguous
        for d in 0..<rank where shape[d] == 1 { elementStrides[d] = contiguous[d] }

        // Lowest and highest reachable element offsets relative to element [0, 0, ...].
        var lowest = 0, highest = 0
        for d in 0..<rank where shape[d] > 1 {
            let (extent, overflow) = elementStrides[d].multipliedReportingOverflow(by: shape[d] - 1)
            guard !overflow else { throw reachError(op, shape, elementStrides) }
            let (sum, sumOverflow) = extent < 0 ? lowest.addingReportingOverflow(extent) : highest.addingReportingOverflow(extent)
            guard !sumOverflow else { throw reachError(op, shape, elementStrides) }
            if extent < 0 { lowest = sum } else { highest = sum }
        }
        // Byte range [low, high) relative to `data`, and the absolute address of its start.
        let itemSize = dtype.itemSize
        guard byteOffset <= UInt64(Int.max) else {
            throw SwiftFuncError.shape(op, "byte_offset \(byteOffset) is too large")
        }
        let (lowBytes, o1) = lowest.multipliedReportingOverflow(by: itemSize)
        let (highBytes, o2) = highest.multipliedReportingOverflow(by: itemSize)
        let (span, o3) = highBytes.subtractingReportingOverflow(lowBytes)
        let (byteCount, o4) = span.addingReportingOverflow(itemSize)
        let (low, o5) = Int(byteOffset).addingReportingOverflow(lowBytes)
        let address = Int(bitPattern: data)
        let (start, o6) = address.addingReportingOverflow(low)
        let (end, o7) = start.addingReportingOverflow(byteCount)
        guard !(o1 || o2 || o3 || o4 || o5 || o6 || o7), start > 0, end > start else {
            throw reachError(op, shape, elementStrides)
        }
        let elementZero = address &+ Int(byteOffset)
        if elementZero % itemSize != 0 {
            let copy = try copyUnaligned(from: data + Int(byteOffset), type: type, strides: elementStrides, count: count, op: op)
            release()
            return copy
        }
        // `start` is a nonzero address by the guard above.
        guard let base = UnsafeMutableRawPointer(bitPattern: start) else { throw reachError(op, shape, elementStrides) }
        let storage = Storage(foreign: base, byteCount: byteCount, isReadOnly: isReadOnly, release: release)
        return Tensor(storage: storage, type: type, strides: elementStrides, offset: -lowest)
    }

    private static func reachError(_ op: String, _ shape: [Int], _ strides: [Int]) -> SwiftFuncError {
        .shape(op, "shape \(formatShape(shape)) with strides \(formatShape(strides)) reaches outside the addressable memory")
    }

    /// A contiguous copy of validated strided data at a possibly misaligned address, moved
    /// byte-wise (memcpy) so that no misaligned typed access happens.
    private static func copyUnaligned(from elementZero: UnsafeMutableRawPointer, type: TensorType, strides: [Int],
                                      count: Int, op: String) throws -> Tensor {
        let result = try Tensor(uninitialized: type, op: op)
        guard let destination = result.baseAddress else { return result }
        let itemSize = type.dtype.itemSize
        let shape = type.shape, rank = shape.count
        let byteStrides = strides.map { $0 &* itemSize }
        var index = [Int](repeating: 0, count: rank)
        var source = 0
        var i = 0
        // Row-major odometer; all offsets were checked to stay inside the reachable range.
        while i < count {
            memcpy(destination + i &* itemSize, elementZero + source, itemSize)
            i &+= 1
            var d = rank - 1
            while d >= 0 {
                index[d] &+= 1
                source &+= byteStrides[d]
                if index[d] < shape[d] { break }
                source &-= byteStrides[d] &* shape[d]
                index[d] = 0
                d -= 1
            }
        }
        return result
    }
}
