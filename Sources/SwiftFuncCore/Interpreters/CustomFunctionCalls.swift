/// How each interpreter applies a custom function (Transforms/CustomFunction.swift) as ONE unit:
/// the forward only ever runs under `EvalInterpreter`, on concrete tensors; the other
/// interpreters use the function's rules. Each returns the outputs followed by the residuals.

extension EvalInterpreter {
    /// Runs the forward on concrete tensors.
    func processCustomEval(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        for arg in args where !(arg is Tensor) {
            throw SwiftFuncError.transform("call", "custom function '\(custom.name)': a traced value was used outside of the transform that made it (an escaped tracer)")
        }
        let results = try custom.forward(args)
        for result in results.values where !(result is Tensor) {
            throw SwiftFuncError.transform("call", "custom function '\(custom.name)': its forward returned a traced value captured from outside (an escaped tracer)")
        }
        return results
    }
}

extension JVPInterpreter {
    /// Primal outputs from the custom function one level down; output tangents from its JVP rule
    /// (with the parent current, so the rule is transformed below); residuals get no tangent.
    func processCustomJVP(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        let split = try self.split(args, op: "call", JVPTracer.self) { tracer -> (value: Value, info: Value) in
            guard custom.hasJVP else { throw custom.missingRule("JVP") }
            if let message = tracer.undifferentiable { throw SwiftFuncError.transform("call", message) }
            return (tracer.primal, tracer.tangent)
        }
        let (primals, tangents) = (split.values, split.info)
        let parent = below
        guard split.hasTracer else { return try Interpreter.with(parent) { try custom.applyAll(primals) } }
        return try Interpreter.with(parent) {
            let all = try custom.applyAll(primals)
            let rule = try custom.jvpRule(for: all.counts)
            let outputs = Array(all.outputs)
            let inputTangents = try zip(primals, tangents).map { primal, tangent in try tangent ?? Differentiation.zeros(like: primal) }
            let outputTangents = try custom.conform(try rule(primals + outputs + inputTangents), to: outputs, what: "JVP output tangent")
            var results: [Value] = zip(outputs, outputTangents).map { output, tangent in
                output.dtype.isFloatingPoint ? JVPTracer(owner: self, primal: output, tangent: tangent) : output
            }
            for residual in all.residuals {
                results.append(residual.dtype.isFloatingPoint
                    ? JVPTracer(owner: self, primal: residual, tangent: residual, undifferentiable: custom.residualMessage)
                    : residual)
            }
            return CustomFunction.Results(values: results, outputCount: all.outputCount)
        }
    }
}

extension GradInterpreter {
    /// Outputs and residuals from the custom function one level down; one tape node whose
    /// pullback runs the VJP rule under whatever interpreter is current at backward time.
    func processCustomGrad(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        let split = try self.split(args, op: "call", GradTracer.self) { ($0.primal, $0.slot) }
        let (primals, slots) = (split.values, split.info)
        let all = try Interpreter.with(below) { try custom.applyAll(primals) }
        guard split.hasTracer else { return all }
        let rule = try custom.vjpRule(for: all.counts)
        let count = all.outputCount
        let outputs = Array(all.outputs)
        let residuals = Array(all.residuals)
        var results: [Value] = []
        var outputSlots: [Int?] = []
        for value in all.values {
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
        return CustomFunction.Results(values: results, outputCount: count)
    }
}

extension BatchInterpreter {
    /// The batching rule with the parent current, or a loop over the batch (counted).
    func processCustomBatch(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        let split = try self.split(args, op: "call", BatchTracer.self) { ($0.value, $0.batchDim) }
        let (values, dims) = (split.values, split.info)
        let parent = below
        guard split.hasTracer else { return try Interpreter.with(parent) { try custom.applyAll(values) } }
        return try Interpreter.with(parent) {
            let results: CustomFunction.Results
            let resultDims: [Int?]
            // A host-kernel rule reads data: it is only given concrete values (on traced ones it
            // would silently drop their derivatives); the loop handles those correctly.
            if let rule = custom.batch, !custom.rulesAreHostKernels || values.allSatisfy({ $0 is Tensor }) {
                (results, resultDims) = try rule(values, dims, batchSize)
                try checkBatchRuleResults(custom, results, resultDims)
            } else {
                (results, resultDims) = try customLoop(custom, values, dims)
            }
            let wrapped = zip(results.values, resultDims).map { value, dim -> Value in
                guard let dim else { return value }
                return BatchTracer(owner: self, value: value, batchDim: dim)
            }
            return CustomFunction.Results(values: wrapped, outputCount: results.outputCount)
        }
    }

    private func checkBatchRuleResults(_ custom: CustomFunction, _ results: CustomFunction.Results, _ dims: [Int?]) throws {
        let count = results.values.count
        if let expected = custom.counts.map({ $0.outputs + $0.residuals }) {
            guard count == expected, dims.count == expected else {
                throw SwiftFuncError.invalidArgument("vmap", "custom function '\(custom.name)': its batching rule returned \(count) values and \(dims.count) dims, expected \(expected)")
            }
        } else {
            guard dims.count == count else {
                throw SwiftFuncError.invalidArgument("vmap", "custom function '\(custom.name)': its batching rule returned \(count) values and \(dims.count) dims")
            }
            try custom.check(results.counts, count, by: "batching rule")
        }
        for (index, (value, dim)) in zip(results.values, dims).enumerated() {
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
    private func customLoop(_ custom: CustomFunction, _ values: [Value], _ dims: [Int?]) throws -> (CustomFunction.Results, [Int?]) {
        var counts: CustomFunction.Counts?
        let stacked = try applyPerElement(values, dims) { element in
            let results = try custom.applyAll(element)
            if let counts, counts != results.counts {
                throw SwiftFuncError.invalidArgument("vmap", "custom function '\(custom.name)': its forward returned \(results.outputCount) outputs and \(results.counts.residuals) residuals for one batch element but \(counts.outputs) and \(counts.residuals) for another")
            }
            counts = results.counts
            return results.values
        }
        return (CustomFunction.Results(values: stacked, outputCount: counts?.outputs ?? 0), Array(repeating: 0, count: stacked.count))
    }
}
