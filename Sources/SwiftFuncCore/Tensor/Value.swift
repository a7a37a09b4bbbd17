/// Anything an op accepts or returns: a concrete `Tensor`, or a tracer that a transform's
/// interpreter owns (added by the transforms). The C ABI's `sf_tensor` handle is a `Value`.
public class Value: @unchecked Sendable {
    /// Shape and dtype as the user sees them (a tracer under vmap reports the per-example shape).
    public let type: TensorType

    init(type: TensorType) {
        self.type = type
    }

    /// Sizes of the dims.
    public var shape: [Int] { type.shape }
    /// Element type.
    public var dtype: DType { type.dtype }
    /// Number of dims.
    public var rank: Int { type.shape.count }
    /// Number of elements.
    public var count: Int { type.count }
}

/// A concrete, immutable, strided view of a `Storage`. Strides and offset count elements.
public final class Tensor: Value, @unchecked Sendable {
    /// The memory this tensor views (shared between views).
    public let storage: Storage
    /// Distance in elements between neighbours along each dim (may be 0 or negative).
    public let strides: [Int]
    /// Position in elements of element [0, 0, ...] from `storage.base`.
    public let offset: Int
    /// Whether the elements lie in row-major order without gaps (the fast path of every kernel).
    public let isContiguous: Bool

    /// A view of `storage`. The caller guarantees every reachable element lies inside the storage.
    public init(storage: Storage, type: TensorType, strides: [Int], offset: Int) {
        self.storage = storage
        self.strides = strides
        self.offset = offset
        self.isContiguous = Tensor.stridesAreContiguous(type.shape, strides)
        super.init(type: type)
    }

    /// A new, contiguous, uninitialized (or zeroed) tensor of `type`.
    public convenience init(uninitialized type: TensorType, zeroed: Bool = false, op: String) throws {
        let count = try ShapeChecks.validate(type.shape, itemSize: type.dtype.itemSize, op: op)
        let storage = try Storage(byteCount: count &* type.dtype.itemSize, zeroed: zeroed, op: op)
        self.init(storage: storage, type: type, strides: ShapeChecks.contiguousStrides(type.shape), offset: 0)
    }

    /// A view with the same storage and a different shape, strides or offset.
    public func view(type: TensorType, strides: [Int], offset: Int) -> Tensor {
        Tensor(storage: storage, type: type, strides: strides, offset: offset)
    }

    /// Address of element [0, 0, ...]; nil for tensors without elements.
    public var baseAddress: UnsafeMutableRawPointer? {
        guard count > 0, let base = storage.base else { return nil }
        return base + offset &* dtype.itemSize
    }

    /// Typed address of element [0, 0, ...] (offsets from it follow `strides`).
    public func elements<T>(as: T.Type) -> UnsafeMutablePointer<T> {
        // Tensors without elements are never read; a dangling-but-aligned pointer keeps this total.
        guard let address = baseAddress else { return UnsafeMutablePointer<T>(bitPattern: MemoryLayout<T>.alignment)! }
        return address.assumingMemoryBound(to: T.self)
    }

    /// Dims of size 1 do not matter for contiguity; every other dim must have row-major stride.
    static func stridesAreContiguous(_ shape: [Int], _ strides: [Int]) -> Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if shape[i] == 0 { return true }
            if strides[i] != expected { return false }
            expected = expected &* shape[i]
        }
        return true
    }
}
