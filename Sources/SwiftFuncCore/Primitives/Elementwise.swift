#if canImport(Glibc)
import Glibc
#endif

// Elementwise primitives: unary math, broadcasting binary arithmetic, comparisons and select
// (torch.where). Each primitive has one table entry (name, type rule, kernel, JVP, VJP, batching
// rule; see `Elementwise.table`); the kernels are
// generic over the element type and over a small op type, so that every (op, dtype) pair is
// specialized into a tight loop without closures or existentials on the per-element path.
//
// torch behaviours followed here, where the header leaves room:
// - neg, abs, relu, floor, ceil and round of bool are SF_ERR_DTYPE (torch: "Negation ... on a bool
//   tensor is not supported", "Boolean inputs not supported for relu", and no bool kernel for abs,
//   floor, ceil, round); sign of bool is the identity (torch's sign_kernel special case).
// - div and atan2 always compute in a float dtype: integer / integer is true division giving
//   float32, as torch.div without rounding_mode (so integer division by zero gives inf/nan).
// - bool + bool is logical or, bool * bool logical and, maximum/minimum of bools or/and, as torch;
//   bool - bool and pow of two bools are SF_ERR_DTYPE (torch refuses both).
// - pow of integers with a negative integer exponent is SF_ERR_INVALID_ARGUMENT (torch's message
//   for scalar exponents; torch's tensor-exponent kernel would silently give 0 or +-1 instead).
// - maximum and minimum propagate NaN; sign(NaN) is 0, as torch's CPU kernel computes it.
// - Integer arithmetic wraps on overflow, as in torch.
//
// The element-arithmetic protocols and op types below are fileprivate so that they cannot clash
// with other families' helpers; make them internal if another family wants to reuse them.
// `Elementwise.convert` (dtype conversion into a new contiguous tensor) is internal.

/// Elementwise primitives. Each primitive has one entry in `table`, made by the builder of its
/// group (floatUnary, numericUnary, arithmetic, floatBinary, comparison: each builder's comment
/// lists the five rules it fills in) from what is the primitive's own: its op type (the kernel)
/// and its derivative. select has its own rules.
enum Elementwise {
    /// Each unary entry carries its derivative: dy/dx applied to `v` (a tangent in the JVP, a
    /// cotangent in the VJP: the Jacobian of an elementwise op is diagonal, so both are the same
    /// product), from x and y = f(x); nil: the derivative is zero (piecewise constant ops). Binary
    /// entries carry their two partials.
    static let table: [PrimitiveRules] = [
        // Unary ops that keep integer dtypes (integer results never get tangents).
        numericUnary(.neg, "neg", NegOp.self, acceptsBool: false) { v, _, _ in try Ops.neg(v) },
        // Unary ops that promote integers and bool to float32.
        floatUnary(.exp, "exp", ExpOp.self) { v, _, y in try Ops.mul(v, y) },
        floatUnary(.log, "log", LogOp.self) { v, x, _ in try Ops.div(v, x) },
        floatUnary(.log1p, "log1p", Log1pOp.self) { v, x, _ in try Ops.div(v, Ops.add(x, Ops.scalar(1))) },
        floatUnary(.expm1, "expm1", Expm1Op.self) { v, _, y in try Ops.mul(v, Ops.add(y, Ops.scalar(1))) },
        floatUnary(.sin, "sin", SinOp.self) { v, x, _ in try Ops.mul(v, Ops.cos(x)) },
        floatUnary(.cos, "cos", CosOp.self) { v, x, _ in try Ops.mul(v, Ops.neg(Ops.sin(x))) },
        floatUnary(.tan, "tan", TanOp.self) { v, _, y in try Ops.mul(v, Ops.add(Ops.mul(y, y), Ops.scalar(1))) },
        floatUnary(.tanh, "tanh", TanhOp.self) { v, _, y in try Ops.mul(v, Ops.sub(Ops.scalar(1), Ops.mul(y, y))) },
        floatUnary(.sigmoid, "sigmoid", SigmoidOp.self) { v, _, y in try Ops.mul(v, Ops.mul(y, Ops.sub(Ops.scalar(1), y))) },
        floatUnary(.sqrt, "sqrt", SqrtOp.self) { v, _, y in try Ops.div(v, Ops.mul(y, Ops.scalar(2))) },
        // d/dx x^(-1/2) = -x^(-3/2) / 2 = -y^3 / 2 (torch's rsqrt backward).
        floatUnary(.rsqrt, "rsqrt", RsqrtOp.self) { v, _, y in try Ops.mul(v, Ops.mul(Ops.mul(y, y), Ops.mul(y, Ops.scalar(-0.5)))) },
        // abs'(0) = sign(0) = 0, as torch.
        numericUnary(.abs, "abs", AbsOp.self, acceptsBool: false) { v, x, _ in try Ops.mul(v, Ops.sign(x)) },
        numericUnary(.sign, "sign", SignOp.self, acceptsBool: true, derivative: nil),
        // relu'(0) = 0, as torch (threshold_backward); a select, so that inf/NaN tangents where x <= 0 do not leak.
        numericUnary(.relu, "relu", ReluOp.self, acceptsBool: false) { v, x, _ in try Ops.where(Ops.gt(x, Ops.scalar(0)), v, Ops.scalar(0)) },
        numericUnary(.floor, "floor", FloorOp.self, acceptsBool: false, derivative: nil),
        numericUnary(.ceil, "ceil", CeilOp.self, acceptsBool: false, derivative: nil),
        numericUnary(.round, "round", RoundOp.self, acceptsBool: false, derivative: nil),
        // d/dx erf(x) = 2 / sqrt(pi) * e^(-x^2).
        floatUnary(.erf, "erf", ErfOp.self) { v, x, _ in
            try Ops.mul(v, Ops.mul(Ops.exp(Ops.neg(Ops.mul(x, x))), Ops.scalar(2 / Double.pi.squareRoot())))
        },

        // Binary arithmetic in the promoted dtype. Partials: (v, a, b, y) -> dy/da ⊙ v and dy/db ⊙ v,
        // at the broadcast shape (the rules bring them to each operand's shape and dtype).
        arithmetic(.add, "add", AddOp.self, refusesBool: false,
                   lhs: { v, _, _, _ in v }, rhs: { v, _, _, _ in v }),
        arithmetic(.sub, "sub", SubOp.self, refusesBool: true,
                   lhs: { v, _, _, _ in v }, rhs: { v, _, _, _ in try Ops.neg(v) }),
        arithmetic(.mul, "mul", MulOp.self, refusesBool: false,
                   lhs: { v, _, b, _ in try Ops.mul(v, b) }, rhs: { v, a, _, _ in try Ops.mul(v, a) }),
        // Binary ops that compute in a float dtype. d/db (a / b) = -a / b^2 = -y / b.
        floatBinary(.div, "div", DivOp.self,
                    lhs: { v, _, b, _ in try Ops.div(v, b) },
                    rhs: { v, _, b, y in try Ops.neg(Ops.div(Ops.mul(v, y), b)) }),
        arithmetic(.pow, "pow", PowOp.self, refusesBool: true,
                   lhs: { v, a, b, y in try Ops.mul(v, powBaseDerivative(a, b, y)) },
                   rhs: { v, a, b, y in try Ops.mul(v, powExponentDerivative(a, b, y)) }),
        // Ties split the gradient half/half (torch's maximum/minimum); NaN comparisons are false, so a
        // NaN operand gives zero to both sides.
        arithmetic(.maximum, "maximum", MaximumOp.self, refusesBool: false,
                   lhs: { v, a, b, y in try Ops.mul(v, winnerShare(Ops.gt(a, b), Ops.eq(a, b), y)) },
                   rhs: { v, a, b, y in try Ops.mul(v, winnerShare(Ops.lt(a, b), Ops.eq(a, b), y)) }),
        arithmetic(.minimum, "minimum", MinimumOp.self, refusesBool: false,
                   lhs: { v, a, b, y in try Ops.mul(v, winnerShare(Ops.lt(a, b), Ops.eq(a, b), y)) },
                   rhs: { v, a, b, y in try Ops.mul(v, winnerShare(Ops.gt(a, b), Ops.eq(a, b), y)) }),
        // d atan2(a, b) = (b da - a db) / (a^2 + b^2).
        floatBinary(.atan2, "atan2", Atan2Op.self,
                    lhs: { v, a, b, _ in try Ops.div(Ops.mul(v, b), Ops.add(Ops.mul(a, a), Ops.mul(b, b))) },
                    rhs: { v, a, b, _ in try Ops.neg(Ops.div(Ops.mul(v, a), Ops.add(Ops.mul(a, a), Ops.mul(b, b)))) }),

        // Comparisons: bool results computed in the promoted dtype; no derivatives.
        comparison(.lt, "lt", LessOp.self),
        comparison(.le, "le", LessEqualOp.self),
        comparison(.gt, "gt", GreaterOp.self),
        comparison(.ge, "ge", GreaterEqualOp.self),
        comparison(.eq, "eq", EqualOp.self),
        comparison(.ne, "ne", NotEqualOp.self),

        PrimitiveRules(.select, name: "where", type: selectType, eval: selectEval,
                       jvp: selectJVP, vjp: selectVJP, batch: Batching.broadcasting(.select, promotedFrom: 1),
                       block: { _, result in try? result.dispatch(SelectBlockVisitor()) }),
    ]

