/// The closed set of primitive operations. Every op, public or inside a rule, is one of these
/// passed to `emit`; composite ops (mean, softmax, layer_norm, ...) are built from them.
/// Raw values index `Primitive.rules`.
public enum Primitive: Int, CaseIterable, Sendable {
    // Elementwise unary (Elementwise.swift)
    case neg, exp, log, log1p, expm1, sin, cos, tan, tanh, sigmoid, sqrt, rsqrt, abs, sign, relu
    case floor, ceil, round, erf
    // Elementwise binary, comparison and selection (Elementwise.swift)
    case add, sub, mul, div, pow, maximum, minimum, atan2
    case lt, le, gt, ge, eq, ne
    case select
    // Reductions (Reductions.swift)
    case sum, prod, amax, amin, argmax, argmin
    // Movement (Movement.swift)
    case reshape, permute, expand, slice, flip, pad, cat, stopGradient
    // Contraction and convolution (Contraction.swift, Convolution.swift)
    case matmul, conv2d, convTranspose2d
    // Linear algebra on LAPACK (Linalg.swift)
    case linalgSolve, solveTriangular, cholesky, det, slogdet, eigvalsh, eigenvectorsh, svdvals, svd, qr, luFactor, luPivots, luSolve
    // Indexing (Indexing.swift)
    case gather, indexSelect, scatterAdd
    // Scans and sorting (Scan.swift, Sorting.swift)
    case linearScan, argsort
    // Pooling (Pooling.swift)
    case maxPool2dIndices
    // Creation, conversion and random numbers (Creation.swift, Random.swift)
    case cast, full, arange, eye, uniform, normal

    /// The op's public name (torch's), used in messages as `sf_<name>`.
    public var name: String { Primitive.rules[rawValue].name }

    /// Every primitive's rules, indexed by raw value: an array, not a dictionary, since it is on the
    /// per-op path. Assembled from the families' tables; see `index(_:)` for what a gap becomes.
    public static let rules: [PrimitiveRules] = index(familyTables.flatMap { $0 }).rules

    /// Each family's table: one entry per primitive, all its rules side by side.
    static var familyTables: [[PrimitiveRules]] {
        [Elementwise.table, Reductions.table, Movement.table, Contraction.table, Convolution.table,
         Indexing.table, Scan.table, Sorting.table, Creation.table, Random.table, Pooling.table, Linalg.table]
    }

    /// `entries` indexed by raw value. A primitive that no entry names gets `PrimitiveRules.missing`
    /// (no transform rules; its type rule and kernel throw SF_ERR_INTERNAL), never another
    /// primitive's rules; a primitive named by several entries keeps the first. `problems` lists
    /// both cases, and TableTests requires it to be empty.
    static func index(_ entries: [PrimitiveRules]) -> (rules: [PrimitiveRules], problems: [String]) {
        var rules = allCases.map(PrimitiveRules.missing)
        var listed = [Int](repeating: 0, count: allCases.count)
        for entry in entries {
            let slot = entry.primitive.rawValue
            if listed[slot] == 0 { rules[slot] = entry }
            listed[slot] += 1
        }
        let problems = allCases.compactMap { primitive -> String? in
            switch listed[primitive.rawValue] {
            case 0: return "\(primitive) has no table entry"
            case 1: return nil
            case let count: return "\(primitive) has \(count) table entries"
            }
        }
        return (rules, problems)
    }
}

/// The static parameters of one primitive application (axes, shapes, strides, ...). Each primitive
/// uses one case; public ops validate and normalize them (dims non-negative and sorted) before
/// calling `emit`, so rules can trust them.
public enum Params: Sendable, Equatable {
    case none
    /// Reductions: the reduced dims (sorted, non-negative) and whether they stay as size 1.
    case reduction(dims: [Int], keepdim: Bool)
    /// reshape and expand: the result shape.
    case shape([Int])
    /// permute: result dim i is input dim permutation[i].
    case permutation([Int])
    /// slice: a non-negative start and a positive step along `dim`, taking `count` elements.
    case slice(dim: Int, start: Int, count: Int, step: Int)
    /// flip: the reversed dims (sorted, non-negative).
    case dims([Int])
    /// pad: elements added before and after each dim (negative crops), and the fill value.
    case pad(before: [Int], after: [Int], value: Double)
    /// cat, gather, index_select, scatter_add: the dim they work along (non-negative).
    case dim(Int)
    /// conv2d: (H, W) pairs and the group count.
    case conv(stride: [Int], padding: [Int], dilation: [Int], groups: Int)
    /// conv_transpose2d: conv2d's params and the rows/columns added at the end of the output
    /// (each in 0..<stride), which fix the output size.
    case convTranspose(stride: [Int], padding: [Int], dilation: [Int], groups: Int, outputPadding: [Int])
    /// solve_triangular: which triangle of A is read, and whether its diagonal is taken as ones.
    case triangular(upper: Bool, unit: Bool)
    /// svd: whether U and Vᵀ are full (m x m, n x n) or reduced (k = min(m, n) columns / rows).
    case svd(full: Bool)
    /// qr: whether Q and R are complete (m x m, m x n) or reduced (k = min(m, n) columns / rows).
    case qr(complete: Bool)
    /// lu_solve: whether it solves with Aᵀ.
    case luSolve(adjoint: Bool)
    /// argsort: the dim it sorts along (non-negative), the order, and how many of the first
    /// sorted positions it gives (the dim's size for a sort, k for topk).
    case sort(dim: Int, descending: Bool, count: Int)
    /// max_pool2d_indices: the window, (H, W) pairs, and torch's ceil_mode.
    case pool(kernel: [Int], stride: [Int], padding: [Int], dilation: [Int], ceilMode: Bool)
    /// cast: the target dtype.
    case dtype(DType)
    /// full: shape, value and dtype of the result.
    case fill(shape: [Int], value: Double, dtype: DType)
    /// arange: start + i * step for i in 0..<count.
    case arange(start: Double, step: Double, count: Int, dtype: DType)
    /// eye: a rows x columns matrix of zeros with ones at (i, i + offset).
    case eye(rows: Int, columns: Int, offset: Int, dtype: DType)
    /// uniform/normal: shape, dtype and the generator key and first counter of this draw.
    case random(shape: [Int], dtype: DType, key: UInt64, counter: UInt64)
}

