#if canImport(Glibc)
import Glibc
#endif

/// The Swift types that hold each dtype's elements, with everything kernels need: conversions
/// and the arithmetic of torch's ops. Bool is stored as UInt8 so that foreign bytes other than 0/1
/// are still read safely; its operations read any nonzero byte as true and produce 0 or 1.
public protocol Element: Sendable, Comparable {
    /// The dtype whose elements have this type.
    static var dtype: DType { get }
    /// Conversion from a double, as `sf_full` does (truncating for integers, != 0 for bool).
    init(fromDouble value: Double)
    /// The value as a double.
    var doubleValue: Double { get }
    /// `value` converted as torch's casts do: floats truncate toward zero into integers (NaN gives
    /// 0, out-of-range values saturate), integers wrap into narrower ones, anything becomes (x != 0)
    /// as bool. Integers never pass through Double, so no bits are lost.
    init<S: Element>(convertingElement value: S)
    /// Whether the type is Float or Double.
    static var isFloatingPointElement: Bool { get }
    /// Whether the value is NaN (never for integers and bool).
    var isNaNElement: Bool { get }
    /// The value as int64: exact for integers, 0/1 for bool, truncating and saturating for floats.
    var exactInt64: Int64 { get }

    /// The value with bool bytes canonicalized to 0/1 (identity for other types).
    var normalized: Self { get }
    /// a + b: wrapping for integers, logical or for bool.
    static func add(_ a: Self, _ b: Self) -> Self
    static func subtract(_ a: Self, _ b: Self) -> Self
    /// a * b: wrapping for integers, logical and for bool.
    static func multiply(_ a: Self, _ b: Self) -> Self
    /// a to the power b; for integers, b >= 0 (checked before any kernel runs).
    static func power(_ a: Self, _ b: Self) -> Self
    /// The larger value; NaN if either is NaN.
    static func propagatingMaximum(_ a: Self, _ b: Self) -> Self
    /// The smaller value; NaN if either is NaN.
    static func propagatingMinimum(_ a: Self, _ b: Self) -> Self
    static func negative(_ x: Self) -> Self
    static func absolute(_ x: Self) -> Self
    static func signOf(_ x: Self) -> Self
    static func relu(_ x: Self) -> Self
    static func floor(_ x: Self) -> Self
    static func ceil(_ x: Self) -> Self
    static func roundHalfEven(_ x: Self) -> Self
}

/// float32 and float64.
public protocol FloatingPointElement: Element, BinaryFloatingPoint {}

extension FloatingPointElement {
    public static var isFloatingPointElement: Bool { true }
    public var isNaNElement: Bool { isNaN }
    public var doubleValue: Double { Double(self) }
    public var exactInt64: Int64 { Int64(fromDouble: Double(self)) }
    public init<S: Element>(convertingElement value: S) {
        self = S.isFloatingPointElement ? Self(value.doubleValue) : Self(value.exactInt64)
    }
    @inline(__always) public var normalized: Self { self }
    @inline(__always) public static func add(_ a: Self, _ b: Self) -> Self { a + b }
    @inline(__always) public static func subtract(_ a: Self, _ b: Self) -> Self { a - b }
    @inline(__always) public static func multiply(_ a: Self, _ b: Self) -> Self { a * b }
    @inline(__always) public static func propagatingMaximum(_ a: Self, _ b: Self) -> Self { a > b || a.isNaN ? a : b }
    @inline(__always) public static func propagatingMinimum(_ a: Self, _ b: Self) -> Self { a < b || a.isNaN ? a : b }
    @inline(__always) public static func negative(_ x: Self) -> Self { -x }
    @inline(__always) public static func absolute(_ x: Self) -> Self { x.magnitude }
    // (0 < x) - (x < 0) as torch: 0 for NaN and for both zeros.
    @inline(__always) public static func signOf(_ x: Self) -> Self { (x > 0 ? 1 : 0) - (x < 0 ? 1 : 0) }
    // x < 0 ? 0 : x keeps NaN (torch's relu is clamp_min, which propagates NaN).
    @inline(__always) public static func relu(_ x: Self) -> Self { x < 0 ? 0 : x }
    @inline(__always) public static func floor(_ x: Self) -> Self { x.rounded(.down) }
    @inline(__always) public static func ceil(_ x: Self) -> Self { x.rounded(.up) }
    @inline(__always) public static func roundHalfEven(_ x: Self) -> Self { x.rounded(.toNearestOrEven) }
}

extension Float: FloatingPointElement {
    public static var dtype: DType { .float32 }
    public init(fromDouble value: Double) { self = Float(value) }
    @inline(__always) public static func power(_ a: Float, _ b: Float) -> Float { Glibc.powf(a, b) }
}

extension Double: FloatingPointElement {
    public static var dtype: DType { .float64 }
    public init(fromDouble value: Double) { self = value }
    @inline(__always) public static func power(_ a: Double, _ b: Double) -> Double { Glibc.pow(a, b) }
}

/// int32 and int64: wrapping arithmetic as torch (two's complement overflow wraps).
public protocol IntegerElement: Element, FixedWidthInteger, SignedInteger {}