    // MARK: Rule builders

    /// A unary op that computes in float: integer and bool inputs give float32. Type: the input's
    /// shape, float-promoted dtype; kernel: `Op` per element (FloatUnaryVisitor); JVP and VJP:
    /// `derivative` (unaryJVP, unaryVJP); batching: Batching.vectorized.
    private static func floatUnary<Op: FloatUnaryOp>(_ primitive: Primitive, _ name: String, _: Op.Type,
                                                     derivative: UnaryDerivative?) -> PrimitiveRules {
        PrimitiveRules(
            primitive, name: name,
            type: { args, _ in
                let x = try unaryArgument(args, name)
                return TensorType(shape: x.shape, dtype: x.dtype.floatingPointPromoted, isWeak: x.isWeak)
            },
            eval: { args, _, type in
                let x = try unaryArgument(args, name)
                let input = x.dtype == type.dtype ? x : try convert(x, to: type.dtype, op: name)
                let result = try Tensor(uninitialized: type, op: name)
                try type.dtype.dispatchFloat(FloatUnaryVisitor<Op>(input: input, result: result))
                return result
            },
            jvp: unaryJVP(derivative), vjp: unaryVJP(derivative), batch: Batching.vectorized(primitive),
            block: { _, result in try? result.dispatchFloat(FloatUnaryBlockVisitor<Op>()) })
    }

    /// A unary op that keeps the input dtype (bool only when `acceptsBool`). Kernel: `Op` per
    /// element (NumericUnaryVisitor); JVP and VJP: `derivative` (unaryJVP, unaryVJP); batching:
    /// Batching.vectorized.
    private static func numericUnary<Op: NumericUnaryOp>(_ primitive: Primitive, _ name: String, _: Op.Type, acceptsBool: Bool,
                                                         derivative: UnaryDerivative?) -> PrimitiveRules {
        PrimitiveRules(
            primitive, name: name,
            type: { args, _ in
                let x = try unaryArgument(args, name)
                guard acceptsBool || x.dtype != .bool else {
                    throw SwiftFuncError.dtype(name, "bool tensors are not supported (as in torch)")
                }
                return x
            },
            eval: { args, _, type in
                let x = try unaryArgument(args, name)
                let result = try Tensor(uninitialized: type, op: name)
                try type.dtype.dispatch(NumericUnaryVisitor<Op>(input: x, result: result))
                return result
            },
            jvp: unaryJVP(derivative), vjp: unaryVJP(derivative), batch: Batching.vectorized(primitive),
            block: { _, result in try? result.dispatch(NumericUnaryBlockVisitor<Op>()) })
    }

    /// A broadcasting binary op in the promoted dtype. `refusesBool` rejects two bool operands.
    /// Kernel: `Op` on the broadcast operands (ArithmeticVisitor); JVP and VJP: the partials `lhs`
    /// and `rhs` (binaryJVP, binaryVJP); batching: Batching.broadcasting.
    private static func arithmetic<Op: ArithmeticOp>(_ primitive: Primitive, _ name: String, _: Op.Type, refusesBool: Bool,
                                                     lhs: @escaping Partial, rhs: @escaping Partial) -> PrimitiveRules {
        let isPow = name == "pow", isMul = name == "mul"
        return PrimitiveRules(
            primitive, name: name,
            type: { args, _ in
                let (a, b) = try binaryArguments(args, name)
                let dtype = DType.promote(a, b)
                if refusesBool && dtype == .bool {
                    throw SwiftFuncError.dtype(name, name == "sub"
                        ? "subtraction of two bool tensors is not supported (as in torch); use ne (logical xor)"
                        : "two bool tensors are not supported (as in torch)")
                }
                return TensorType(shape: try broadcastShape(a.shape, b.shape, name), dtype: dtype,
                                  isWeak: a.isWeak && b.isWeak)
            },
            eval: { args, _, type in
                let (a, b) = try binaryTensors(args, name)
                let result = try Tensor(uninitialized: type, op: name)
                if isPow && type.dtype.isInteger {
                    try checkNonNegativeExponent(b, name)
                }
                try type.dtype.dispatch(ArithmeticVisitor<Op>(a: a, b: b, result: result, op: name))
                if isMul { markDiagonalProduct(a, b, result) }
                return result
            },
            jvp: binaryJVP(lhs, rhs), vjp: binaryVJP(lhs, rhs), batch: Batching.broadcasting(primitive),
            // Integer pow checks its exponents first (an error, which a block cannot report): unfused.
            block: { _, result in isPow && result.isInteger ? nil : try? result.dispatch(ArithmeticBlockVisitor<Op>()) })
    }

    /// Flags a product as diagonal (`Tensor.isDiagonalMatrix`) when one factor is a diagonal matrix
    /// of the result's shape and the other is finite (its zeros times finite numbers stay zeros):
    /// the tanh factor a pullback applies to jacrev's basis. One flag test per product otherwise.
    private static func markDiagonalProduct(_ a: Tensor, _ b: Tensor, _ result: Tensor) {
        guard a.storage.holdsDiagonalMatrix || b.storage.holdsDiagonalMatrix else { return }
        let diagonalFirst = a.isDiagonalMatrix && a.shape == result.shape
        guard diagonalFirst || (b.isDiagonalMatrix && b.shape == result.shape) else { return }
        if (diagonalFirst ? b : a).allFinite() { result.markDiagonal() }
    }

