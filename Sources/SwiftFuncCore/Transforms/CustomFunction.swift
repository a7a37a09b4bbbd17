/// A custom differentiable function (torch's autograd.Function, JAX's custom_vjp/custom_jvp/
/// custom_vmap): a forward computation whose derivatives and batching are given by rules instead
/// of being derived from its ops. Every interpreter processes a call as ONE unit
/// (`Interpreter.processCustom`), so the forward may be an opaque host kernel: it only ever runs
/// on concrete tensors, under evaluation.
///
/// Conventions (the C API documents the same):
/// - `forward(inputs) -> outputs + residuals`: residuals are saved data for the VJP.
/// - `vjp(inputs + outputs + residuals + output cotangents) -> input cotangents` (a missing
///   output cotangent is passed as zeros).
/// - `jvp(inputs + outputs + input tangents) -> output tangents` (missing tangents are zeros).
/// - `batch(values, dims, batchSize) -> (outputs + residuals, their dims)`: the forward on a
///   batch; dims are nil for unbatched values.
///
/// Residuals are not differentiated by enclosing transforms (their derivative is unknown): when
/// a VJP is differentiated again (grad of grad, hessian) and a derivative would flow through a
/// residual, that is an error, never a silent zero. Rules that are differentiated again compute
/// what they differentiate from the inputs and outputs they receive.
///
/// Counts: a custom function made from host callbacks knows its output and residual counts in
/// advance, or learns them when its forward (or batching rule) returns (`Counts` per call: a
/// Python front end reports its output pytree's size after the one run of the user's forward).
/// Rules then get those counts with each call.
///
/// Rules are either transformable (written with swiftfunc ops: called as ordinary functions, so
/// they are differentiated and batched through their ops) or host kernels (`rulesAreHostKernels`:
/// they read data). A host-kernel VJP or JVP is itself wrapped as a custom function without
/// derivative rules: it runs on concrete tensors, vmap loops over it, and differentiating it is
/// an SF_ERR_TRANSFORM error naming the function. A host-kernel batching rule is used only when
/// the batched values are concrete; otherwise the loop runs (it applies the custom function to
/// each element through the lower transforms, which is always correct).
public final class CustomFunction: @unchecked Sendable {
    /// How many outputs and residuals one call produced (the forward returns them in that order).
    public struct Counts: Equatable, Sendable {
        public var outputs: Int
        public var residuals: Int
        public init(outputs: Int, residuals: Int) {
            self.outputs = outputs
            self.residuals = residuals
        }
    }

    /// What one application produced: the outputs followed by the residuals.
    public struct Results {
        public var values: [Value]
        public var outputCount: Int
        public init(values: [Value], outputCount: Int) {
            self.values = values
            self.outputCount = outputCount
        }
        public var outputs: ArraySlice<Value> { values[..<outputCount] }
        public var residuals: ArraySlice<Value> { values[outputCount...] }
        public var counts: Counts { Counts(outputs: outputCount, residuals: values.count - outputCount) }
    }

    /// The forward: inputs -> outputs and residuals.
    public typealias Forward = ([Value]) throws -> Results
    /// The batching rule of a custom function: the forward applied to a batch; `dims` are the
    /// batched dims of the results (nil: not batched).
    public typealias BatchRule = (_ values: [Value], _ dims: [Int?], _ batchSize: Int) throws -> (results: Results, dims: [Int?])
    /// The batching rule of a custom function whose counts are known in advance: the batched
    /// outputs followed by the residuals, and their dims.
    public typealias FixedBatchRule = (_ values: [Value], _ dims: [Int?], _ batchSize: Int) throws -> (values: [Value], dims: [Int?])
    /// A derivative rule for the counts of one call (its arity depends on them).
    public typealias RuleForCounts = (Counts) throws -> Function

    /// The name messages use.
    public let name: String
    /// Number of inputs.
    public let inputCount: Int
    /// Output and residual counts when known in advance (nil: known when the forward returns).
    public let counts: Counts?
    /// Whether the rules read data (host kernels) rather than being written with swiftfunc ops.
    public let rulesAreHostKernels: Bool

    let forward: Forward
    private let vjpForCounts: RuleForCounts?
    private let jvpForCounts: RuleForCounts?
    let batch: BatchRule?
    /// For the unit wrapping a host-kernel rule: (the custom function's name, "VJP"/"JVP").
    private let hostRule: (owner: String, rule: String)?