extension IntegerElement {
    public static var isFloatingPointElement: Bool { false }
    public var isNaNElement: Bool { false }
    public var doubleValue: Double { Double(self) }
    public var exactInt64: Int64 { Int64(self) }
    /// Truncates toward zero; NaN gives 0 and out-of-range values saturate (never traps).
    public init(fromDouble value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= Double(Self.max) {
            self = .max
        } else if value <= Double(Self.min) {
            self = .min
        } else {
            self = Self(value)
        }
    }
    public init<S: Element>(convertingElement value: S) {
        self = S.isFloatingPointElement ? Self(fromDouble: value.doubleValue) : Self(truncatingIfNeeded: value.exactInt64)
    }
    @inline(__always) public var normalized: Self { self }
    @inline(__always) public static func add(_ a: Self, _ b: Self) -> Self { a &+ b }
    @inline(__always) public static func subtract(_ a: Self, _ b: Self) -> Self { a &- b }
    @inline(__always) public static func multiply(_ a: Self, _ b: Self) -> Self { a &* b }
    @inline(__always) public static func power(_ a: Self, _ b: Self) -> Self {
        // Exponentiation by squaring with wrapping products; b < 0 never reaches here.
        var result: Self = 1, base = a, e = b
        while e > 0 {
            if e & 1 == 1 { result = result &* base }
            e >>= 1
            base = base &* base
        }
        return result
    }
    @inline(__always) public static func propagatingMaximum(_ a: Self, _ b: Self) -> Self { a > b ? a : b }
    @inline(__always) public static func propagatingMinimum(_ a: Self, _ b: Self) -> Self { a < b ? a : b }
    @inline(__always) public static func negative(_ x: Self) -> Self { 0 &- x }
    // The most negative value stays itself, as in torch (two's complement).
    @inline(__always) public static func absolute(_ x: Self) -> Self { x < 0 ? 0 &- x : x }
    @inline(__always) public static func signOf(_ x: Self) -> Self { (x > 0 ? 1 : 0) &- (x < 0 ? 1 : 0) }
    @inline(__always) public static func relu(_ x: Self) -> Self { x < 0 ? 0 : x }
    @inline(__always) public static func floor(_ x: Self) -> Self { x }
    @inline(__always) public static func ceil(_ x: Self) -> Self { x }
    @inline(__always) public static func roundHalfEven(_ x: Self) -> Self { x }
}

extension Int32: IntegerElement {
    public static var dtype: DType { .int32 }
}

extension Int64: IntegerElement {
    public static var dtype: DType { .int64 }
}

/// Bool stored as a byte. The type rules keep the ops torch refuses on bool (sub, pow, neg, abs,
/// relu, floor, ceil, round) away from kernels; they are defined only to complete the type.
extension UInt8: Element {
    public static var dtype: DType { .bool }
    public init(fromDouble value: Double) { self = value != 0 ? 1 : 0 }
    public var doubleValue: Double { self != 0 ? 1 : 0 }
    public static var isFloatingPointElement: Bool { false }
    public var isNaNElement: Bool { false }
    public var exactInt64: Int64 { self != 0 ? 1 : 0 }
    public init<S: Element>(convertingElement value: S) {
        // NaN is nonzero, so it converts to true as in torch.
        self = (S.isFloatingPointElement ? value.doubleValue != 0 : value.exactInt64 != 0) ? 1 : 0
    }
    @inline(__always) public var normalized: UInt8 { self != 0 ? 1 : 0 }
    @inline(__always) public static func add(_ a: UInt8, _ b: UInt8) -> UInt8 { (a | b) != 0 ? 1 : 0 }
    @inline(__always) public static func subtract(_ a: UInt8, _ b: UInt8) -> UInt8 { a.normalized ^ b.normalized }
    @inline(__always) public static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 { a.normalized & b.normalized }
    @inline(__always) public static func power(_ a: UInt8, _ b: UInt8) -> UInt8 { b == 0 ? 1 : a.normalized }
    @inline(__always) public static func propagatingMaximum(_ a: UInt8, _ b: UInt8) -> UInt8 { (a | b) != 0 ? 1 : 0 }
    @inline(__always) public static func propagatingMinimum(_ a: UInt8, _ b: UInt8) -> UInt8 { a.normalized & b.normalized }
    @inline(__always) public static func negative(_ x: UInt8) -> UInt8 { x.normalized }
    @inline(__always) public static func absolute(_ x: UInt8) -> UInt8 { x.normalized }
    @inline(__always) public static func signOf(_ x: UInt8) -> UInt8 { x.normalized }
    @inline(__always) public static func relu(_ x: UInt8) -> UInt8 { x.normalized }
    @inline(__always) public static func floor(_ x: UInt8) -> UInt8 { x.normalized }
    @inline(__always) public static func ceil(_ x: UInt8) -> UInt8 { x.normalized }
    @inline(__always) public static func roundHalfEven(_ x: UInt8) -> UInt8 { x.normalized }
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