    /// A broadcasting binary op that computes in the promoted float dtype (float32 for integers).
    /// Kernel: `Op` (FloatBinaryVisitor); JVP and VJP: the partials (binaryJVP, binaryVJP);
    /// batching: Batching.broadcasting.
    private static func floatBinary<Op: FloatBinaryOp>(_ primitive: Primitive, _ name: String, _: Op.Type,
                                                       lhs: @escaping Partial, rhs: @escaping Partial) -> PrimitiveRules {
        PrimitiveRules(
            primitive, name: name,
            type: { args, _ in
                let (a, b) = try binaryArguments(args, name)
                return TensorType(shape: try broadcastShape(a.shape, b.shape, name),
                                  dtype: DType.promote(a, b).floatingPointPromoted, isWeak: a.isWeak && b.isWeak)
            },
            eval: { args, _, type in
                let (a, b) = try binaryTensors(args, name)
                let result = try Tensor(uninitialized: type, op: name)
                try type.dtype.dispatchFloat(FloatBinaryVisitor<Op>(a: a, b: b, result: result, op: name))
                return result
            },
            jvp: binaryJVP(lhs, rhs), vjp: binaryVJP(lhs, rhs), batch: Batching.broadcasting(primitive),
            block: { _, result in try? result.dispatchFloat(FloatBinaryBlockVisitor<Op>()) })
    }

    /// A broadcasting comparison: computed in the promoted dtype, bool result. Kernel: `Op`
    /// (ComparisonVisitor); JVP and VJP: none flow (Differentiation.noTangent, noCotangents: the
    /// interpreters never ask for bool results' derivatives); batching: Batching.broadcasting.
    private static func comparison<Op: ComparisonOp>(_ primitive: Primitive, _ name: String, _: Op.Type) -> PrimitiveRules {
        PrimitiveRules(
            primitive, name: name,
            type: { args, _ in
                let (a, b) = try binaryArguments(args, name)
                return TensorType(shape: try broadcastShape(a.shape, b.shape, name), dtype: .bool)
            },
            eval: { args, _, type in
                let (a, b) = try binaryTensors(args, name)
                let result = try Tensor(uninitialized: type, op: name)
                try DType.promote(a.type, b.type).dispatch(ComparisonVisitor<Op>(a: a, b: b, result: result, op: name))
                return result
            },
            jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: Batching.broadcasting(primitive),
            block: { args, _ in
                guard args.count == 2 else { return nil }
                return try? DType.promote(args[0], args[1]).dispatch(ComparisonBlockVisitor<Op>())
            })
    }

    // MARK: select (torch.where): cond ? a : b with all three broadcast; the result dtype is promote(a, b)