/// Computes the result type of a primitive from its arguments' types, or throws a message that
/// names the op and the problem. It runs before any kernel, under every interpreter.
public typealias TypeRule = @Sendable (_ args: [TensorType], _ params: Params) throws -> TensorType

/// Runs the primitive on concrete tensors; `type` is what the type rule computed.
public typealias EvalRule = @Sendable (_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor

/// Forward mode: the output tangent from the primals, their tangents (nil = symbolic zero) and
/// the primal output. Written with `emit`, so it is itself transformable.
public typealias JVPRule = @Sendable (_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value?

/// Reverse mode: the cotangent of each argument (nil = zero or not differentiable) from the output
/// cotangent. `needed[i]` says whether argument i's cotangent is wanted at all: a rule skips the
/// work for the others (symbolic zeros), e.g. matmul with a constant operand does one GEMM, not two.
/// Written with `emit`, so the backward pass is differentiable and batchable.
public typealias VJPRule = @Sendable (_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?]

/// What a batching rule is told about the vmap it runs under (the same for every primitive).
public struct BatchContext: Sendable {
    /// Size of the mapped dim.
    public let size: Int
    /// What random primitives do under this vmap.
    public let randomness: Randomness

    public init(size: Int, randomness: Randomness) {
        self.size = size
        self.randomness = randomness
    }
}

/// vmap: applies the primitive once to arguments whose batch dims are `batchDims` (nil = not
/// batched) and returns the result with its batch dim (nil: the result is the same for every
/// element). vmap calls it when some argument is batched, and always for a primitive without
/// arguments (constants, random draws), whose rule alone decides.
public typealias BatchRule = @Sendable (_ args: [Value], _ batchDims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?)

/// An elementwise kernel over `n` contiguous elements, for fused replay (Staging/Fusion.swift):
/// `run(operands, result, n)` reads operand i from `operands[i]` as `operandTypes[i]` and writes
/// the result's dtype. It applies the same per-element function as the eager kernel, so a fused
/// replay gives bitwise the eager results.
public struct BlockKernel: @unchecked Sendable {
    /// The loop's signature.
    public typealias Run = (_ operands: UnsafePointer<UnsafeMutableRawPointer>, _ result: UnsafeMutableRawPointer, _ n: Int) -> Void

    /// The dtype each operand is read as (a fused graph converts outside inputs to it on load).
    public let operandTypes: [DType]
    /// The loop, boxed (see `BlockLoop`).
    public let loop: BlockLoop

    public init(operandTypes: [DType], run: @escaping Run) {
        self.operandTypes = operandTypes
        loop = BlockLoop(run)
    }
}

/// A block kernel's loop in an object: a fused replay calls it through an unretained reference
/// (`Unmanaged`), because a closure copied out of an array is retained and released around
/// every call, which on 16-element blocks cost a tenth of a replay.
public final class BlockLoop: @unchecked Sendable {
    /// The loop.
    public let run: BlockKernel.Run

    init(_ run: @escaping BlockKernel.Run) { self.run = run }
}

/// For an elementwise primitive: its block kernel for arguments of these types and this result
/// dtype, or nil where it has none (the equation then runs unfused).
public typealias BlockRule = @Sendable (_ args: [TensorType], _ result: DType) -> BlockKernel?

/// One table entry: a primitive and everything about it, side by side — its name, type rule,
/// kernel and transform rules.
public struct PrimitiveRules: Sendable {
    /// The primitive this entry is for.
    public let primitive: Primitive
    /// torch's name for the op.
    public let name: String
    /// Shape and dtype checking.
    public let type: TypeRule
    /// The eager kernel.
    public let eval: EvalRule
    /// Forward-mode rule (nil only for `missing`).
    public let jvp: JVPRule?
    /// Reverse-mode rule (nil only for `missing`).
    public let vjp: VJPRule?
    /// Batching rule (nil only for `missing`).
    public let batch: BatchRule?
    /// Elementwise primitives only: the kernel a fused replay runs block by block.
    public let block: BlockRule?

    /// A table entry: every transform rule is required; `block` only for elementwise primitives.
    public init(_ primitive: Primitive, name: String, type: @escaping TypeRule, eval: @escaping EvalRule,
                jvp: @escaping JVPRule, vjp: @escaping VJPRule, batch: @escaping BatchRule, block: BlockRule? = nil) {
        self.primitive = primitive
        self.name = name
        self.type = type
        self.eval = eval
        self.jvp = jvp
        self.vjp = vjp
        self.batch = batch
        self.block = block
    }

    private init(missing primitive: Primitive) {
        let name = "\(primitive)"
        self.primitive = primitive
        self.name = name
        type = { _, _ in throw SwiftFuncError.internal(name, "the primitive has no table entry") }
        eval = { _, _, _ in throw SwiftFuncError.internal(name, "the primitive has no table entry") }
        jvp = nil
        vjp = nil
        batch = nil
        block = nil
    }

    /// What `Primitive.index` puts where a family forgot a primitive: an entry that fails (never
    /// traps) whenever it is used, and that TableTests reports.
    static func missing(_ primitive: Primitive) -> PrimitiveRules { PrimitiveRules(missing: primitive) }
}
