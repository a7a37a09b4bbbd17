// Exports of the tensor ops: einsum, diagonals and triangles, scans, sorting, norms, roll,
// repeat and tile (SwiftFuncCore/Composites and the Scan and Sorting primitives).
import SwiftFuncCore

extension Boundary {
    /// The thunk of the ops taking x and one int64 (a diagonal or a dim).
    static func withInt(_ name: String, _ x: TensorHandle?, _ n: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?,
                        _ op: (Value, Int) throws -> Value) -> Int32 {
        run(name, out) { try op(value(x, name, "x"), Int(n)) }
    }

    /// A host C string (NULL is an error naming the argument).
    static func string(_ pointer: UnsafePointer<CChar>?, _ function: String, _ argument: String) throws -> String {
        guard let pointer else { throw SwiftFuncError.invalidArgument(function, "\(argument) is NULL") }
        return String(cString: pointer)
    }
}

@_cdecl("sf_einsum")
public func sf_einsum(_ equation: UnsafePointer<CChar>?, _ operands: UnsafePointer<TensorHandle?>?, _ n: Int,
                      _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("einsum", out) {
        try Ops.einsum(Boundary.string(equation, "einsum", "equation"), Boundary.values(operands, n, "einsum", "operands"))
    }
}

@_cdecl("sf_diagonal")
public func sf_diagonal(_ x: TensorHandle?, _ offset: Int64, _ dim1: Int64, _ dim2: Int64,
                        _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("diagonal", out) {
        try Ops.diagonal(Boundary.value(x, "diagonal", "x"), offset: Int(offset), dim1: Int(dim1), dim2: Int(dim2))
    }
}

@_cdecl("sf_diag_embed")
public func sf_diag_embed(_ x: TensorHandle?, _ offset: Int64, _ dim1: Int64, _ dim2: Int64,
                          _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("diag_embed", out) {
        try Ops.diagEmbed(Boundary.value(x, "diag_embed", "x"), offset: Int(offset), dim1: Int(dim1), dim2: Int(dim2))
    }
}

@_cdecl("sf_diag")
public func sf_diag(_ x: TensorHandle?, _ diagonal: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.withInt("diag", x, diagonal, out) { try Ops.diag($0, diagonal: $1) }
}

@_cdecl("sf_trace")
public func sf_trace(_ x: TensorHandle?, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("trace", out) { try Ops.trace(Boundary.value(x, "trace", "x")) }
}

@_cdecl("sf_tril")
public func sf_tril(_ x: TensorHandle?, _ diagonal: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.withInt("tril", x, diagonal, out) { try Ops.tril($0, diagonal: $1) }
}

@_cdecl("sf_triu")
public func sf_triu(_ x: TensorHandle?, _ diagonal: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.withInt("triu", x, diagonal, out) { try Ops.triu($0, diagonal: $1) }
}

@_cdecl("sf_cumsum")
public func sf_cumsum(_ x: TensorHandle?, _ dim: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.withInt("cumsum", x, dim, out) { try Ops.cumsum($0, dim: $1) }
}

@_cdecl("sf_cumprod")
public func sf_cumprod(_ x: TensorHandle?, _ dim: Int64, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.withInt("cumprod", x, dim, out) { try Ops.cumprod($0, dim: $1) }
}

@_cdecl("sf_sort")
public func sf_sort(_ x: TensorHandle?, _ dim: Int64, _ descending: Bool, _ values: UnsafeMutablePointer<TensorHandle?>?,
                    _ indices: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("sort", values, indices, names: ("values", "indices")) {
        try Ops.sort(Boundary.value(x, "sort", "x"), dim: Int(dim), descending: descending)
    }
}

@_cdecl("sf_argsort")
public func sf_argsort(_ x: TensorHandle?, _ dim: Int64, _ descending: Bool, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("argsort", out) { try Ops.argsort(Boundary.value(x, "argsort", "x"), dim: Int(dim), descending: descending) }
}

@_cdecl("sf_topk")
public func sf_topk(_ x: TensorHandle?, _ k: Int64, _ dim: Int64, _ largest: Bool, _ values: UnsafeMutablePointer<TensorHandle?>?,
                    _ indices: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("topk", values, indices, names: ("values", "indices")) {
        try Ops.topk(Boundary.value(x, "topk", "x"), k: Int(k), dim: Int(dim), largest: largest)
    }
}

@_cdecl("sf_vector_norm")
public func sf_vector_norm(_ x: TensorHandle?, _ ord: Double, _ dims: UnsafePointer<Int64>?, _ nDims: Int, _ keepdim: Bool,
                           _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("vector_norm", out) {
        try Ops.vectorNorm(Boundary.value(x, "vector_norm", "x"), ord: ord,
                           dims: Boundary.ints(dims, nDims, "vector_norm", "dims"), keepdim: keepdim)
    }
}

@_cdecl("sf_matrix_norm")
public func sf_matrix_norm(_ x: TensorHandle?, _ ord: UnsafePointer<CChar>?, _ dim0: Int64, _ dim1: Int64, _ keepdim: Bool,
                           _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("matrix_norm", out) {
        let value = try Boundary.value(x, "matrix_norm", "x")
        let text = ord == nil ? "fro" : try Boundary.string(ord, "matrix_norm", "ord")
        guard let order = Ops.MatrixNormOrder(rawValue: text) else {
            throw SwiftFuncError.invalidArgument("matrix_norm", "ord '\(text)' is not one of fro, nuc, 1, -1, 2, -2, inf, -inf")
        }
        return try Ops.matrixNorm(value, ord: order, dims: (Int(dim0), Int(dim1)), keepdim: keepdim)
    }
}

@_cdecl("sf_roll")
public func sf_roll(_ x: TensorHandle?, _ shifts: UnsafePointer<Int64>?, _ nShifts: Int, _ dims: UnsafePointer<Int64>?, _ nDims: Int,
                    _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("roll", out) {
        try Ops.roll(Boundary.value(x, "roll", "x"), shifts: Boundary.ints(shifts, nShifts, "roll", "shifts"),
                     dims: Boundary.ints(dims, nDims, "roll", "dims"))
    }
}

@_cdecl("sf_repeat")
public func sf_repeat(_ x: TensorHandle?, _ repeats: UnsafePointer<Int64>?, _ n: Int, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("repeat", out) { try Ops.repeat(Boundary.value(x, "repeat", "x"), Boundary.ints(repeats, n, "repeat", "repeats")) }
}

@_cdecl("sf_tile")
public func sf_tile(_ x: TensorHandle?, _ dims: UnsafePointer<Int64>?, _ n: Int, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("tile", out) { try Ops.tile(Boundary.value(x, "tile", "x"), Boundary.ints(dims, n, "tile", "dims")) }
}