    private static func selectType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let name = "where"
        guard args.count == 3 else { throw SwiftFuncError.internal(name, "expects 3 arguments, got \(args.count)") }
        let (cond, a, b) = (args[0], args[1], args[2])
        guard cond.dtype == .bool else {
            throw SwiftFuncError.dtype(name, "cond must be a bool tensor, got \(cond.dtype)")
        }
        let shape: [Int]
        if cond.shape == a.shape && a.shape == b.shape {
            shape = a.shape
        } else {
            do {
                shape = try ShapeChecks.broadcast(ShapeChecks.broadcast(cond.shape, a.shape, op: name), b.shape, op: name)
            } catch {
                throw SwiftFuncError.shape(name, "shapes \(formatShape(cond.shape)) (cond), \(formatShape(a.shape)) (a) "
                                                + "and \(formatShape(b.shape)) (b) cannot be broadcast together")
            }
        }
        return TensorType(shape: shape, dtype: DType.promote(a, b), isWeak: a.isWeak && b.isWeak)
    }

    private static func selectEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let name = "where"
        guard args.count == 3 else { throw SwiftFuncError.internal(name, "expects 3 arguments, got \(args.count)") }
        let a = args[1].dtype == type.dtype ? args[1] : try Elementwise.convert(args[1], to: type.dtype, op: name)
        let b = args[2].dtype == type.dtype ? args[2] : try Elementwise.convert(args[2], to: type.dtype, op: name)
        let result = try Tensor(uninitialized: type, op: name)
        try type.dtype.dispatch(SelectVisitor(cond: args[0], a: a, b: b, result: result))
        return result
    }

    /// The condition is bool: it has no tangent. A missing side is a zero of the other's dtype.
    private static func selectJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        let (ta, tb) = (tangents[1], tangents[2])
        guard ta != nil || tb != nil else { return nil }
        let zero = try Ops.scalar(0)
        return try fit(Ops.where(primals[0], ta ?? zero, tb ?? zero), to: output)
    }

    private static func selectVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        let (cond, a, b) = (primals[0], primals[1], primals[2])
        let zero = try Ops.scalar(0)
        return [nil,
                a.dtype.isFloatingPoint ? try reduce(Ops.where(cond, cotangent, zero), to: a) : nil,
                b.dtype.isFloatingPoint ? try reduce(Ops.where(cond, zero, cotangent), to: b) : nil]
    }

    // MARK: Transform rules

    /// dy/dx ⊙ v for a unary op, from v (a tangent or a cotangent), x and y = f(x). Written with
    /// `Ops` calls, so the rules built from it are themselves differentiable and batchable.
    typealias UnaryDerivative = @Sendable (_ v: Value, _ x: Value, _ y: Value) throws -> Value

    /// dy/da ⊙ v (or dy/db ⊙ v) for a broadcasting binary op, from v, a, b and y = f(a, b); the
    /// result may have any shape that broadcasts to y's.
    typealias Partial = @Sendable (_ v: Value, _ a: Value, _ b: Value, _ y: Value) throws -> Value

    private static func unaryJVP(_ derivative: UnaryDerivative?) -> JVPRule {
        { primals, tangents, output, _ in
            guard let derivative, let tangent = tangents[0] else { return nil }
            return try Differentiation.cast(derivative(tangent, primals[0], output), to: output.dtype)
        }
    }

    private static func unaryVJP(_ derivative: UnaryDerivative?) -> VJPRule {
        { cotangent, primals, output, _, _ in
            let x = primals[0]
            guard let derivative, x.dtype.isFloatingPoint else { return [nil] }
            return [try Differentiation.cast(derivative(cotangent, x, output), to: x.dtype)]
        }
    }

    private static func binaryJVP(_ lhs: @escaping Partial, _ rhs: @escaping Partial) -> JVPRule {
        { primals, tangents, output, _ in
            let (a, b) = (primals[0], primals[1])
            let fromA = try tangents[0].map { try lhs($0, a, b, output) }
            let fromB = try tangents[1].map { try rhs($0, a, b, output) }
            switch (fromA, fromB) {
            case let (x?, y?): return try fit(Ops.add(x, y), to: output)
            case let (x?, nil): return try fit(x, to: output)
            case let (nil, y?): return try fit(y, to: output)
            case (nil, nil): return nil
            }
        }
    }

    private static func binaryVJP(_ lhs: @escaping Partial, _ rhs: @escaping Partial) -> VJPRule {
        { cotangent, primals, output, _, needed in
            let (a, b) = (primals[0], primals[1])
            // Only float operands get cotangents (an integer exponent or mask is a constant), and
            // only the ones that are needed.
            return [needed[0] && a.dtype.isFloatingPoint ? try reduce(lhs(cotangent, a, b, output), to: a) : nil,
                    needed[1] && b.dtype.isFloatingPoint ? try reduce(rhs(cotangent, a, b, output), to: b) : nil]
        }
    }

    /// A tangent brought to the output's dtype and (when an operand was broadcast) shape.
    private static func fit(_ tangent: Value, to output: Value) throws -> Value {
        let converted = try Differentiation.cast(tangent, to: output.dtype)
        return converted.shape == output.shape ? converted : try Ops.expand(converted, shape: output.shape)
    }

    /// A cotangent summed over the dims `primal` was broadcast along, in `primal`'s dtype.
    private static func reduce(_ cotangent: Value, to primal: Value) throws -> Value {
        try Differentiation.cast(Differentiation.unbroadcast(cotangent, to: primal.shape), to: primal.dtype)
    }

    /// d/da a^b = b a^(b-1), and 0 where b == 0 (torch's pow_backward_self: 0 * 0^-1 would be NaN).
    private static func powBaseDerivative(_ a: Value, _ b: Value, _ y: Value) throws -> Value {
        let derivative = try Ops.mul(b, Ops.pow(a, Ops.sub(b, Ops.scalar(1))))
        return try Ops.where(Ops.eq(b, Ops.scalar(0)), Ops.scalar(0), derivative)
    }

    /// d/db a^b = a^b log(a), and 0 where a == 0 and b >= 0 (torch's pow_backward_exponent: the
    /// limit from a > 0, where log(0) * 0 would be NaN). The log is taken in the result's float
    /// dtype, so an integer base does not lose precision against a float64 exponent.
    private static func powExponentDerivative(_ a: Value, _ b: Value, _ y: Value) throws -> Value {
        let derivative = try Ops.mul(y, Ops.log(Differentiation.cast(a, to: y.dtype)))
        let baseIsZero = try Ops.mul(Ops.eq(a, Ops.scalar(0)), Ops.ge(b, Ops.scalar(0)))  // bool * bool: and
        return try Ops.where(baseIsZero, Ops.scalar(0), derivative)
    }

    /// The share of maximum/minimum's gradient an operand gets: 1 where it wins, 1/2 at ties, in
    /// the result's dtype (torch splits ties evenly).
    private static func winnerShare(_ wins: Value, _ ties: Value, _ y: Value) throws -> Value {
        try Ops.add(Differentiation.cast(wins, to: y.dtype), Ops.mul(Differentiation.cast(ties, to: y.dtype), Ops.scalar(0.5)))
    }

    // MARK: Argument helpers

    private static func unaryArgument<T>(_ args: [T], _ name: String) throws -> T {
        guard args.count == 1 else { throw SwiftFuncError.internal(name, "expects 1 argument, got \(args.count)") }
        return args[0]
    }

    private static func binaryArguments(_ args: [TensorType], _ name: String) throws -> (TensorType, TensorType) {
        guard args.count == 2 else { throw SwiftFuncError.internal(name, "expects 2 arguments, got \(args.count)") }
        return (args[0], args[1])
    }

    private static func binaryTensors(_ args: [Tensor], _ name: String) throws -> (Tensor, Tensor) {
        guard args.count == 2 else { throw SwiftFuncError.internal(name, "expects 2 arguments, got \(args.count)") }
        return (args[0], args[1])
    }

    /// The broadcast of two shapes; equal shapes (the common case) skip the general walk.
    @inline(__always)
    private static func broadcastShape(_ a: [Int], _ b: [Int], _ name: String) throws -> [Int] {
        a == b ? a : try ShapeChecks.broadcast(a, b, op: name)
    }

    /// Integer pow with a negative exponent has no integer result: refuse it as torch does.
    private static func checkNonNegativeExponent(_ exponent: Tensor, _ name: String) throws {
        struct AnyNegative: DTypeVisitor {
            let tensor: Tensor
            func visit<T: Element>(_: T.Type) -> Bool {
                let p = tensor.elements(as: T.self)
                let loop = StridedLoop(shape: tensor.shape, strides: [tensor.strides])
                let n = loop.rowLength, step = loop.innerStride(0)
                var found = false
                loop.forEachRow { offsets in
                    let row = p + offsets[0]
                    for i in 0..<n where row[i &* step].doubleValue < 0 { found = true }
                }
                return found
            }
        }
        if try exponent.dtype.dispatch(AnyNegative(tensor: exponent)) {
            throw SwiftFuncError.invalidArgument(name, "integers to negative integer powers are not allowed")
        }
    }
}

// MARK: - Conversion

extension Elementwise {
    /// `tensor`'s values converted to `dtype` in a new contiguous tensor (operands of mixed dtypes are
    /// brought to the computation dtype this way).
    static func convert(_ tensor: Tensor, to dtype: DType, op: String) throws -> Tensor {
        let result = try Tensor(uninitialized: TensorType(shape: tensor.shape, dtype: dtype, isWeak: tensor.type.isWeak), op: op)
        try tensor.copyElements(into: result)
        return result
    }
}

/// The single value of an operand that holds one value (see `isUniform`) as `T`.
@inline(__always)
private func uniformValue<T: Element>(_ tensor: Tensor, as _: T.Type) throws -> T {
    if tensor.dtype == T.dtype { return tensor.elements(as: T.self).pointee }
    return try tensor.dtype.dispatch(ReadFirstValue<T>(tensor: tensor))
}

/// The element at a tensor's base address, converted to `T`.
struct ReadFirstValue<T: Element>: DTypeVisitor {
    let tensor: Tensor
    func visit<S: Element>(_: S.Type) -> T { T(convertingElement: tensor.elements(as: S.self).pointee) }
}

extension Tensor {
    /// Whether every element is the same memory location (a 1-element tensor or an expanded one),
    /// so a kernel can read it once.
    @inline(__always)
    var isUniform: Bool {
        let n = count
        if n == 1 { return true }
        if n == 0 { return false }
        for d in 0..<shape.count where shape[d] != 1 && strides[d] != 0 { return false }
        return true
    }
}

// MARK: - Float element functions

