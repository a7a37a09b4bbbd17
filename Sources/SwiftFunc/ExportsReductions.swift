// Reduction exports: sf_sum, sf_prod, sf_amax, sf_amin, sf_argmax, sf_argmin.
import SwiftFuncCore

/// The dims argument of a reduction: NULL or an empty list means all dims.
private func reductionDims(_ dims: UnsafePointer<Int64>?, _ count: Int, _ function: String) throws -> [Int] {
    try Boundary.ints(dims, count, function, "dims")
}

@_cdecl("sf_sum")
public func sf_sum(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                   _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("sum", out) {
        try Ops.sum(Boundary.value(x, "sum", "x"), dims: reductionDims(dims, nDims, "sum"), keepdim: keepdim)
    }
}

@_cdecl("sf_prod")
public func sf_prod(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("prod", out) {
        try Ops.prod(Boundary.value(x, "prod", "x"), dims: reductionDims(dims, nDims, "prod"), keepdim: keepdim)
    }
}

@_cdecl("sf_amax")
public func sf_amax(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("amax", out) {
        try Ops.amax(Boundary.value(x, "amax", "x"), dims: reductionDims(dims, nDims, "amax"), keepdim: keepdim)
    }
}

@_cdecl("sf_amin")
public func sf_amin(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("amin", out) {
        try Ops.amin(Boundary.value(x, "amin", "x"), dims: reductionDims(dims, nDims, "amin"), keepdim: keepdim)
    }
}

@_cdecl("sf_argmax")
public func sf_argmax(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("argmax", out) {
        try Ops.argmax(Boundary.value(x, "argmax", "x"), dims: reductionDims(dims, nDims, "argmax"), keepdim: keepdim)
    }
}

@_cdecl("sf_argmin")
public func sf_argmin(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("argmin", out) {
        try Ops.argmin(Boundary.value(x, "argmin", "x"), dims: reductionDims(dims, nDims, "argmin"), keepdim: keepdim)
    }
}
