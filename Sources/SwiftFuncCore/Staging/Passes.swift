/// Graph -> graph rewrites, each keeping the results unchanged. Random draws and custom-function
/// calls count as effects: they are never removed or merged (a replay must draw, and call the
/// host, exactly as the eager call would).
extension Graph {
    /// The passes jit runs on a traced graph, in order.
    public func optimized() -> Graph {
        eliminatingCommonSubexpressions().eliminatingDeadCode()
    }

    /// Whether an equation must run even when its outputs are unused.
    private static func hasEffects(_ equation: Equation) -> Bool {
        switch equation.operation {
        case .custom: return true
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