/// float32 and float64, with the functions of the unary float ops: float32's transcendental
/// functions are FloatMath's (inlined, so the loops vectorize), float64's libm's.
fileprivate protocol FloatElement: FloatingPointElement {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    static func expm1(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func tan(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func sigmoid(_ x: Self) -> Self
    /// dst[i] = sin(src[i]) (and cos) for i < n, element by element equal to `sin` (`cos`).
    static func sinRow(_ src: UnsafePointer<Self>, _ dst: UnsafeMutablePointer<Self>, _ n: Int)
    static func cosRow(_ src: UnsafePointer<Self>, _ dst: UnsafeMutablePointer<Self>, _ n: Int)
    static func sqrt(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func atan2(_ y: Self, _ x: Self) -> Self
}

extension Float: FloatElement {
    @inline(__always) fileprivate static func exp(_ x: Float) -> Float { FloatMath.exp(x) }
    @inline(__always) fileprivate static func log(_ x: Float) -> Float { FloatMath.log(x) }
    @inline(__always) fileprivate static func log1p(_ x: Float) -> Float { FloatMath.log1p(x) }
    @inline(__always) fileprivate static func expm1(_ x: Float) -> Float { FloatMath.expm1(x) }
    @inline(__always) fileprivate static func sin(_ x: Float) -> Float { FloatMath.sin(x) }
    @inline(__always) fileprivate static func cos(_ x: Float) -> Float { FloatMath.cos(x) }
    @inline(__always) fileprivate static func tan(_ x: Float) -> Float { Glibc.tanf(x) }
    @inline(__always) fileprivate static func tanh(_ x: Float) -> Float { FloatMath.tanh(x) }
    @inline(__always) fileprivate static func sigmoid(_ x: Float) -> Float { FloatMath.sigmoid(x) }
    @inline(__always) fileprivate static func sinRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        FloatMath.sinRow(src, dst, n)
    }
    @inline(__always) fileprivate static func cosRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        FloatMath.cosRow(src, dst, n)
    }
    @inline(__always) fileprivate static func sqrt(_ x: Float) -> Float { x.squareRoot() }
    @inline(__always) fileprivate static func erf(_ x: Float) -> Float { Glibc.erff(x) }
    @inline(__always) fileprivate static func atan2(_ y: Float, _ x: Float) -> Float { Glibc.atan2f(y, x) }
}

extension Double: FloatElement {
    @inline(__always) fileprivate static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inline(__always) fileprivate static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inline(__always) fileprivate static func log1p(_ x: Double) -> Double { Glibc.log1p(x) }
    @inline(__always) fileprivate static func expm1(_ x: Double) -> Double { Glibc.expm1(x) }
    @inline(__always) fileprivate static func sin(_ x: Double) -> Double { Glibc.sin(x) }
    @inline(__always) fileprivate static func cos(_ x: Double) -> Double { Glibc.cos(x) }
    @inline(__always) fileprivate static func tan(_ x: Double) -> Double { Glibc.tan(x) }
    @inline(__always) fileprivate static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }
    /// exp of a non-positive argument only, so nothing overflows: for x < 0, e^x / (1 + e^x).
    @inline(__always) fileprivate static func sigmoid(_ x: Double) -> Double {
        if x < 0 {
            let e = Glibc.exp(x)
            return e / (1 + e)
        }
        return 1 / (1 + Glibc.exp(-x))
    }
    @inline(__always) fileprivate static func sinRow(_ src: UnsafePointer<Double>, _ dst: UnsafeMutablePointer<Double>, _ n: Int) {
        for i in 0..<n { dst[i] = Glibc.sin(src[i]) }
    }
    @inline(__always) fileprivate static func cosRow(_ src: UnsafePointer<Double>, _ dst: UnsafeMutablePointer<Double>, _ n: Int) {
        for i in 0..<n { dst[i] = Glibc.cos(src[i]) }
    }
    @inline(__always) fileprivate static func sqrt(_ x: Double) -> Double { x.squareRoot() }
    @inline(__always) fileprivate static func erf(_ x: Double) -> Double { Glibc.erf(x) }
    @inline(__always) fileprivate static func atan2(_ y: Double, _ x: Double) -> Double { Glibc.atan2(y, x) }
}

/// A kernel over the float element types.
fileprivate protocol FloatVisitor {
    associatedtype Result
    func visit<T: FloatElement>(_ type: T.Type) throws -> Result
}

extension DType {
    /// Dispatch over float32/float64; the type rules guarantee a float dtype here.
    @inline(__always)
    fileprivate func dispatchFloat<V: FloatVisitor>(_ visitor: V) throws -> V.Result {
        switch self {
        case .float32: return try visitor.visit(Float.self)
        case .float64: return try visitor.visit(Double.self)
        default: throw SwiftFuncError.internal("elementwise", "float kernel called with \(self)")
        }
    }
}

// MARK: - Op types (one per primitive; generic static functions so loops specialize per dtype)

// Each op type also names its grain (Parallel.memoryGrain or mathGrain): the smallest chunk of
// elements worth a thread, by what the op costs per element. The defaults below are the common
// case of each group; sqrt and rsqrt (instructions) and the libm binary ops (pow, atan2) override
// theirs.
fileprivate protocol FloatUnaryOp {
    static func apply<T: FloatElement>(_ x: T) -> T
    /// `apply` over a contiguous row (dst does not overlap src); ops whose per-element function
    /// branches (sin, cos) give a row function that vectorizes.
    static func applyRow<T: FloatElement>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ n: Int)
    static var grain: Int { get }
}
fileprivate protocol NumericUnaryOp { static func apply<T: Element>(_ x: T) -> T; static var grain: Int { get } }
fileprivate protocol ArithmeticOp { static func apply<T: Element>(_ a: T, _ b: T) -> T; static var grain: Int { get } }
fileprivate protocol FloatBinaryOp { static func apply<T: FloatElement>(_ a: T, _ b: T) -> T; static var grain: Int { get } }
fileprivate protocol ComparisonOp { static func apply<T: Element>(_ a: T, _ b: T) -> Bool }

extension FloatUnaryOp {
    static var grain: Int { Parallel.mathGrain }
    @inline(__always)
    static func applyRow<T: FloatElement>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ n: Int) {
        for i in 0..<n { dst[i] = apply(src[i]) }
    }
}
extension NumericUnaryOp { static var grain: Int { Parallel.memoryGrain } }
extension ArithmeticOp { static var grain: Int { Parallel.memoryGrain } }
extension FloatBinaryOp { static var grain: Int { Parallel.memoryGrain } }

fileprivate enum ExpOp: FloatUnaryOp { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.exp(x) } }
fileprivate enum LogOp: FloatUnaryOp { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.log(x) } }
fileprivate enum Log1pOp: FloatUnaryOp { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.log1p(x) } }
fileprivate enum Expm1Op: FloatUnaryOp { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.expm1(x) } }
fileprivate enum SinOp: FloatUnaryOp {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.sin(x) }
    @inline(__always)
    static func applyRow<T: FloatElement>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ n: Int) { T.sinRow(src, dst, n) }
}
fileprivate enum CosOp: FloatUnaryOp {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.cos(x) }
    @inline(__always)
    static func applyRow<T: FloatElement>(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ n: Int) { T.cosRow(src, dst, n) }
}
fileprivate enum TanOp: FloatUnaryOp { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.tan(x) } }
fileprivate enum TanhOp: FloatUnaryOp { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.tanh(x) } }
fileprivate enum SqrtOp: FloatUnaryOp {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.sqrt(x) }
    static var grain: Int { Parallel.memoryGrain }  // an instruction, not a libm call
}
fileprivate enum RsqrtOp: FloatUnaryOp {
    @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { 1 / T.sqrt(x) }
    static var grain: Int { Parallel.memoryGrain }
}
fileprivate enum ErfOp: FloatUnaryOp { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.erf(x) } }
fileprivate enum SigmoidOp: FloatUnaryOp { @inline(__always) static func apply<T: FloatElement>(_ x: T) -> T { T.sigmoid(x) } }

