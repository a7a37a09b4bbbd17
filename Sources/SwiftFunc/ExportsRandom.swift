// Random-number exports: sf_manual_seed, sf_rand, sf_randn.
import SwiftFuncCore

@_cdecl("sf_manual_seed")
public func sf_manual_seed(_ seed: UInt64) -> Int32 {
    Ops.manualSeed(seed)
    return Status.ok.rawValue
}

@_cdecl("sf_rand")
public func sf_rand(_ shape: UnsafePointer<Int64>?, _ ndim: Int, _ dtype: Int32, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("rand", out) {
        try Ops.rand(shape: Boundary.shape(shape, ndim, "rand"), dtype: Boundary.dtype(dtype, "rand"))
    }
}

@_cdecl("sf_randn")
public func sf_randn(_ shape: UnsafePointer<Int64>?, _ ndim: Int, _ dtype: Int32, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("randn", out) {
        try Ops.randn(shape: Boundary.shape(shape, ndim, "randn"), dtype: Boundary.dtype(dtype, "randn"))
    }
}
