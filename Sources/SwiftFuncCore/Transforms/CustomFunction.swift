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
/// Rules are either transformable (written with swiftfunc ops: called as ordinary functions, so
/// they are differentiated and batched through their ops) or host kernels (`rulesAreHostKernels`:
/// they read data). A host-kernel VJP or JVP is itself wrapped as a custom function without
/// derivative rules: it runs on concrete tensors, vmap loops over it, and differentiating it is
/// an SF_ERR_TRANSFORM error naming the function. A host-kernel batching rule is used only when
/// the batched values are concrete; otherwise the loop runs (it applies the custom function to
/// each element through the lower transforms, which is always correct).
public final class CustomFunction: @unchecked Sendable {
    /// The batching rule of a custom function: the forward applied to a batch.
    public typealias BatchRule = (_ values: [Value], _ dims: [Int?], _ batchSize: Int) throws -> (values: [Value], dims: [Int?])

    /// The name messages use.
    public let name: String
    /// Number of inputs.
    public let inputCount: Int
    /// Number of outputs (the residuals come after them in `forward`'s results).
    public let outputCount: Int
    /// Number of residuals the forward saves for the VJP.
    public let residualCount: Int
    /// Whether the rules read data (host kernels) rather than being written with swiftfunc ops.
    public let rulesAreHostKernels: Bool

    let forward: Function
    let vjp: Function?
    let jvp: Function?
    let batch: BatchRule?
    /// For the unit wrapping a host-kernel rule: (the custom function's name, "VJP"/"JVP").
    private let hostRule: (owner: String, rule: String)?

    /// A custom function. `forward` takes `inputCount` inputs and returns `outputCount` outputs and
    /// `residualCount` residuals; `vjp` and `jvp` (optional) follow the conventions above and must
    /// have matching arities.
    public init(name: String, inputCount: Int, outputCount: Int, residualCount: Int, forward: Function,
                vjp: Function?, jvp: Function?, batch: BatchRule?, rulesAreHostKernels: Bool) throws {
        let op = "custom_function_new"
        guard inputCount >= 0, outputCount >= 1, residualCount >= 0 else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': n_outputs must be at least 1 (n_inputs \(inputCount), n_outputs \(outputCount), n_residuals \(residualCount))")
        }
        guard forward.inputCount == inputCount, forward.outputCount == outputCount + residualCount else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': forward must take \(inputCount) inputs and return \(outputCount + residualCount) values")
        }
        if let vjp, vjp.inputCount != inputCount + 2 * outputCount + residualCount || vjp.outputCount != inputCount {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': its VJP must take \(inputCount + 2 * outputCount + residualCount) values and return \(inputCount)")
        }
        if let jvp, jvp.inputCount != 2 * inputCount + outputCount || jvp.outputCount != outputCount {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': its JVP must take \(2 * inputCount + outputCount) values and return \(outputCount)")
        }
        self.name = name
        self.inputCount = inputCount
        self.outputCount = outputCount
        self.residualCount = residualCount
        self.forward = forward
        self.batch = batch
        self.rulesAreHostKernels = rulesAreHostKernels
        self.hostRule = nil
        if rulesAreHostKernels {
            self.vjp = try vjp.map { try CustomFunction(hostRule: $0, owner: name, rule: "VJP").function() }
            self.jvp = try jvp.map { try CustomFunction(hostRule: $0, owner: name, rule: "JVP").function() }
        } else {
            self.vjp = vjp
            self.jvp = jvp
        }
    }

    /// The unit around a host-kernel rule: evaluated on concrete tensors, looped over by vmap, not
    /// differentiable.
    private init(hostRule: Function, owner: String, rule: String) throws {
        name = "\(owner).\(rule.lowercased())"
        inputCount = hostRule.inputCount
        outputCount = hostRule.outputCount
        residualCount = 0
        forward = hostRule
        vjp = nil
        jvp = nil
        batch = nil
        rulesAreHostKernels = true
        self.hostRule = (owner, rule)
    }

    /// Applies the function through the current interpreter and returns its outputs.
    public func callAsFunction(_ inputs: [Value]) throws -> [Value] {
        Array(try applyAll(inputs).prefix(outputCount))
    }

    /// Applies the function through the current interpreter: outputs followed by residuals.
    func applyAll(_ inputs: [Value]) throws -> [Value] {
        guard inputs.count == inputCount else {
            throw SwiftFuncError.invalidArgument("call", "custom function '\(name)' takes \(inputCount) inputs but was given \(inputs.count)")
        }
        let results = try Interpreter.current.processCustom(self, inputs)
        guard results.count == outputCount + residualCount else {
            throw SwiftFuncError.internal("call", "custom function '\(name)' produced \(results.count) values instead of \(outputCount + residualCount)")
        }
        return results
    }

    /// An ordinary `Function` calling this custom function. It holds the custom function; the
    /// custom function does not hold it (no cycle).
    public func function() -> Function {
        Function(name: name, inputCount: inputCount, outputCount: outputCount) { [self] inputs in try self(inputs) }
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
    func conform(_ values: [Value], to expected: [Value], what: String) throws -> [Value] {
        try zip(values, expected).enumerated().map { index, pair in
            let (value, reference) = pair
            guard value.shape == reference.shape else {
                throw SwiftFuncError.shape("call", "custom function '\(name)': \(what) \(index) has shape \(formatShape(value.shape)), expected \(formatShape(reference.shape))")
            }
            return try Differentiation.cast(value, to: reference.dtype)
        }
    }
}