fileprivate enum NegOp: NumericUnaryOp { @inline(__always) static func apply<T: Element>(_ x: T) -> T { T.negative(x) } }
fileprivate enum AbsOp: NumericUnaryOp { @inline(__always) static func apply<T: Element>(_ x: T) -> T { T.absolute(x) } }
fileprivate enum SignOp: NumericUnaryOp { @inline(__always) static func apply<T: Element>(_ x: T) -> T { T.signOf(x) } }
fileprivate enum ReluOp: NumericUnaryOp { @inline(__always) static func apply<T: Element>(_ x: T) -> T { T.relu(x) } }
fileprivate enum FloorOp: NumericUnaryOp { @inline(__always) static func apply<T: Element>(_ x: T) -> T { T.floor(x) } }
fileprivate enum CeilOp: NumericUnaryOp { @inline(__always) static func apply<T: Element>(_ x: T) -> T { T.ceil(x) } }
fileprivate enum RoundOp: NumericUnaryOp { @inline(__always) static func apply<T: Element>(_ x: T) -> T { T.roundHalfEven(x) } }

fileprivate enum AddOp: ArithmeticOp { @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> T { T.add(a, b) } }
fileprivate enum SubOp: ArithmeticOp { @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> T { T.subtract(a, b) } }
fileprivate enum MulOp: ArithmeticOp { @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> T { T.multiply(a, b) } }
fileprivate enum PowOp: ArithmeticOp {
    @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> T { T.power(a, b) }
    static var grain: Int { Parallel.mathGrain }
}
fileprivate enum MaximumOp: ArithmeticOp {
    @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> T { T.propagatingMaximum(a, b) }
}
fileprivate enum MinimumOp: ArithmeticOp {
    @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> T { T.propagatingMinimum(a, b) }
}

fileprivate enum DivOp: FloatBinaryOp { @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { a / b } }
fileprivate enum Atan2Op: FloatBinaryOp {
    @inline(__always) static func apply<T: FloatElement>(_ a: T, _ b: T) -> T { T.atan2(a, b) }
    static var grain: Int { Parallel.mathGrain }
}

// Comparisons use IEEE semantics: every comparison with NaN is false except ne.
fileprivate enum LessOp: ComparisonOp { @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> Bool { a < b } }
fileprivate enum LessEqualOp: ComparisonOp { @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> Bool { a <= b } }
fileprivate enum GreaterOp: ComparisonOp { @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> Bool { a > b } }
fileprivate enum GreaterEqualOp: ComparisonOp { @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> Bool { a >= b } }
fileprivate enum EqualOp: ComparisonOp { @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> Bool { a == b } }
fileprivate enum NotEqualOp: ComparisonOp { @inline(__always) static func apply<T: Element>(_ a: T, _ b: T) -> Bool { a != b } }

// MARK: - Kernels: an op bound to element types

/// A per-element function from one input type to an output type, and its grain.
fileprivate protocol UnaryKernel {
    associatedtype Input: Element
    associatedtype Output: Element
    static func apply(_ x: Input) -> Output
    /// `apply` over a contiguous row (dst does not overlap src).
    static func applyRow(_ src: UnsafePointer<Input>, _ dst: UnsafeMutablePointer<Output>, _ n: Int)
    static var grain: Int { get }
}

extension UnaryKernel {
    @inline(__always)
    static func applyRow(_ src: UnsafePointer<Input>, _ dst: UnsafeMutablePointer<Output>, _ n: Int) {
        for i in 0..<n { dst[i] = apply(src[i]) }
    }
}

/// A per-element function of two inputs of one type, and its grain.
fileprivate protocol BinaryKernel {
    associatedtype Input: Element
    associatedtype Output: Element
    static func apply(_ a: Input, _ b: Input) -> Output
    static var grain: Int { get }
}

private struct FloatUnaryKernel<Op: FloatUnaryOp, T: FloatElement>: UnaryKernel {
    @inline(__always) static func apply(_ x: T) -> T { Op.apply(x) }
    @inline(__always)
    static func applyRow(_ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, _ n: Int) { Op.applyRow(src, dst, n) }
    static var grain: Int { Op.grain }
}

private struct NumericUnaryKernel<Op: NumericUnaryOp, T: Element>: UnaryKernel {
    @inline(__always) static func apply(_ x: T) -> T { Op.apply(x) }
    static var grain: Int { Op.grain }
}

private struct ArithmeticKernel<Op: ArithmeticOp, T: Element>: BinaryKernel {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { Op.apply(a, b) }
    static var grain: Int { Op.grain }
}

private struct FloatBinaryKernel<Op: FloatBinaryOp, T: FloatElement>: BinaryKernel {
    @inline(__always) static func apply(_ a: T, _ b: T) -> T { Op.apply(a, b) }
    static var grain: Int { Op.grain }
}

private struct ComparisonKernel<Op: ComparisonOp, T: Element>: BinaryKernel {
    @inline(__always) static func apply(_ a: T, _ b: T) -> UInt8 { Op.apply(a.normalized, b.normalized) ? 1 : 0 }
    static var grain: Int { Parallel.memoryGrain }
}

// MARK: - Visitors: from the runtime dtype to a specialized kernel

private struct FloatUnaryVisitor<Op: FloatUnaryOp>: FloatVisitor {
    let input: Tensor, result: Tensor
    func visit<T: FloatElement>(_: T.Type) { mapUnary(FloatUnaryKernel<Op, T>.self, input, into: result) }
}

private struct NumericUnaryVisitor<Op: NumericUnaryOp>: DTypeVisitor {
    let input: Tensor, result: Tensor
    func visit<T: Element>(_: T.Type) { mapUnary(NumericUnaryKernel<Op, T>.self, input, into: result) }
}

private struct ArithmeticVisitor<Op: ArithmeticOp>: DTypeVisitor {
    let a: Tensor, b: Tensor, result: Tensor, op: String
    func visit<T: Element>(_: T.Type) throws { try mapBinary(ArithmeticKernel<Op, T>.self, a, b, into: result, op: op) }
}

private struct FloatBinaryVisitor<Op: FloatBinaryOp>: FloatVisitor {
    let a: Tensor, b: Tensor, result: Tensor, op: String
    func visit<T: FloatElement>(_: T.Type) throws { try mapBinary(FloatBinaryKernel<Op, T>.self, a, b, into: result, op: op) }
}

private struct ComparisonVisitor<Op: ComparisonOp>: DTypeVisitor {
    let a: Tensor, b: Tensor, result: Tensor, op: String
    func visit<T: Element>(_: T.Type) throws { try mapBinary(ComparisonKernel<Op, T>.self, a, b, into: result, op: op) }
}

// MARK: - Block kernels: the same per-element functions over contiguous blocks, for fused replay

private func unaryBlock<K: UnaryKernel>(_: K.Type) -> BlockKernel {
    BlockKernel(operandTypes: [K.Input.dtype]) { operands, result, n in
        let src = operands[0].assumingMemoryBound(to: K.Input.self), dst = result.assumingMemoryBound(to: K.Output.self)
        K.applyRow(src, dst, n)
    }
}

