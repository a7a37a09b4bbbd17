/// The element type of a tensor. Raw values are the C ABI's `sf_dtype` values.
public enum DType: Int32, CaseIterable, Sendable, CustomStringConvertible {
    case float32 = 0
    case float64 = 1
    case int32 = 2
    case int64 = 3
    /// One byte per element holding 0 or 1.
    case bool = 4

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        case .bool: return 1
        }
    }

    /// Whether the dtype is float32 or float64.
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// Whether the dtype is int32 or int64.
    public var isInteger: Bool { self == .int32 || self == .int64 }

    public var description: String {
        switch self {
        case .float32: return "float32"
        case .float64: return "float64"
        case .int32: return "int32"
        case .int64: return "int64"
        case .bool: return "bool"
        }
    }

    /// Position in torch's promotion lattice for these five types: bool < int32 < int64 < float32 < float64.
    private var promotionRank: Int {
        switch self {
        case .bool: return 0
        case .int32: return 1
        case .int64: return 2
        case .float32: return 3
        case .float64: return 4
        }
    }

    /// The dtype two operands promote to, as torch does. A weakly typed operand (a scalar) only
    /// decides the dtype when the other is weak too; otherwise it takes the other's float dtype and
    /// lifts integers and bools to float32, as a Python float does with a torch tensor.
    public static func promote(_ a: TensorType, _ b: TensorType) -> DType {
        switch (a.isWeak, b.isWeak) {
        case (true, false): return b.dtype.isFloatingPoint || !a.dtype.isFloatingPoint ? b.dtype : .float32
        case (false, true): return a.dtype.isFloatingPoint || !b.dtype.isFloatingPoint ? a.dtype : .float32
        default: return promoteStrong(a.dtype, b.dtype)
        }
    }

    /// Promotion of two strongly typed dtypes: the higher in the lattice wins.
    public static func promoteStrong(_ a: DType, _ b: DType) -> DType {
        a.promotionRank >= b.promotionRank ? a : b
    }

    /// The float dtype an op that needs floats (exp, mean, ...) computes in for this input.
    public var floatingPointPromoted: DType { isFloatingPoint ? self : .float32 }
}

/// The abstract value of a tensor: what shape and dtype rules compute without data.
public struct TensorType: Equatable, Sendable, CustomStringConvertible {
    /// Sizes of the dims, outermost first.
    public var shape: [Int]
    /// Element type.
    public var dtype: DType
    /// True for values made by `Ops.scalar`: they adopt the other operand's dtype in promotion.
    public var isWeak: Bool

    public init(shape: [Int], dtype: DType, isWeak: Bool = false) {
        self.shape = shape
        self.dtype = dtype
        self.isWeak = isWeak
    }

    /// Number of dims.
    public var rank: Int { shape.count }

    /// Number of elements (shapes are validated on creation, so this cannot overflow).
    public var count: Int { shape.reduce(1, &*) }

    public var description: String { "\(dtype)\(formatShape(shape))" }
}

/// `[3, 4]`, the way error messages print shapes.
public func formatShape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