// MARK: - How each interpreter processes a custom function

extension EvalInterpreter {
    /// Runs the forward on concrete tensors.
    func processCustomEval(_ custom: CustomFunction, _ args: [Value]) throws -> [Value] {
        for arg in args where !(arg is Tensor) {
            throw SwiftFuncError.transform("call", "custom function '\(custom.name)': a traced value was used outside of the transform that made it (an escaped tracer)")
        }
        let results = try custom.forward(args)
        for result in results where !(result is Tensor) {
            throw SwiftFuncError.transform("call", "custom function '\(custom.name)': its forward returned a traced value captured from outside (an escaped tracer)")
        }
        return results
    }
}

extension JVPInterpreter {
    /// Primal outputs from the custom function one level down; output tangents from its JVP rule
    /// (with the parent current, so the rule is transformed below); residuals get no tangent.
    func processCustomJVP(_ custom: CustomFunction, _ args: [Value]) throws -> [Value] {
        var primals: [Value] = []
        var tangents: [Value?] = []
        var hasTangent = false
        for arg in args {
            if let tracer = arg as? JVPTracer, tracer.owner === self {
                guard custom.jvp != nil else { throw custom.missingRule("JVP") }
                if let message = tracer.undifferentiable { throw SwiftFuncError.transform("call", message) }
                primals.append(tracer.primal)
                tangents.append(tracer.tangent)
                hasTangent = true
            } else {
                try checkNotEscaped(arg, op: "call")
                primals.append(arg)
                tangents.append(nil)
            }
        }
        let parent = below
        guard hasTangent else { return try Interpreter.with(parent) { try custom.applyAll(primals) } }
        guard let rule = custom.jvp else { throw custom.missingRule("JVP") }
        return try Interpreter.with(parent) {
            let all = try custom.applyAll(primals)
            let outputs = Array(all[..<custom.outputCount])
            let inputTangents = try zip(primals, tangents).map { primal, tangent in try tangent ?? Differentiation.zeros(like: primal) }
            let outputTangents = try custom.conform(try rule(primals + outputs + inputTangents), to: outputs, what: "JVP output tangent")
            var results: [Value] = zip(outputs, outputTangents).map { output, tangent in
                output.dtype.isFloatingPoint ? JVPTracer(owner: self, primal: output, tangent: tangent) : output
            }
            for residual in all[custom.outputCount...] {
                results.append(residual.dtype.isFloatingPoint
                    ? JVPTracer(owner: self, primal: residual, tangent: residual, undifferentiable: custom.residualMessage)
                    : residual)
            }
            return results
        }
    }
}

extension GradInterpreter {
    /// Outputs and residuals from the custom function one level down; one tape node whose
    /// pullback runs the VJP rule under whatever interpreter is current at backward time.
    func processCustomGrad(_ custom: CustomFunction, _ args: [Value]) throws -> [Value] {
        var primals: [Value] = []
        var slots: [Int?] = []
        var tracked = false
        for arg in args {
            if let tracer = arg as? GradTracer, tracer.owner === self {
                primals.append(tracer.primal)
                slots.append(tracer.slot)
                tracked = true
            } else {
                try checkNotEscaped(arg, op: "call")
                primals.append(arg)
                slots.append(nil)
            }
        }
        let all = try Interpreter.with(below) { try custom.applyAll(primals) }
        guard tracked else { return all }
        guard let rule = custom.vjp else { throw custom.missingRule("VJP") }
        let count = custom.outputCount
        let outputs = Array(all[..<count])
        let residuals = Array(all[count...])
        var results: [Value] = []
        var outputSlots: [Int?] = []
        for value in all {
            // Integer and bool results are not differentiable: nothing to track.
            guard value.dtype.isFloatingPoint else {
                results.append(value)
                outputSlots.append(nil)
                continue
            }
            let tracer = makeInput(value)
            results.append(tracer)
            outputSlots.append(tracer.slot)
        }
        let message = custom.residualMessage
        record(.custom(inputSlots: slots, outputSlots: outputSlots) { cotangents in
            if cotangents[count...].contains(where: { $0 != nil }) { throw SwiftFuncError.transform("grad", message) }
            let outputCotangents = try outputs.indices.map { try cotangents[$0] ?? Differentiation.zeros(like: outputs[$0]) }
            let inputCotangents = try custom.conform(try rule(primals + outputs + residuals + outputCotangents),
                                                     to: primals, what: "VJP input cotangent")
            return zip(inputCotangents, slots).map { cotangent, slot in slot == nil ? nil : cotangent }
        })
        return results
    }
}