private func binaryBlock<K: BinaryKernel>(_: K.Type) -> BlockKernel {
    BlockKernel(operandTypes: [K.Input.dtype, K.Input.dtype]) { operands, result, n in
        let a = operands[0].assumingMemoryBound(to: K.Input.self), b = operands[1].assumingMemoryBound(to: K.Input.self)
        let dst = result.assumingMemoryBound(to: K.Output.self)
        for i in 0..<n { dst[i] = K.apply(a[i], b[i]) }
    }
}

private struct FloatUnaryBlockVisitor<Op: FloatUnaryOp>: FloatVisitor {
    func visit<T: FloatElement>(_: T.Type) -> BlockKernel { unaryBlock(FloatUnaryKernel<Op, T>.self) }
}

private struct NumericUnaryBlockVisitor<Op: NumericUnaryOp>: DTypeVisitor {
    func visit<T: Element>(_: T.Type) -> BlockKernel { unaryBlock(NumericUnaryKernel<Op, T>.self) }
}

private struct ArithmeticBlockVisitor<Op: ArithmeticOp>: DTypeVisitor {
    func visit<T: Element>(_: T.Type) -> BlockKernel { binaryBlock(ArithmeticKernel<Op, T>.self) }
}

private struct FloatBinaryBlockVisitor<Op: FloatBinaryOp>: FloatVisitor {
    func visit<T: FloatElement>(_: T.Type) -> BlockKernel { binaryBlock(FloatBinaryKernel<Op, T>.self) }
}

private struct ComparisonBlockVisitor<Op: ComparisonOp>: DTypeVisitor {
    func visit<T: Element>(_: T.Type) -> BlockKernel { binaryBlock(ComparisonKernel<Op, T>.self) }
}

private struct SelectBlockVisitor: DTypeVisitor {
    func visit<T: Element>(_: T.Type) -> BlockKernel {
        BlockKernel(operandTypes: [.bool, T.dtype, T.dtype]) { operands, result, n in
            let c = operands[0].assumingMemoryBound(to: UInt8.self)
            let a = operands[1].assumingMemoryBound(to: T.self), b = operands[2].assumingMemoryBound(to: T.self)
            let dst = result.assumingMemoryBound(to: T.self)
            SelectVisitor.select(c, 1, a, 1, b, 1, into: dst, count: n)
        }
    }
}

// MARK: - Loops

/// Applies `K` to every element of `input` (dtype K.Input) into the contiguous `result`.
private func mapUnary<K: UnaryKernel>(_: K.Type, _ input: Tensor, into result: Tensor) {
    let total = result.count
    guard total > 0 else { return }
    let src = input.elements(as: K.Input.self), dst = result.elements(as: K.Output.self)
    if input.isContiguous {
        Parallel.run(total, grain: K.grain) { range in
            K.applyRow(src + range.lowerBound, dst + range.lowerBound, range.count)
        }
        return
    }
    let loop = StridedLoop(shape: input.shape, strides: [input.strides])
    let step = loop.innerStride(0)
    loop.forEachRunInParallel(grain: K.grain) { offsets, n, position in
        let row = src + offsets[0], target = dst + position
        if step == 1 {
            K.applyRow(row, target, n)
        } else {
            for i in 0..<n { target[i] = K.apply(row[i &* step]) }
        }
    }
}

/// Applies `K` to the broadcast of `a` and `b` into the contiguous `result`. Operands of another
/// dtype than K.Input are converted first (a one-value operand is read and converted in place).
/// Fast paths: both contiguous and full-size (one flat loop), or one side a single value with the
/// other contiguous (a flat loop with a constant); the rest walks rows with StridedLoop.
private func mapBinary<K: BinaryKernel>(_: K.Type, _ a: Tensor, _ b: Tensor, into result: Tensor, op: String) throws {
    let total = result.count
    guard total > 0 else { return }
    let dst = result.elements(as: K.Output.self)
    let inputType = K.Input.dtype
    if a.dtype == inputType && a.isContiguous && a.count == total {
        let pa = a.elements(as: K.Input.self)
        if b.dtype == inputType && b.isContiguous && b.count == total {
            let pb = b.elements(as: K.Input.self)
            Parallel.run(total, grain: K.grain) { range in
                for i in range { dst[i] = K.apply(pa[i], pb[i]) }
            }
            return
        }
        if b.isUniform {
            let s = try uniformValue(b, as: K.Input.self)
            Parallel.run(total, grain: K.grain) { range in
                for i in range { dst[i] = K.apply(pa[i], s) }
            }
            return
        }
    } else if a.isUniform && b.dtype == inputType && b.isContiguous && b.count == total {
        let s = try uniformValue(a, as: K.Input.self), pb = b.elements(as: K.Input.self)
        Parallel.run(total, grain: K.grain) { range in
            for i in range { dst[i] = K.apply(s, pb[i]) }
        }
        return
    }

    let a = a.dtype == inputType ? a : try Elementwise.convert(a, to: inputType, op: op)
    let b = b.dtype == inputType ? b : try Elementwise.convert(b, to: inputType, op: op)
    let shape = result.shape
    let loop = StridedLoop(shape: shape, strides: [
        ShapeChecks.broadcastStrides(shape: a.shape, strides: a.strides, to: shape),
        ShapeChecks.broadcastStrides(shape: b.shape, strides: b.strides, to: shape),
    ])
    let pa = a.elements(as: K.Input.self), pb = b.elements(as: K.Input.self)
    let sa = loop.innerStride(0), sb = loop.innerStride(1)
    loop.forEachRunInParallel(grain: K.grain) { offsets, n, position in
        let ra = pa + offsets[0], rb = pb + offsets[1], target = dst + position
        if sa == 1 && sb == 1 {
            for i in 0..<n { target[i] = K.apply(ra[i], rb[i]) }
        } else if sa == 1 && sb == 0 {
            let s = rb.pointee
            for i in 0..<n { target[i] = K.apply(ra[i], s) }
        } else if sa == 0 && sb == 1 {
            let s = ra.pointee
            for i in 0..<n { target[i] = K.apply(s, rb[i]) }
        } else {
            for i in 0..<n { target[i] = K.apply(ra[i &* sa], rb[i &* sb]) }
        }
    }
}

/// cond ? a : b over the broadcast shape; a and b already have the result dtype.
private struct SelectVisitor: DTypeVisitor {
    let cond: Tensor, a: Tensor, b: Tensor, result: Tensor
    func visit<T: Element>(_: T.Type) {
        let total = result.count
        guard total > 0 else { return }
        let pc = cond.elements(as: UInt8.self), pa = a.elements(as: T.self), pb = b.elements(as: T.self)
        let dst = result.elements(as: T.self)
        if cond.isContiguous && a.isContiguous && b.isContiguous
            && cond.count == total && a.count == total && b.count == total {
            Parallel.run(total, grain: Parallel.memoryGrain) { range in
                Self.select(pc + range.lowerBound, 1, pa + range.lowerBound, 1, pb + range.lowerBound, 1,
                            into: dst + range.lowerBound, count: range.count)
            }
            return
        }
        let shape = result.shape
        let loop = StridedLoop(shape: shape, strides: [
            ShapeChecks.broadcastStrides(shape: cond.shape, strides: cond.strides, to: shape),
            ShapeChecks.broadcastStrides(shape: a.shape, strides: a.strides, to: shape),
            ShapeChecks.broadcastStrides(shape: b.shape, strides: b.strides, to: shape),
        ])
        let sc = loop.innerStride(0), sa = loop.innerStride(1), sb = loop.innerStride(2)
        loop.forEachRunInParallel(grain: Parallel.memoryGrain) { offsets, n, position in
            Self.select(pc + offsets[0], sc, pa + offsets[1], sa, pb + offsets[2], sb, into: dst + position, count: n)
        }
    }

