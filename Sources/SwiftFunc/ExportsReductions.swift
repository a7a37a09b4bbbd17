// Reduction exports: sf_sum, sf_prod, sf_amax, sf_amin, sf_argmax, sf_argmin.
import SwiftFuncCore

extension Boundary {
    /// The thunk of every reduction: x, dims (NULL or 0 of them: all dims) and keepdim.
    static func reduction(_ name: String, _ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                          _ out: UnsafeMutablePointer<TensorHandle?>?,
                          _ op: (Value, [Int], Bool) throws -> Value) -> Int32 {
        run(name, out) { try op(value(x, name, "x"), ints(dims, nDims, name, "dims"), keepdim) }
    }
}

@_cdecl("sf_sum")
public func sf_sum(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                   _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.reduction("sum", x, dims, nDims, keepdim, out) { try Ops.sum($0, dims: $1, keepdim: $2) }
}

@_cdecl("sf_prod")
public func sf_prod(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.reduction("prod", x, dims, nDims, keepdim, out) { try Ops.prod($0, dims: $1, keepdim: $2) }
}

@_cdecl("sf_amax")
public func sf_amax(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.reduction("amax", x, dims, nDims, keepdim, out) { try Ops.amax($0, dims: $1, keepdim: $2) }
}

@_cdecl("sf_amin")
public func sf_amin(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.reduction("amin", x, dims, nDims, keepdim, out) { try Ops.amin($0, dims: $1, keepdim: $2) }
}

@_cdecl("sf_argmax")
public func sf_argmax(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.reduction("argmax", x, dims, nDims, keepdim, out) { try Ops.argmax($0, dims: $1, keepdim: $2) }
}

@_cdecl("sf_argmin")
public func sf_argmin(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.reduction("argmin", x, dims, nDims, keepdim, out) { try Ops.argmin($0, dims: $1, keepdim: $2) }
}