    /// A custom function with counts known in advance. `forward` takes `inputCount` inputs and
    /// returns `outputCount` outputs and `residualCount` residuals; `vjp` and `jvp` (optional)
    /// follow the conventions above and must have matching arities.
    public convenience init(name: String, inputCount: Int, outputCount: Int, residualCount: Int, forward: Function,
                            vjp: Function?, jvp: Function?, batch: FixedBatchRule?, rulesAreHostKernels: Bool) throws {
        let op = "custom_function_new"
        guard inputCount >= 0, outputCount >= 1, residualCount >= 0 else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': n_outputs must be at least 1 (n_inputs \(inputCount), n_outputs \(outputCount), n_residuals \(residualCount))")
        }
        guard forward.inputCount == inputCount, forward.outputCount == outputCount + residualCount else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': forward must take \(inputCount) inputs and return \(outputCount + residualCount) values")
        }
        let counts = Counts(outputs: outputCount, residuals: residualCount)
        try Self.checkRuleArities(name: name, inputCount: inputCount, counts: counts, vjp: vjp, jvp: jvp)
        let vjpRule: Function? = try rulesAreHostKernels ? vjp.map { try Self.hostUnit($0, owner: name, rule: "VJP") } : vjp
        let jvpRule: Function? = try rulesAreHostKernels ? jvp.map { try Self.hostUnit($0, owner: name, rule: "JVP") } : jvp
        self.init(name: name, inputCount: inputCount, counts: counts,
                  forward: { Results(values: try forward($0), outputCount: outputCount) },
                  vjp: vjpRule.map { rule in { _ in rule } }, jvp: jvpRule.map { rule in { _ in rule } },
                  batch: batch.map { rule in { values, dims, size in
                      let (batched, batchedDims) = try rule(values, dims, size)
                      return (Results(values: batched, outputCount: outputCount), batchedDims)
                  } },
                  rulesAreHostKernels: rulesAreHostKernels, hostRule: nil)
    }

    /// A custom function whose counts are known when its forward (or batching rule) returns.
    /// `vjp(counts)` / `jvp(counts)` make the rule for one call's counts, with the arities of the
    /// conventions above; host-kernel rules are wrapped here as for the other initializer.
    public convenience init(name: String, inputCount: Int, forward: @escaping Forward, vjp: RuleForCounts?,
                            jvp: RuleForCounts?, batch: BatchRule?, rulesAreHostKernels: Bool) {
        /// The rule for `counts`, checked for arity and wrapped as a host unit when it reads data.
        func rule(_ make: RuleForCounts?, _ kind: String) -> RuleForCounts? {
            make.map { make in { counts in
                let rule = try make(counts)
                try Self.checkRuleArities(name: name, inputCount: inputCount, counts: counts,
                                          vjp: kind == "VJP" ? rule : nil, jvp: kind == "JVP" ? rule : nil)
                return rulesAreHostKernels ? try Self.hostUnit(rule, owner: name, rule: kind) : rule
            } }
        }
        self.init(name: name, inputCount: inputCount, counts: nil, forward: forward, vjp: rule(vjp, "VJP"),
                  jvp: rule(jvp, "JVP"), batch: batch, rulesAreHostKernels: rulesAreHostKernels, hostRule: nil)
    }

    private init(name: String, inputCount: Int, counts: Counts?, forward: @escaping Forward, vjp: RuleForCounts?,
                 jvp: RuleForCounts?, batch: BatchRule?, rulesAreHostKernels: Bool, hostRule: (owner: String, rule: String)?) {
        self.name = name
        self.inputCount = inputCount
        self.counts = counts
        self.forward = forward
        self.vjpForCounts = vjp
        self.jvpForCounts = jvp
        self.batch = batch
        self.rulesAreHostKernels = rulesAreHostKernels
        self.hostRule = hostRule
    }

    private static func checkRuleArities(name: String, inputCount n: Int, counts: Counts, vjp: Function?, jvp: Function?) throws {
        let op = "custom_function_new"
        let (m, r) = (counts.outputs, counts.residuals)
        if let vjp, vjp.inputCount != n + 2 * m + r || vjp.outputCount != n {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': its VJP must take \(n + 2 * m + r) values and return \(n)")
        }
        if let jvp, jvp.inputCount != 2 * n + m || jvp.outputCount.map({ $0 != m }) ?? false {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': its JVP must take \(2 * n + m) values and return \(m)")
        }
    }

    /// The unit around a host-kernel rule, as an ordinary function: evaluated on concrete tensors,
    /// looped over by vmap, not differentiable.
    private static func hostUnit(_ rule: Function, owner: String, rule kind: String) throws -> Function {
        let unit = CustomFunction(name: "\(owner).\(kind.lowercased())", inputCount: rule.inputCount,
                                  counts: rule.outputCount.map { Counts(outputs: $0, residuals: 0) },
                                  forward: { inputs in let values = try rule(inputs); return Results(values: values, outputCount: values.count) },
                                  vjp: nil, jvp: nil, batch: nil, rulesAreHostKernels: true, hostRule: (owner, kind))
        return unit.function()
    }

    /// Whether the function has a VJP / JVP rule.
    var hasVJP: Bool { vjpForCounts != nil }
    var hasJVP: Bool { jvpForCounts != nil }

    /// The VJP rule for one call's counts; `missingRule("VJP")` when there is none.
    func vjpRule(for counts: Counts) throws -> Function {
        guard let make = vjpForCounts else { throw missingRule("VJP") }
        return try make(counts)
    }

    /// The JVP rule for one call's counts; `missingRule("JVP")` when there is none.
    func jvpRule(for counts: Counts) throws -> Function {
        guard let make = jvpForCounts else { throw missingRule("JVP") }
        return try make(counts)
    }

    /// Applies the function through the current interpreter and returns its outputs.
    public func callAsFunction(_ inputs: [Value]) throws -> [Value] {
        Array(try applyAll(inputs).outputs)
    }

    /// Applies the function through the current interpreter: outputs followed by residuals.
    func applyAll(_ inputs: [Value]) throws -> Results {
        guard inputs.count == inputCount else {
            throw SwiftFuncError.invalidArgument("call", "custom function '\(name)' takes \(inputCount) inputs but was given \(inputs.count)")
        }
        let results = try Interpreter.current.processCustom(self, inputs)
        try check(results.counts, results.values.count)
        return results
    }

    /// Checks counts a forward or batching rule produced: the advertised ones when known in advance,
    /// else at least one output.
    func check(_ produced: Counts, _ total: Int, by what: String = "forward") throws {
        if let counts {
            guard produced == counts else {
                throw SwiftFuncError.internal("call", "custom function '\(name)' produced \(produced.outputs) outputs and \(produced.residuals) residuals instead of \(counts.outputs) and \(counts.residuals)")
            }
        } else if produced.outputs < 1 || produced.residuals < 0 {
            throw SwiftFuncError(.callback, "call", "custom function '\(name)': its \(what) returned \(produced.outputs) outputs; at least 1 is needed")
        }
    }

    /// An ordinary `Function` calling this custom function. It holds the custom function; the
    /// custom function does not hold it (no cycle).
    public func function() -> Function {
        Function(name: name, inputCount: inputCount, outputCount: counts?.outputs) { [self] inputs in try self(inputs) }
    }

    /// The error for a derivative rule (`kind`: "VJP" or "JVP") this function does not have.
    func missingRule(_ kind: String) -> SwiftFuncError {
        if let hostRule {
            return .transform("call", "custom function '\(hostRule.owner)': its \(hostRule.rule) is a host kernel and cannot be differentiated again (write it with swiftfunc ops and declare the rules transformable to differentiate it)")
        }
        return .unsupported("call", "custom function '\(name)' has no \(kind) rule")
    }

    /// The message for a derivative that would flow through a residual.
    var residualMessage: String {
        "custom function '\(name)': an enclosing transform needs the derivative of a residual, which is unknown (residuals are saved data); a rule that is differentiated again must compute what it differentiates from the inputs and outputs it receives"
    }

    /// Checks that `values` (from a rule) match `expected` in shape, and converts them to their dtypes.
    func conform<C: Collection>(_ values: [Value], to expected: C, what: String) throws -> [Value] where C.Element == Value {
        guard values.count == expected.count else {
            throw SwiftFuncError.invalidArgument("call", "custom function '\(name)': its rule returned \(values.count) values for \(expected.count) \(what)s")
        }
        return try zip(values, expected).enumerated().map { index, pair in
            let (value, reference) = pair
            guard value.shape == reference.shape else {
                throw SwiftFuncError.shape("call", "custom function '\(name)': \(what) \(index) has shape \(formatShape(value.shape)), expected \(formatShape(reference.shape))")
            }
            return try Differentiation.cast(value, to: reference.dtype)
        }
    }
}
