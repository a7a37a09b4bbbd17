/// The Swift types that hold each dtype's elements, with the conversions kernels need.
/// Bool is stored as UInt8 (0 or 1) so that foreign bytes other than 0/1 are still read safely.
public protocol Element: Sendable {
    /// The dtype whose elements have this type.
    static var dtype: DType { get }
    /// Conversion from a double, as `sf_full` and casts do (truncating for integers, != 0 for bool).
    init(fromDouble value: Double)
    /// The value as a double.
    var doubleValue: Double { get }
}

extension Float: Element {
    public static var dtype: DType { .float32 }
    public init(fromDouble value: Double) { self = Float(value) }
    public var doubleValue: Double { Double(self) }
}

extension Double: Element {
    public static var dtype: DType { .float64 }
    public init(fromDouble value: Double) { self = value }
    public var doubleValue: Double { self }
}

extension Int32: Element {
    public static var dtype: DType { .int32 }
    /// Truncates toward zero; NaN gives 0 and out-of-range values saturate (never traps).
    public init(fromDouble value: Double) {
        if value.isNaN { self = 0 } else if value >= 2147483647 { self = .max } else if value <= -2147483648 { self = .min } else { self = Int32(value) }
    }
    public var doubleValue: Double { Double(self) }
}

extension Int64: Element {
    public static var dtype: DType { .int64 }
    /// Truncates toward zero; NaN gives 0 and out-of-range values saturate (never traps).
    public init(fromDouble value: Double) {
        if value.isNaN { self = 0 } else if value >= 9.2233720368547758e18 { self = .max } else if value <= -9.2233720368547758e18 { self = .min } else { self = Int64(value) }
    }
    public var doubleValue: Double { Double(self) }
}

extension UInt8: Element {
    public static var dtype: DType { .bool }
    public init(fromDouble value: Double) { self = value != 0 ? 1 : 0 }
    public var doubleValue: Double { self != 0 ? 1 : 0 }
}

/// A kernel written once for every element type. `dispatch` calls `visit` with the concrete type of
/// a dtype, so that the optimizer specializes the kernel per type (an existential would not).
public protocol DTypeVisitor {
    associatedtype Result
    func visit<T: Element>(_ type: T.Type) throws -> Result
}

extension DType {
    /// Runs `visitor` specialized for this dtype's element type: the one switch kernels share.
    @inline(__always)
    public func dispatch<V: DTypeVisitor>(_ visitor: V) throws -> V.Result {
        switch self {
        case .float32: return try visitor.visit(Float.self)
        case .float64: return try visitor.visit(Double.self)
        case .int32: return try visitor.visit(Int32.self)
        case .int64: return try visitor.visit(Int64.self)
        case .bool: return try visitor.visit(UInt8.self)
        }
    }
}
