/// Graph -> graph rewrites, each keeping the results unchanged. Random draws and custom-function
/// calls count as effects: they are never removed or merged (a replay must draw, and call the
/// host, exactly as the eager call would).
extension Graph {
    /// The passes jit runs on a traced graph, in order: merge repeats, simplify what the rules left
    /// (which exposes more repeats and dead code), then fuse elementwise runs.
    public func optimized() -> Graph {
        let cleaned = cleanedUp()
        var fused = cleaned.fusingElementwise()
        let groups = fused.equations.compactMap { equation -> Int? in
            if case let .fused(kernel) = equation.operation { return kernel.memberCount }
            return nil
        }
        fused.summary = "\(equations.count) traced equations: \(equations.count - cleaned.equations.count) removed "
            + "(simplified, merged, dead), \(groups.reduce(0, +)) fused into \(groups.count) loop\(groups.count == 1 ? "" : "s"), "
            + "\(fused.equations.count) to run"
        return fused
    }

    /// `optimized()` without fusion: what export serializes (fusion is recomputed on import).
    public func cleanedUp() -> Graph {
        eliminatingCommonSubexpressions().simplified().eliminatingCommonSubexpressions().eliminatingDeadCode()
    }

    /// Whether an equation must run even when its outputs are unused.
    private static func hasEffects(_ equation: Equation) -> Bool {
        switch equation.operation {
        case .custom: return true
        case .fused: return false
        case let .primitive(_, params):
            if case .random = params { return true }
            return false
        }
    }

    /// Drops equations none of whose outputs reaches the graph's outputs (unless they have effects).
    public func eliminatingDeadCode() -> Graph {
        var live = [Bool](repeating: false, count: variableCount)
        func mark(_ atom: Atom) { if case .variable(let variable) = atom { live[variable] = true } }
        outputs.forEach(mark)
        var kept: [Equation] = []
        for equation in equations.reversed() where Self.hasEffects(equation) || equation.outputs.contains(where: { live[$0] }) {
            equation.arguments.forEach(mark)
            kept.append(equation)
        }
        var result = self
        result.equations = kept.reversed()
        return result
    }

    /// Replaces an equation that repeats an earlier one (same primitive, params and arguments) by
    /// the earlier one's output. Constants are the same argument only when they are the same object.
    public func eliminatingCommonSubexpressions() -> Graph {
        var renamed = Array(0..<variableCount)
        func rename(_ atom: Atom) -> Atom {
            if case .variable(let variable) = atom { return .variable(renamed[variable]) }
            return atom
        }
        /// An argument's identity for matching: a variable number or a constant's object.
        func identity(_ atom: Atom) -> String {
            switch atom {
            case .variable(let variable): return "v\(variable)"
            case .constant(let value): return "c\(ObjectIdentifier(value).hashValue)"
            }
        }
        var seen: [String: [(params: Params, output: Int)]] = [:]
        var kept: [Equation] = []
        for var equation in equations {
            equation.arguments = equation.arguments.map(rename)
            guard case let .primitive(primitive, params) = equation.operation, !Self.hasEffects(equation) else {
                kept.append(equation)
                continue
            }
            let key = "\(primitive.rawValue)(" + equation.arguments.map(identity).joined(separator: ",") + ")"
            if let earlier = seen[key]?.first(where: { $0.params == params }) {
                renamed[equation.outputs[0]] = earlier.output
                continue
            }
            seen[key, default: []].append((params, equation.outputs[0]))
            kept.append(equation)
        }
        var result = self
        result.equations = kept
        result.outputs = outputs.map(rename)
        return result
    }
}

// MARK: - Algebraic simplification