extension BatchInterpreter {
    /// The batching rule with the parent current, or a loop over the batch (counted).
    func processCustomBatch(_ custom: CustomFunction, _ args: [Value]) throws -> [Value] {
        var values: [Value] = []
        var dims: [Int?] = []
        var batched = false
        for arg in args {
            if let tracer = arg as? BatchTracer, tracer.owner === self {
                values.append(tracer.value)
                dims.append(tracer.batchDim)
                batched = true
            } else {
                try checkNotEscaped(arg, op: "call")
                values.append(arg)
                dims.append(nil)
            }
        }
        let parent = below
        guard batched else { return try Interpreter.with(parent) { try custom.applyAll(values) } }
        return try Interpreter.with(parent) {
            let results: [Value]
            let resultDims: [Int?]
            // A host-kernel rule reads data: it is only given concrete values (on traced ones it
            // would silently drop their derivatives); the loop handles those correctly.
            if let rule = custom.batch, !custom.rulesAreHostKernels || values.allSatisfy({ $0 is Tensor }) {
                (results, resultDims) = try rule(values, dims, batchSize)
                try checkBatchRuleResults(custom, results, resultDims)
            } else {
                (results, resultDims) = try customLoop(custom, values, dims)
            }
            return zip(results, resultDims).map { value, dim in
                guard let dim else { return value }
                return BatchTracer(owner: self, value: value, batchDim: dim)
            }
        }
    }

    private func checkBatchRuleResults(_ custom: CustomFunction, _ results: [Value], _ dims: [Int?]) throws {
        let expected = custom.outputCount + custom.residualCount
        guard results.count == expected, dims.count == expected else {
            throw SwiftFuncError.invalidArgument("vmap", "custom function '\(custom.name)': its batching rule returned \(results.count) values and \(dims.count) dims, expected \(expected)")
        }
        for (index, (value, dim)) in zip(results, dims).enumerated() {
            guard let dim else { continue }
            guard dim >= 0 && dim < value.rank else {
                throw SwiftFuncError.invalidArgument("vmap", "custom function '\(custom.name)': its batching rule gave out_dims[\(index)] = \(dim) for a value of rank \(value.rank)")
            }
            guard value.shape[dim] == batchSize else {
                throw SwiftFuncError.shape("vmap", "custom function '\(custom.name)': its batching rule returned value \(index) of shape \(formatShape(value.shape)) with batch dim \(dim), but the batch size is \(batchSize)")
            }
        }
    }

    /// Slice each batched value, apply the custom function (through the lower interpreters), stack.
    private func customLoop(_ custom: CustomFunction, _ values: [Value], _ dims: [Int?]) throws -> ([Value], [Int?]) {
        BatchingStatistics.recordFallback()
        let count = custom.outputCount + custom.residualCount
        let batchedDims = [Int?](repeating: 0, count: count)
        guard batchSize > 0 else {
            // No element to slice: apply to zeros of one element's shape for the result types.
            let example = try zip(values, dims).map { value, dim -> Value in
                guard let dim else { return value }
                var shape = value.shape
                shape.remove(at: dim)
                return try Differentiation.full(0, shape: shape, dtype: value.dtype)
            }
            let results = try custom.applyAll(example)
            return (try results.map { try Differentiation.full(0, shape: [0] + $0.shape, dtype: $0.dtype) }, batchedDims)
        }
        var columns = [[Value]](repeating: [], count: count)
        for index in 0..<batchSize {
            let slices = try zip(values, dims).map { value, dim -> Value in
                guard let dim else { return value }
                return try Batching.select(value, dim: dim, index: index)
            }
            for (k, result) in try custom.applyAll(slices).enumerated() {
                columns[k].append(try Batching.unsqueeze(result, dim: 0))
            }
        }
        return (try columns.map { try emit(.cat, $0, .dim(0)) }, batchedDims)
    }
}