    /// target[i] = c[i*sc] != 0 ? a[i*sa] : b[i*sb] for i in 0..<count. Both sides are loaded before
    /// the choice, so the choice is a blend, not a branch: a branch on a data-dependent mask (relu's
    /// gradient) mispredicts about half the time, 10x slower. The unit and zero (broadcast) strides
    /// of a, b and c get loops of their own, which the compiler vectorizes.
    @inline(__always)
    static func select<T>(_ c: UnsafeMutablePointer<UInt8>, _ sc: Int, _ a: UnsafeMutablePointer<T>, _ sa: Int,
                          _ b: UnsafeMutablePointer<T>, _ sb: Int, into target: UnsafeMutablePointer<T>, count: Int) {
        @inline(__always)
        func run(_ sc: Int, _ sa: Int, _ sb: Int) {
            for i in 0..<count {
                let x = a[i &* sa], y = b[i &* sb]
                target[i] = c[i &* sc] != 0 ? x : y
            }
        }
        switch (sc, sa, sb) {
        case (1, 1, 1): run(1, 1, 1)
        case (1, 1, 0): run(1, 1, 0)
        case (1, 0, 1): run(1, 0, 1)
        case (1, 0, 0): run(1, 0, 0)
        case (0, 1, 1): run(0, 1, 1)
        default: run(sc, sa, sb)
        }
    }
}

// MARK: - Public ops

extension Ops {
    /// -x (torch.neg). Integer dtypes are kept; bool is refused.
    public static func neg(_ x: Value) throws -> Value { try emit(.neg, [x]) }
    /// e^x (torch.exp).
    public static func exp(_ x: Value) throws -> Value { try emit(.exp, [x]) }
    /// Natural logarithm (torch.log).
    public static func log(_ x: Value) throws -> Value { try emit(.log, [x]) }
    /// log(1 + x), accurate near 0 (torch.log1p).
    public static func log1p(_ x: Value) throws -> Value { try emit(.log1p, [x]) }
    /// e^x - 1, accurate near 0 (torch.expm1).
    public static func expm1(_ x: Value) throws -> Value { try emit(.expm1, [x]) }
    /// Sine (torch.sin).
    public static func sin(_ x: Value) throws -> Value { try emit(.sin, [x]) }
    /// Cosine (torch.cos).
    public static func cos(_ x: Value) throws -> Value { try emit(.cos, [x]) }
    /// Tangent (torch.tan).
    public static func tan(_ x: Value) throws -> Value { try emit(.tan, [x]) }
    /// Hyperbolic tangent (torch.tanh).
    public static func tanh(_ x: Value) throws -> Value { try emit(.tanh, [x]) }
    /// 1 / (1 + e^-x), stable for large |x| (torch.sigmoid).
    public static func sigmoid(_ x: Value) throws -> Value { try emit(.sigmoid, [x]) }
    /// Square root (torch.sqrt).
    public static func sqrt(_ x: Value) throws -> Value { try emit(.sqrt, [x]) }
    /// 1 / sqrt(x) (torch.rsqrt).
    public static func rsqrt(_ x: Value) throws -> Value { try emit(.rsqrt, [x]) }
    /// |x| (torch.abs). Integer dtypes are kept; bool is refused.
    public static func abs(_ x: Value) throws -> Value { try emit(.abs, [x]) }
    /// -1, 0 or 1 by the sign of x, 0 for NaN (torch.sign); bool stays bool.
    public static func sign(_ x: Value) throws -> Value { try emit(.sign, [x]) }
    /// max(x, 0), NaN kept (torch.relu). Integer dtypes are kept; bool is refused.
    public static func relu(_ x: Value) throws -> Value { try emit(.relu, [x]) }
    /// Rounds down (torch.floor); integers are unchanged.
    public static func floor(_ x: Value) throws -> Value { try emit(.floor, [x]) }
    /// Rounds up (torch.ceil); integers are unchanged.
    public static func ceil(_ x: Value) throws -> Value { try emit(.ceil, [x]) }
    /// Rounds to the nearest integer, halves to even (torch.round); integers are unchanged.
    public static func round(_ x: Value) throws -> Value { try emit(.round, [x]) }
    /// The error function (torch.erf).
    public static func erf(_ x: Value) throws -> Value { try emit(.erf, [x]) }

    /// a + b, broadcasting and promoting (torch.add); bool + bool is logical or.
    public static func add(_ a: Value, _ b: Value) throws -> Value { try emit(.add, [a, b]) }
    /// a - b (torch.sub); two bools are refused.
    public static func sub(_ a: Value, _ b: Value) throws -> Value { try emit(.sub, [a, b]) }
    /// a * b (torch.mul); bool * bool is logical and.
    public static func mul(_ a: Value, _ b: Value) throws -> Value { try emit(.mul, [a, b]) }
    /// a / b, true division (torch.div): integer operands give float32.
    public static func div(_ a: Value, _ b: Value) throws -> Value { try emit(.div, [a, b]) }
    /// a to the power b (torch.pow); integer bases with negative integer exponents are refused.
    public static func pow(_ a: Value, _ b: Value) throws -> Value { try emit(.pow, [a, b]) }
    /// Elementwise maximum, propagating NaN (torch.maximum).
    public static func maximum(_ a: Value, _ b: Value) throws -> Value { try emit(.maximum, [a, b]) }
    /// Elementwise minimum, propagating NaN (torch.minimum).
    public static func minimum(_ a: Value, _ b: Value) throws -> Value { try emit(.minimum, [a, b]) }
    /// atan(a / b) in the quadrant of (b, a) (torch.atan2); integers give float32.
    public static func atan2(_ a: Value, _ b: Value) throws -> Value { try emit(.atan2, [a, b]) }

    /// a < b elementwise, as bool (torch.lt).
    public static func lt(_ a: Value, _ b: Value) throws -> Value { try emit(.lt, [a, b]) }
    /// a <= b elementwise, as bool (torch.le).
    public static func le(_ a: Value, _ b: Value) throws -> Value { try emit(.le, [a, b]) }
    /// a > b elementwise, as bool (torch.gt).
    public static func gt(_ a: Value, _ b: Value) throws -> Value { try emit(.gt, [a, b]) }
    /// a >= b elementwise, as bool (torch.ge).
    public static func ge(_ a: Value, _ b: Value) throws -> Value { try emit(.ge, [a, b]) }
    /// a == b elementwise, as bool (torch.eq).
    public static func eq(_ a: Value, _ b: Value) throws -> Value { try emit(.eq, [a, b]) }
    /// a != b elementwise, as bool (torch.ne); true where either is NaN.
    public static func ne(_ a: Value, _ b: Value) throws -> Value { try emit(.ne, [a, b]) }

    /// `cond ? a : b` elementwise with all three broadcast (torch.where); cond must be bool.
    public static func `where`(_ cond: Value, _ a: Value, _ b: Value) throws -> Value {
        try emit(.select, [cond, a, b])
    }
}