extension Graph {
    /// Rewrites what transform rules leave behind, each only where the result's type (shape, dtype
    /// and weakness) is unchanged: `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1` become x;
    /// `neg(neg x)` becomes x; `x @ I` and `I @ x` become x, and `x @ diag(d)` becomes x * d;
    /// permute of permute composes (and an identity permute goes); reshape of reshape, expand of
    /// expand and cast of cast to the same dtype collapse, and a reshape, expand or cast to the
    /// input's own type goes; a permute that moves only size-1 dims is a
    /// reshape, and a reshape of a permute of a reshape that only add or drop size-1 dims is a
    /// permute; a slice that keeps everything goes; an elementwise op reads a scalar directly
    /// instead of its expansion when broadcasting gives the same result shape. Zeros and ones are
    /// constants whose elements all are 0 or 1, or `full` results of 0 or 1 (possibly expanded).
    /// Replaced equations are left for dead-code elimination.
    public func simplified() -> Graph {
        let types = variableTypes  // rewrites keep every equation's output type
        var definition = [Equation?](repeating: nil, count: variableCount)
        var replacement = [Atom?](repeating: nil, count: variableCount)
        func resolve(_ atom: Atom) -> Atom {
            if case .variable(let variable) = atom, let replaced = replacement[variable] { return replaced }
            return atom
        }
        func type(of atom: Atom) -> TensorType? { Self.type(of: atom, in: types) }
        /// The defining primitive equation of a variable atom.
        func defined(_ atom: Atom) -> (Primitive, Params, [Atom])? {
            guard case .variable(let variable) = atom, let equation = definition[variable],
                  case let .primitive(primitive, params) = equation.operation else { return nil }
            return (primitive, params, equation.arguments)
        }
        /// Whether every element of the value is `target`.
        func isAll(_ atom: Atom, _ target: Double) -> Bool {
            switch atom {
            case .constant(let value):
                guard let tensor = value as? Tensor, tensor.count > 0, tensor.count <= 1 << 16 else { return false }
                return (try? tensor.allElements(equal: target)) ?? false
            case .variable:
                guard let (primitive, params, arguments) = defined(atom) else { return false }
                if primitive == .full, case let .fill(_, value, _) = params { return value == target }
                if primitive == .expand { return isAll(arguments[0], target) }
                return false
            }
        }

        /// Whether the value is a constant identity matrix (small enough to look at).
        func isIdentity(_ atom: Atom) -> Bool {
            guard case .constant(let value) = atom, let tensor = value as? Tensor, tensor.count <= 1 << 16 else { return false }
            return tensor.isIdentityMatrix
        }

        /// d where the value is diag(d) as jacrev leaves it: I * d (either order) with d a vector
        /// [n] or [1, n] (I * d[j] is zero off the diagonal), possibly transposed.
        func diagonal(_ atom: Atom) -> Atom? {
            guard let (primitive, params, arguments) = defined(atom) else { return nil }
            if primitive == .permute, case .permutation(let order) = params, order == [1, 0] { return diagonal(arguments[0]) }
            guard primitive == .mul, let square = type(of: atom)?.shape, square.count == 2, square[0] == square[1] else { return nil }
            for (position, other) in [(0, 1), (1, 0)] where isIdentity(arguments[position]) {
                guard let vector = type(of: arguments[other])?.shape, vector.last == square[1],
                      vector.count == 1 || (vector.count == 2 && vector[0] == 1) else { continue }
                return arguments[other]
            }
            return nil
        }

        var result = self
        result.equations = []
        for var equation in equations {
            equation.arguments = equation.arguments.map(resolve)
            guard case let .primitive(recorded, params) = equation.operation, equation.outputs.count == 1 else {
                result.equations.append(equation)
                continue
            }
            let output = equation.types[0], arguments = equation.arguments
            var primitive = recorded
            // A permute that moves only size-1 dims keeps the row-major order of the elements: it
            // is a reshape, and joins the reshape chains around it (vmap and jacrev leave these).
            if primitive == .permute, case .permutation(let order) = params,
               let input = type(of: arguments[0]), Self.isUnitMove(order, of: input.shape) {
                primitive = .reshape
                equation.operation = .primitive(.reshape, .shape(output.shape))
            }
            /// The equation's value is `atom` when it has the output's exact type.
            func becomes(_ atom: Atom) -> Bool {
                guard type(of: atom) == output else { return false }
                replacement[equation.outputs[0]] = atom
                return true
            }
            var replaced = false
            switch primitive {
            case .add:
                replaced = (isAll(arguments[1], 0) && becomes(arguments[0])) || (isAll(arguments[0], 0) && becomes(arguments[1]))
            case .sub:
                replaced = isAll(arguments[1], 0) && becomes(arguments[0])
            case .mul:
                replaced = (isAll(arguments[1], 1) && becomes(arguments[0])) || (isAll(arguments[0], 1) && becomes(arguments[1]))
            case .div:
                replaced = isAll(arguments[1], 1) && becomes(arguments[0])
            case .neg:
                if let (inner, _, innerArguments) = defined(arguments[0]), inner == .neg { replaced = becomes(innerArguments[0]) }
            case .matmul:
                // x @ I = x and I @ x = x (a basis of unit vectors pushed through a linear map). Exact
                // for finite x; where x holds inf or NaN the computed product would spread NaN
                // (inf * 0) along its row, the simplified one keeps x's value, as the Jacobian is.
                replaced = (isIdentity(arguments[1]) && becomes(arguments[0])) || (isIdentity(arguments[0]) && becomes(arguments[1]))
                // x @ diag(d) scales x's columns: x * d (jacrev's basis times an elementwise
                // derivative, then a product; the same caveat for inf and NaN).
                if !replaced, let scale = diagonal(arguments[1]),
                   let scaled = try? Primitive.rules[Primitive.mul.rawValue].type([type(of: arguments[0]), type(of: scale)].compactMap { $0 }, .none),
                   scaled == output {
                    equation.operation = .primitive(.mul, .none)
                    equation.arguments = [arguments[0], scale]
                    primitive = .mul
                }
            case .slice:
                // A slice with its input's type takes everything.
                replaced = becomes(arguments[0])
            case .reshape, .expand, .cast:
                if becomes(arguments[0]) {
                    replaced = true
                } else if let (inner, _, innerArguments) = defined(arguments[0]), inner == primitive,
                          primitive != .cast || type(of: innerArguments[0])?.dtype == output.dtype {
                    // reshape(reshape x) = reshape x; expand(expand x) = expand x; a round trip of casts
                    // only when no precision is lost on the way (float64 -> float32 -> float64 is not x).
                    if primitive == .cast {
                        if let source = type(of: innerArguments[0]), let middle = type(of: arguments[0]),
                           middle.dtype.itemSize >= source.dtype.itemSize, middle.dtype.isFloatingPoint == source.dtype.isFloatingPoint {
                            replaced = becomes(innerArguments[0])
                        }
                    } else {
                        equation.arguments = [innerArguments[0]]
                        replaced = becomes(innerArguments[0])
                    }
                }
                // reshape(permute(reshape x)) with reshapes that only add or drop size-1 dims is a
                // permute of x when the result has x's rank (a transpose that went through
                // unit-padded shapes).
                if !replaced, primitive == .reshape, let (inner, innerParams, innerArguments) = defined(equation.arguments[0]),
                   inner == .permute, case .permutation(let order) = innerParams,
                   let (first, _, firstArguments) = defined(innerArguments[0]), first == .reshape,
                   let source = type(of: firstArguments[0]), let padded = type(of: innerArguments[0]),
                   let permutation = Self.permutation(from: source.shape, through: padded.shape, order, to: output.shape) {
                    if permutation == Array(permutation.indices) {
                        replaced = becomes(firstArguments[0])
                    } else {
                        equation.operation = .primitive(.permute, .permutation(permutation))
                        equation.arguments = [firstArguments[0]]
                    }
                }
            case .permute:
                guard case .permutation(let outer) = params else { break }
                if outer == Array(outer.indices) {
                    replaced = becomes(arguments[0])
                } else if let (inner, innerParams, innerArguments) = defined(arguments[0]), inner == .permute,
                          case .permutation(let first) = innerParams {
                    let composed = outer.map { first[$0] }
                    if composed == Array(composed.indices) {
                        replaced = becomes(innerArguments[0])
                    } else {
                        equation.operation = .primitive(.permute, .permutation(composed))
                        equation.arguments = [innerArguments[0]]
                    }
                }
            default:
                break
            }
            if replaced { continue }
            // Elementwise ops broadcast their arguments: read a scalar instead of its expansion.
            if Primitive.rules[primitive.rawValue].block != nil {
                for position in equation.arguments.indices {
                    guard let (inner, _, innerArguments) = defined(equation.arguments[position]), inner == .expand,
                          let source = type(of: innerArguments[0]), let expanded = type(of: equation.arguments[position]),
                          source.dtype == expanded.dtype, source.isWeak == expanded.isWeak else { continue }
                    var shapes = equation.arguments.compactMap { type(of: $0)?.shape }
                    shapes[position] = source.shape
                    guard let broadcast = try? shapes.dropFirst().reduce(shapes[0], { try ShapeChecks.broadcast($0, $1, op: "jit") }),
                          broadcast == output.shape else { continue }
                    equation.arguments[position] = innerArguments[0]
                }
            }
            definition[equation.outputs[0]] = equation
            result.equations.append(equation)
        }
        result.outputs = outputs.map(resolve)
        return result
    }

