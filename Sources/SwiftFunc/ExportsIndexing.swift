// Indexing exports: sf_gather, sf_index_select, sf_scatter_add.
import SwiftFuncCore

@_cdecl("sf_gather")
public func sf_gather(_ x: TensorHandle?, _ dim: Int64, _ index: TensorHandle?,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("gather", out) {
        try Ops.gather(Boundary.value(x, "gather", "x"), dim: Int(dim), index: Boundary.value(index, "gather", "index"))
    }
}

@_cdecl("sf_index_select")
public func sf_index_select(_ x: TensorHandle?, _ dim: Int64, _ index: TensorHandle?,
                            _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("index_select", out) {
        try Ops.indexSelect(Boundary.value(x, "index_select", "x"), dim: Int(dim),
                            index: Boundary.value(index, "index_select", "index"))
    }
}

@_cdecl("sf_scatter_add")
public func sf_scatter_add(_ x: TensorHandle?, _ dim: Int64, _ index: TensorHandle?, _ src: TensorHandle?,
                           _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("scatter_add", out) {
        try Ops.scatterAdd(Boundary.value(x, "scatter_add", "x"), dim: Int(dim),
                           index: Boundary.value(index, "scatter_add", "index"),
                           src: Boundary.value(src, "scatter_add", "src"))
    }
}
