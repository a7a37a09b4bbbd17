#if canImport(Glibc)
import Glibc
#endif

extension Ops {
    /// A contiguous tensor holding a copy of `shape`'s row-major elements at `data`.
    public static func tensor(copying data: UnsafeRawPointer?, dtype: DType, shape: [Int]) throws -> Tensor {
        let op = "tensor_from_data"
        let count = try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: op)
        guard count == 0 || data != nil else { throw SwiftFuncError.invalidArgument(op, "data is NULL for \(count) elements") }
        let result = try Tensor(uninitialized: TensorType(shape: shape, dtype: dtype), op: op)
        if count > 0, let data, let destination = result.baseAddress {
            destination.copyMemory(from: data, byteCount: count &* dtype.itemSize)
        }
        return result
    }

    /// Copies the values of `value` in row-major order into `destination` (`byteCount` bytes).
    /// Under grad and jvp this reads the primal; under vmap it is an error (see `readableTensor`).
    public static func copyValues(of value: Value, to destination: UnsafeMutableRawPointer?, byteCount: Int) throws {
        let op = "tensor_copy_to"
        let tensor = try readableTensor(value, op: op)
        let needed = tensor.count &* tensor.dtype.itemSize
        guard byteCount == needed else {
            throw SwiftFuncError.invalidArgument(op, "dst_bytes is \(byteCount) but the \(tensor.type) tensor needs \(needed)")
        }
        guard needed > 0 else { return }
        guard let destination else { throw SwiftFuncError.invalidArgument(op, "dst is NULL") }
        // The host buffer, wrapped as a borrowed storage for the one copy.
        let target = Tensor(
            storage: Storage(foreign: destination, byteCount: needed, isReadOnly: false, release: {}),
            type: TensorType(shape: tensor.shape, dtype: tensor.dtype),
            strides: ShapeChecks.contiguousStrides(tensor.shape), offset: 0)
        try tensor.copyElements(into: target)
    }

    /// The values of a concrete tensor as doubles in row-major order (tests and debugging).
    public static func doubles(_ value: Value) throws -> [Double] {
        let tensor = try readableTensor(value, op: "tensor_copy_to")
        let contiguous = try tensor.contiguous(op: "tensor_copy_to")
        struct Read: DTypeVisitor {
            let tensor: Tensor
            func visit<T: Element>(_: T.Type) -> [Double] {
                let p = tensor.elements(as: T.self)
                return (0..<tensor.count).map { p[$0].doubleValue }
            }
        }
        return try contiguous.dtype.dispatch(Read(tensor: contiguous))
    }
}

extension Ops {
    /// A contiguous tensor of `shape` and `dtype` holding `values` (converted from double), row-major.
    public static func tensor(_ values: [Double], shape: [Int], dtype: DType = .float64) throws -> Tensor {
        let op = "tensor_from_data"
        let count = try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: op)
        guard count == values.count else {
            throw SwiftFuncError.shape(op, "\(values.count) values do not fill shape \(formatShape(shape))")
        }
        let result = try Tensor(uninitialized: TensorType(shape: shape, dtype: dtype), op: op)
        struct Fill: DTypeVisitor {
            let values: [Double], tensor: Tensor
            func visit<T: Element>(_: T.Type) {
                let p = tensor.elements(as: T.self)
                for (i, v) in values.enumerated() { p[i] = T(fromDouble: v) }
            }
        }
        try dtype.dispatch(Fill(values: values, tensor: result))
        return result
    }
}

extension Ops {
    /// The first entry of the integer tensor behind `value` that lies outside `range`, for checking
    /// index arguments (class targets). Integer values are never differentiated, so the check reads
    /// through tracers: a batched value's whole batch is checked at once.
    /// `except` is a value allowed besides the range (nll_loss's ignore_index).
    static func firstIndex(in value: Value, outside range: Range<Int>, except: Int? = nil) throws -> (index: Int, value: Int)? {
        var current = value
        while let tracer = current as? Tracer {
            guard let underlying = tracer.underlyingValue else { return nil }
            current = underlying
        }
        guard let tensor = current as? Tensor, tensor.dtype.isInteger else { return nil }
        let contiguous = try tensor.contiguous(op: "tensor_copy_to")
        struct Search: DTypeVisitor {
            let tensor: Tensor, range: Range<Int>, except: Int?
            func visit<T: Element>(_: T.Type) -> (index: Int, value: Int)? {
                let p = tensor.elements(as: T.self)
                for index in 0..<tensor.count {
                    // exactInt64: int64 values never pass through Double (which would round them).
                    let value = Int(p[index].exactInt64)
                    if !range.contains(value) && value != except { return (index, value) }
                }
                return nil
            }
        }
        return try contiguous.dtype.dispatch(Search(tensor: contiguous, range: range, except: except))
    }
}
