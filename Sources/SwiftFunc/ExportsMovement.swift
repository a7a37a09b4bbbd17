// Movement exports: reshape, permute, transpose, expand, squeeze, unsqueeze, slice, flip, pad, cat,
// stack and detach.
import SwiftFuncCore

@_cdecl("sf_reshape")
public func sf_reshape(_ x: TensorHandle?, _ shape: UnsafePointer<Int64>?, _ ndim: Int,
                       _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("reshape", out) {
        try Ops.reshape(Boundary.value(x, "reshape", "x"), shape: Boundary.shape(shape, ndim, "reshape"))
    }
}

@_cdecl("sf_permute")
public func sf_permute(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ ndim: Int,
                       _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("permute", out) {
        try Ops.permute(Boundary.value(x, "permute", "x"), dims: Boundary.ints(dims, ndim, "permute", "dims"))
    }
}

@_cdecl("sf_transpose")
public func sf_transpose(_ x: TensorHandle?, _ dim0: Int64, _ dim1: Int64,
                         _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("transpose", out) {
        try Ops.transpose(Boundary.value(x, "transpose", "x"), Int(dim0), Int(dim1))
    }
}

@_cdecl("sf_expand")
public func sf_expand(_ x: TensorHandle?, _ shape: UnsafePointer<Int64>?, _ ndim: Int,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("expand", out) {
        try Ops.expand(Boundary.value(x, "expand", "x"), shape: Boundary.shape(shape, ndim, "expand"))
    }
}

@_cdecl("sf_squeeze")
public func sf_squeeze(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int,
                       _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("squeeze", out) {
        // NULL (or an empty list) squeezes every size-1 dim.
        try Ops.squeeze(Boundary.value(x, "squeeze", "x"), dims: Boundary.ints(dims, nDims, "squeeze", "dims"))
    }
}

@_cdecl("sf_unsqueeze")
public func sf_unsqueeze(_ x: TensorHandle?, _ dim: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("unsqueeze", out) {
        try Ops.unsqueeze(Boundary.value(x, "unsqueeze", "x"), dim: Int(dim))
    }
}

@_cdecl("sf_slice")
public func sf_slice(_ x: TensorHandle?, _ dim: Int64, _ start: Int64, _ stop: Int64, _ step: Int64,
                     _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("slice", out) {
        try Ops.slice(Boundary.value(x, "slice", "x"), dim: Int(dim), start: Int(start), stop: Int(stop), step: Int(step))
    }
}

@_cdecl("sf_flip")
public func sf_flip(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ nDims: Int,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("flip", out) {
        try Ops.flip(Boundary.value(x, "flip", "x"), dims: Boundary.ints(dims, nDims, "flip", "dims"))
    }
}

@_cdecl("sf_pad")
public func sf_pad(_ x: TensorHandle?, _ pad: UnsafePointer<Int64>?, _ nPad: Int, _ value: Double,
                   _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("pad", out) {
        try Ops.pad(Boundary.value(x, "pad", "x"), pad: Boundary.ints(pad, nPad, "pad", "pad"), value: value)
    }
}

@_cdecl("sf_cat")
public func sf_cat(_ tensors: UnsafePointer<TensorHandle?>?, _ n: Int, _ dim: Int64,
                   _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("cat", out) {
        try Ops.cat(Boundary.values(tensors, n, "cat", "tensors"), dim: Int(dim))
    }
}

@_cdecl("sf_stack")
public func sf_stack(_ tensors: UnsafePointer<TensorHandle?>?, _ n: Int, _ dim: Int64,
                     _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("stack", out) {
        try Ops.stack(Boundary.values(tensors, n, "stack", "tensors"), dim: Int(dim))
    }
}

@_cdecl("sf_detach")
public func sf_detach(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("detach", out) { try Ops.detach(Boundary.value(x, "detach", "x")) }
}
