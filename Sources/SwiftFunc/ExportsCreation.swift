// Creation and conversion exports: sf_scalar, sf_zeros, sf_ones, sf_full, sf_arange, sf_cast.
import SwiftFuncCore

@_cdecl("sf_scalar")
public func sf_scalar(_ value: Double, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("scalar", out) { try Ops.scalar(value) }
}

@_cdecl("sf_zeros")
public func sf_zeros(_ shape: UnsafePointer<Int64>?, _ ndim: Int, _ dtype: Int32, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("zeros", out) {
        try Ops.zeros(shape: Boundary.shape(shape, ndim, "zeros"), dtype: Boundary.dtype(dtype, "zeros"))
    }
}

@_cdecl("sf_ones")
public func sf_ones(_ shape: UnsafePointer<Int64>?, _ ndim: Int, _ dtype: Int32, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("ones", out) {
        try Ops.ones(shape: Boundary.shape(shape, ndim, "ones"), dtype: Boundary.dtype(dtype, "ones"))
    }
}

@_cdecl("sf_full")
public func sf_full(_ shape: UnsafePointer<Int64>?, _ ndim: Int, _ value: Double, _ dtype: Int32,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("full", out) {
        try Ops.full(shape: Boundary.shape(shape, ndim, "full"), value: value, dtype: Boundary.dtype(dtype, "full"))
    }
}

@_cdecl("sf_arange")
public func sf_arange(_ start: Double, _ end: Double, _ step: Double, _ dtype: Int32,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("arange", out) { try Ops.arange(start, end, step, dtype: Boundary.dtype(dtype, "arange")) }
}

@_cdecl("sf_cast")
public func sf_cast(_ x: TensorHandle?, _ dtype: Int32, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("cast", out) { try Ops.cast(Boundary.value(x, "cast", "x"), to: Boundary.dtype(dtype, "cast")) }
}
