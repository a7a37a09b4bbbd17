// Contraction and convolution exports: sf_matmul, sf_conv2d, sf_conv_transpose2d.
import SwiftFuncCore

@_cdecl("sf_matmul")
public func sf_matmul(_ a: TensorHandle?, _ b: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("matmul", out) { try Ops.matmul(Boundary.value(a, "matmul", "a"), Boundary.value(b, "matmul", "b")) }
}

@_cdecl("sf_conv2d")
public func sf_conv2d(_ x: TensorHandle?, _ weight: TensorHandle?, _ bias: TensorHandle?,
                      _ stride: UnsafePointer<Int64>?, _ padding: UnsafePointer<Int64>?, _ dilation: UnsafePointer<Int64>?,
                      _ groups: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("conv2d", out) {
        try Ops.conv2d(Boundary.value(x, "conv2d", "x"), Boundary.value(weight, "conv2d", "weight"),
                       bias: Boundary.optionalValue(bias),
                       stride: Boundary.ints(stride, 2, "conv2d", "stride"),
                       padding: Boundary.ints(padding, 2, "conv2d", "padding"),
                       dilation: Boundary.ints(dilation, 2, "conv2d", "dilation"),
                       groups: Int(groups))
    }
}

@_cdecl("sf_conv_transpose2d")
public func sf_conv_transpose2d(_ x: TensorHandle?, _ weight: TensorHandle?, _ bias: TensorHandle?,
                                _ stride: UnsafePointer<Int64>?, _ padding: UnsafePointer<Int64>?,
                                _ outputPadding: UnsafePointer<Int64>?, _ dilation: UnsafePointer<Int64>?,
                                _ groups: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("conv_transpose2d", out) {
        try Ops.convTranspose2d(Boundary.value(x, "conv_transpose2d", "x"), Boundary.value(weight, "conv_transpose2d", "weight"),
                                bias: Boundary.optionalValue(bias),
                                stride: Boundary.ints(stride, 2, "conv_transpose2d", "stride"),
                                padding: Boundary.ints(padding, 2, "conv_transpose2d", "padding"),
                                outputPadding: Boundary.ints(outputPadding, 2, "conv_transpose2d", "output_padding"),
                                groups: Int(groups),
                                dilation: Boundary.ints(dilation, 2, "conv_transpose2d", "dilation"))
    }
}