    /// Whether permuting `shape` by `order` leaves the dims larger than 1 in their order.
    static func isUnitMove(_ order: [Int], of shape: [Int]) -> Bool {
        let moved = order.filter { shape[$0] != 1 }
        return moved == moved.sorted()
    }

    /// The permutation of `source` that gives `result` when `source` is reshaped to `padded` (the
    /// same dims larger than 1, in order, with size-1 dims added or dropped), permuted by `order`,
    /// and reshaped to `result` (again only size-1 dims differ); nil when there is none of
    /// `source`'s rank.
    static func permutation(from source: [Int], through padded: [Int], _ order: [Int], to result: [Int]) -> [Int]? {
        func large(_ shape: [Int]) -> [Int] { shape.filter { $0 != 1 } }
        guard source.count == result.count, large(source) == large(padded), order.count == padded.count else { return nil }
        // The k-th dim of `padded` larger than 1 is the k-th of `source`.
        let sourceLarge = source.indices.filter { source[$0] != 1 }
        var sourceOfPadded = [Int?](repeating: nil, count: padded.count)
        for (k, dim) in padded.indices.filter({ padded[$0] != 1 }).enumerated() { sourceOfPadded[dim] = sourceLarge[k] }
        // The source dims larger than 1 in the order the permute puts them, then placed at the
        // result's dims larger than 1; the size-1 dims of `source` fill the rest in order.
        let movedLarge = order.compactMap { sourceOfPadded[$0] }
        let resultLarge = result.indices.filter { result[$0] != 1 }
        guard movedLarge.count == resultLarge.count, movedLarge.map({ source[$0] }) == resultLarge.map({ result[$0] }) else { return nil }
        var permutation = [Int](repeating: -1, count: result.count)
        for (k, dim) in resultLarge.enumerated() { permutation[dim] = movedLarge[k] }
        var units = source.indices.filter { source[$0] == 1 }.makeIterator()
        for dim in permutation.indices where permutation[dim] < 0 {
            guard let unit = units.next() else { return nil }
            permutation[dim] = unit
        }
        return permutation
    }
}

extension Tensor {
    /// Whether every element equals `target`. For the simplifier, at trace time.
    fileprivate func allElements(equal target: Double) throws -> Bool {
        if isUniform { return try dtype.dispatch(ReadFirstValue<Double>(tensor: self)) == target }
        return try elementsEqual { _ in target }
    }

    /// Whether this is an n x n identity matrix (jacfwd's and hessian's basis, which a tangent
    /// then multiplies).
    fileprivate var isIdentityMatrix: Bool {
        guard shape.count == 2, shape[0] == shape[1] else { return false }
        let n = shape[0]
        return (try? elementsEqual { $0 / n == $0 % n ? 1 : 0 }) ?? false
    }

    /// Whether the element at row-major position i equals `expected(i)` for every i (read
    /// through the strides: transforms leave their constants as views).
    private func elementsEqual(_ expected: @escaping (Int) -> Double) throws -> Bool {
        struct Compare: DTypeVisitor {
            let tensor: Tensor, expected: (Int) -> Double
            func visit<T: Element>(_: T.Type) -> Bool {
                let elements = tensor.elements(as: T.self), shape = tensor.shape, strides = tensor.strides
                return (0..<tensor.count).allSatisfy { position in
                    var rest = position, offset = 0
                    for dim in shape.indices.reversed() {
                        offset += (rest % shape[dim]) * strides[dim]
                        rest /= shape[dim]
                    }
                    return elements[offset].doubleValue == expected(position)
                }
            }
        }
        return try dtype.dispatch(Compare(tensor: self, expected: expected))
    }
}
