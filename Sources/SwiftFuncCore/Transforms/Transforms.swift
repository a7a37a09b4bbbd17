/// torch.func's transforms over `Function`s. Each one installs its interpreter with the current
/// interpreter as parent, so any of them can run inside any other (that is how a host nests
/// transforms: by calling a transformed function inside a callback).
public enum Transforms {
    // MARK: Reverse mode

    /// Evaluates `f` at `primals` and returns its outputs and the pullback: a function from output
    /// cotangents to the cotangents of the inputs listed in `wrt`. By default that is every input,
    /// integer inputs getting zeros (as torch.func.vjp's pullback returns one entry per primal).
    public static func vjp(_ f: Function, _ primals: [Value], wrt: [Int]? = nil, op: String = "vjp") throws -> (outputs: [Value], pullback: Function) {
        let outputIndices = wrt ?? Array(primals.indices)
        let tracked = outputIndices.filter { wrt != nil || primals[$0].dtype.isFloatingPoint }
        let (outputs, slots, tape) = try record(f, primals, wrt: tracked, op: op)
        let pullback = Function(name: "vjp(\(f.name))", inputCount: outputs.count, outputCount: outputIndices.count) { cotangents in
            var seeds: [(slot: Int, cotangent: Value)] = []
            for (index, (cotangent, output)) in zip(cotangents, outputs).enumerated() {
                guard cotangent.shape == output.value.shape else {
                    throw SwiftFuncError.shape(op, "cotangent \(index) has shape \(formatShape(cotangent.shape)) but output \(index) has shape \(formatShape(output.value.shape))")
                }
                guard let slot = tape.slot(of: output.tracer) else { continue }
                seeds.append((slot, try Differentiation.cast(cotangent, to: output.value.dtype)))
            }
            let gradients = try tape.backward(seeds: seeds, wanted: slots)
            return try outputIndices.map { index in
                let gradient = tracked.firstIndex(of: index).flatMap { gradients[$0] }
                return try gradient ?? Differentiation.zeros(like: primals[index])
            }
        }
        return (outputs.map(\.value), pullback)
    }

    /// `f` with gradients of its first output (a 0-d float tensor) with respect to the inputs in
    /// `argnums`; with `hasAux`, the other outputs are returned untouched after the gradients.
    /// With `withValue`, the value of the first output comes between the gradients and the aux.
    public static func grad(_ f: Function, argnums: [Int], hasAux: Bool, withValue: Bool = false) throws -> Function {
        let op = withValue ? "grad_and_value" : "grad"
        try validate(argnums: argnums, inputCount: f.inputCount, op: op)
        // Without has_aux f must return one output, so the count is known even when f reports its
        // outputs at return; with has_aux it follows f's.
        let auxCount = try f.outputCount.map { try auxiliaryCount($0, of: f, hasAux: hasAux, op: op) } ?? (hasAux ? nil : 0)
        let outputCount = auxCount.map { argnums.count + (withValue ? 1 : 0) + $0 }
        return Function(name: "\(op)(\(f.name))", inputCount: f.inputCount, outputCount: outputCount) { args in
            let (outputs, slots, tape) = try record(f, args, wrt: argnums, op: op)
            if f.outputCount == nil { _ = try auxiliaryCount(outputs.count, of: f, hasAux: hasAux, op: op) }
            let value = outputs[0]
            guard value.value.rank == 0 else {
                throw SwiftFuncError.shape(op, "the function must return a scalar (0-d) tensor as its first output, got shape \(formatShape(value.value.shape))")
            }
            guard value.value.dtype.isFloatingPoint else {
                throw SwiftFuncError.dtype(op, "the function's output has dtype \(value.value.dtype); only float outputs can be differentiated")
            }
            var seeds: [(slot: Int, cotangent: Value)] = []
            if let slot = tape.slot(of: value.tracer) {
                seeds.append((slot, try Differentiation.full(1, shape: [], dtype: value.value.dtype)))
            }
            let gradients = try tape.backward(seeds: seeds, wanted: slots)
            var results = try zip(gradients, argnums).map { gradient, index in try gradient ?? Differentiation.zeros(like: args[index]) }
            if withValue { results.append(value.value) }
            results.append(contentsOf: outputs.dropFirst().map(\.value))
            return results
        }
    }

    /// Runs `f` under a new tape with the inputs in `wrt` tracked. Returns each output's primal
    /// (and the tracer it came from), the tracked inputs' slots, and the tape.
    private static func record(_ f: Function, _ args: [Value], wrt: [Int], op: String) throws
        -> (outputs: [(value: Value, tracer: Value)], slots: [Int], tape: GradInterpreter) {
        try validate(argnums: wrt, inputCount: args.count, op: op)
        let tape = GradInterpreter(below: Interpreter.current)
        defer { tape.finish() }
        var inputs = args
        var slots: [Int] = []
        for index in wrt {
            guard args[index].dtype.isFloatingPoint else {
                throw SwiftFuncError.dtype(op, "input \(index) has dtype \(args[index].dtype); only floating-point inputs can be differentiated")
            }
            let tracer = tape.makeInput(args[index])
            inputs[index] = tracer
            slots.append(tracer.slot)
        }
        let outputs = try Interpreter.with(tape) { try f(inputs) }
        return (outputs.map { (tape.primal(of: $0), $0) }, slots, tape)
    }

    // MARK: Forward mode

    /// Evaluates `f` at `primals` with `tangents` (nil: a symbolic zero) and returns the outputs and
    /// their tangents (zeros for outputs that do not depend on a tangent).
    public static func jvp(_ f: Function, _ primals: [Value], _ tangents: [Value?], op: String = "jvp") throws -> (outputs: [Value], tangents: [Value]) {
        guard primals.count == tangents.count else {
            throw SwiftFuncError.invalidArgument(op, "\(primals.count) primals but \(tangents.count) tangents")
        }
        let interpreter = JVPInterpreter(below: Interpreter.current)
        defer { interpreter.finish() }
        var inputs: [Value] = []
        for (index, (primal, tangent)) in zip(primals, tangents).enumerated() {
            guard let tangent, primal.dtype.isFloatingPoint else {
                inputs.append(primal)
                continue
            }
            guard tangent.shape == primal.shape else {
                throw SwiftFuncError.shape(op, "tangent \(index) has shape \(formatShape(tangent.shape)) but primal \(index) has shape \(formatShape(primal.shape))")
            }
            inputs.append(interpreter.wrap(primal, tangent: try Differentiation.cast(tangent, to: primal.dtype)))
        }
        let outputs = try Interpreter.with(interpreter) { try f(inputs) }
        var primalsOut: [Value] = []
        var tangentsOut: [Value] = []
        for output in outputs {
            let (primal, tangent) = try interpreter.unwrap(output)
            primalsOut.append(primal)
            tangentsOut.append(try tangent ?? Differentiation.zeros(like: primal))
        }
        return (primalsOut, tangentsOut)
    }

    /// The outputs of `f` at `primals` and its linear map there: a function from input tangents to
    /// output tangents. `f` runs once, under jvp with symbolic tangents and partial evaluation
    /// (`StagingInterpreter`): everything that does not depend on the tangents (the primal
    /// computation, the derivatives' coefficients) is computed now; only the tangent ops are
    /// recorded into a graph, and each call of the map replays that graph alone.
    public static func linearize(_ f: Function, _ primals: [Value]) throws -> (outputs: [Value], jvp: Function) {
        let op = "linearize"
        let differentiable = primals.indices.filter { primals[$0].dtype.isFloatingPoint }
        let recorder = StagingInterpreter(below: Interpreter.current,
                                          inputTypes: differentiable.map { TensorType(shape: primals[$0].shape, dtype: primals[$0].dtype) },
                                          recordsRandomDraws: false)
        var symbolicTangents = recorder.inputs.makeIterator()
        let tangentInputs: [Value?] = primals.map { $0.dtype.isFloatingPoint ? symbolicTangents.next() : nil }
        let (outputs, tangents) = try Interpreter.with(recorder) { try jvp(f, primals, tangentInputs, op: op) }
        // Each output tangent is a graph variable, or does not depend on the tangents (a constant).
        let replay = Executable(recorder.finish(outputs: tangents).optimized())
        let linear = Function(name: "linearize(\(f.name))", inputCount: primals.count, outputCount: outputs.count) { tangents in
            var inputs: [Value] = []
            for index in differentiable {
                guard tangents[index].shape == primals[index].shape else {
                    throw SwiftFuncError.shape(op, "tangent \(index) has shape \(formatShape(tangents[index].shape)) but primal \(index) has shape \(formatShape(primals[index].shape))")
                }
                inputs.append(try Differentiation.cast(tangents[index], to: primals[index].dtype))
            }
            return try replay(inputs)
        }
        return (outputs, linear)
    }

    // MARK: vmap

    /// `f` mapped over the dims `inDims` of its inputs (nil: not mapped); outputs carry the batch at
    /// `outDims` (nil: the output must not depend on the mapped inputs). `chunkSize` > 0 runs the
    /// batch in pieces of at most that size.
    public static func vmap(_ f: Function, inDims: [Int?], outDims: [Int?], chunkSize: Int = 0,
                            randomness: Randomness = .error) throws -> Function {
        if let count = f.outputCount, outDims.count != count {
            throw SwiftFuncError.invalidArgument("vmap", "out_dims has \(outDims.count) entries but the function returns \(count) outputs")
        }
        return try vmap(f, inDims: inDims, chunkSize: chunkSize, randomness: randomness) { count in
            guard outDims.count == count else {
                throw SwiftFuncError.invalidArgument("vmap", "out_dims has \(outDims.count) entries but the function returned \(count) outputs")
            }
            return outDims
        }
    }

    /// vmap whose out dims are given once `f` has returned: `outDims(n)` gives the dims of its n
    /// outputs (JAX's out_axes matched against the output structure its trace produced). The
    /// same as vmap for a function whose output count is known in advance.
    public static func vmap(_ f: Function, inDims: [Int?], chunkSize: Int = 0, randomness: Randomness = .error,
                            outDims: @escaping (Int) throws -> [Int?]) throws -> Function {
        let op = "vmap"
        guard inDims.count == f.inputCount else {
            throw SwiftFuncError.invalidArgument(op, "in_dims has \(inDims.count) entries but the function takes \(f.inputCount) inputs")
        }
        guard chunkSize >= 0 else { throw SwiftFuncError.invalidArgument(op, "chunk_size must be >= 0, got \(chunkSize)") }
        return Function(name: "vmap(\(f.name))", inputCount: f.inputCount, outputCount: f.outputCount) { args in
            var dims: [Int?] = []
            var size: (Int, Int)?  // (input index, size)
            for (index, (arg, inDim)) in zip(args, inDims).enumerated() {
                guard let inDim else { dims.append(nil); continue }
                guard inDim >= -arg.rank && inDim < arg.rank else {
                    throw SwiftFuncError.invalidArgument(op, "in_dims[\(index)] = \(inDim) is out of range for input \(index) of rank \(arg.rank)")
                }
                let dim = inDim < 0 ? inDim + arg.rank : inDim
                dims.append(dim)
                if let (first, firstSize) = size, firstSize != arg.shape[dim] {
                    throw SwiftFuncError.shape(op, "mapped inputs have different batch sizes: input \(first) has size \(firstSize) and input \(index) has size \(arg.shape[dim])")
                }
                if size == nil { size = (index, arg.shape[dim]) }
            }
            guard let (_, batchSize) = size else {
                throw SwiftFuncError.invalidArgument(op, "at least one input must be mapped (every in_dims entry is SF_NOT_MAPPED)")
            }
            guard chunkSize > 0, chunkSize < batchSize else {
                return try mapOnce(f, args, dims: dims, outDims: outDims, batchSize: batchSize, randomness: randomness).values
            }
            var pieces: [[Value]] = []
            var resolved: [Int?] = []
            var start = 0
            while start < batchSize {
                let count = Swift.min(chunkSize, batchSize - start)
                let chunk = try zip(args, dims).map { arg, dim -> Value in
                    guard let dim else { return arg }
                    return try emit(.slice, [arg], .slice(dim: dim, start: start, count: count, step: 1))
                }
                let piece = try mapOnce(f, chunk, dims: dims, outDims: outDims, batchSize: count, randomness: randomness)
                if let previous = pieces.first, previous.count != piece.values.count {
                    throw SwiftFuncError.invalidArgument(op, "\(f.name) returned \(previous.count) outputs for one chunk and \(piece.values.count) for another")
                }
                pieces.append(piece.values)
                resolved = piece.dims
                start += count
            }
            return try resolved.enumerated().map { output, outDim in
                let parts = pieces.map { $0[output] }
                guard let outDim else { return parts[0] }
                let rank = parts[0].rank
                return try emit(.cat, parts, .dim(outDim < 0 ? outDim + rank : outDim))
            }
        }
    }

    /// One vmap of `f` over a batch: its outputs with the batch moved to their out dims, and those dims.
    private static func mapOnce(_ f: Function, _ args: [Value], dims: [Int?], outDims: (Int) throws -> [Int?], batchSize: Int,
                                randomness: Randomness) throws -> (values: [Value], dims: [Int?]) {
        let interpreter = BatchInterpreter(parent: Interpreter.current, batchSize: batchSize, randomness: randomness)
        defer { interpreter.finish() }
        let inputs = zip(args, dims).map { arg, dim -> Value in
            guard let dim else { return arg }
            return BatchTracer(owner: interpreter, value: arg, batchDim: dim)
        }
        let outputs = try Interpreter.with(interpreter) { try f(inputs) }
        let resolved = try outDims(outputs.count)
        let values = try outputs.enumerated().map { index, output in
            guard let outDim = resolved[index] else {
                if let tracer = output as? BatchTracer, tracer.owner === interpreter {
                    throw SwiftFuncError.invalidArgument("vmap", "out_dims[\(index)] is SF_NOT_MAPPED but output \(index) depends on the mapped inputs")
                }
                return output
            }
            let rank = output.rank + 1
            guard outDim >= -rank && outDim < rank else {
                throw SwiftFuncError.invalidArgument("vmap", "out_dims[\(index)] = \(outDim) is out of range for output \(index) of rank \(output.rank)")
            }
            return try interpreter.unwrap(output, outDim: outDim < 0 ? outDim + rank : outDim)
        }
        return (values, resolved)
    }

    // MARK: Jacobians and Hessians

    /// Jacobians by reverse mode: for each (non-aux) output i and each input j in `argnums`, in that
    /// order, a tensor of shape output_i.shape + input_j.shape; then the aux outputs.
    public static func jacrev(_ f: Function, argnums: [Int], hasAux: Bool, chunkSize: Int = 0) throws -> Function {
        let op = "jacrev"
        try validate(argnums: argnums, inputCount: f.inputCount, op: op)
        let outputCount = try jacobianOutputCount(f, argnums: argnums, hasAux: hasAux, op: op)
        return Function(name: "jacrev(\(f.name))", inputCount: f.inputCount, outputCount: outputCount) { args in
            let (outputs, pullback) = try vjp(f, args, wrt: argnums, op: op)
            let valueCount = outputs.count - (try auxiliaryCount(outputs.count, of: f, hasAux: hasAux, op: op, allowMany: true))
            var results: [Value] = []
            for i in 0..<valueCount {
                let output = outputs[i]
                let basis = try identityBasis(count: output.count, shape: output.shape, dtype: output.dtype.floatingPointPromoted)
                // One output's pullback, the others' cotangents being zero.
                let single = Function(name: "pullback", inputCount: 1, outputCount: argnums.count) { cotangent in
                    let cotangents = try outputs.indices.map { $0 == i ? cotangent[0] : try Differentiation.zeros(like: outputs[$0]) }
                    return try pullback(cotangents)
                }
                let mapped = try vmap(single, inDims: [0], outDims: Array(repeating: 0, count: argnums.count), chunkSize: chunkSize)
                for (j, jacobian) in try mapped([basis]).enumerated() {
                    results.append(try emit(.reshape, [jacobian], .shape(output.shape + args[argnums[j]].shape)))
                }
            }
            results.append(contentsOf: outputs[valueCount...])
            return results
        }
    }

    /// Jacobians by forward mode (vmap over jvp with basis tangents), in jacrev's output order.
    public static func jacfwd(_ f: Function, argnums: [Int], hasAux: Bool, randomness: Randomness = .error) throws -> Function {
        let op = "jacfwd"
        try validate(argnums: argnums, inputCount: f.inputCount, op: op)
        let outputCount = try jacobianOutputCount(f, argnums: argnums, hasAux: hasAux, op: op)
        /// How many of n outputs of f are values (the rest are aux).
        func valueCount(_ n: Int) throws -> Int { n - (try auxiliaryCount(n, of: f, hasAux: hasAux, op: op, allowMany: true)) }
        return Function(name: "jacfwd(\(f.name))", inputCount: f.inputCount, outputCount: outputCount) { args in
            for index in argnums where !args[index].dtype.isFloatingPoint {
                throw SwiftFuncError.dtype(op, "input \(index) has dtype \(args[index].dtype); only floating-point inputs can be differentiated")
            }
            if argnums.isEmpty {
                let outputs = try f(args)
                return Array(outputs[(try valueCount(outputs.count))...])
            }
            // One vmap over the basis of every differentiated input at once (as torch.func and
            // JAX do), so f runs once: row offsets[j] + k pushes e_k through input argnums[j].
            let inputs = argnums.map { args[$0] }
            var offsets: [Int] = []
            var total = 0
            for input in inputs {
                offsets.append(total)
                total += input.count
            }
            let bases = try inputs.enumerated().map { j, input in
                try identityBasis(count: input.count, shape: input.shape, dtype: input.dtype, rows: total, offset: offsets[j])
            }
            let pushforward = Function(name: "pushforward", inputCount: argnums.count, outputCount: f.outputCount) { basis in
                var tangents = [Value?](repeating: nil, count: args.count)
                for (j, index) in argnums.enumerated() { tangents[index] = basis[j] }
                let (outputs, outputTangents) = try jvp(f, args, tangents, op: op)
                let values = try valueCount(outputs.count)
                return Array(outputTangents[..<values]) + outputs[values...]
            }
            let mapped = try vmap(pushforward, inDims: Array(repeating: 0, count: argnums.count), randomness: randomness) { n in
                let values = try valueCount(n)
                return (0..<n).map { $0 < values ? Optional(0) : nil }
            }(bases)
            let values = try valueCount(mapped.count)
            var results: [Value] = []
            for i in 0..<values {
                let outputShape = Array(mapped[i].shape.dropFirst())
                for (j, input) in inputs.enumerated() {
                    let rows = try emit(.slice, [mapped[i]], .slice(dim: 0, start: offsets[j], count: input.count, step: 1))
                    let columns = try Batching.moveDim(rows, from: 0, to: rows.rank - 1)
                    results.append(try emit(.reshape, [columns], .shape(outputShape + input.shape)))
                }
            }
            return results + mapped[values...]
        }
    }

    /// Second derivatives: jacfwd(jacrev(f)) over `argnums`; for one output, entry (i, j) is
    /// d²f / d input_i d input_j with shape output.shape + input_i.shape + input_j.shape.
    public static func hessian(_ f: Function, argnums: [Int]) throws -> Function {
        let reverse = try jacrev(f, argnums: argnums, hasAux: false)
        let both = try jacfwd(reverse, argnums: argnums, hasAux: false)
        return Function(name: "hessian(\(f.name))", inputCount: f.inputCount, outputCount: both.outputCount) { try both($0) }
    }

    // MARK: Shared checks

    /// Basis vectors e_k reshaped to `[count] + shape`: the identity, one row per element. With
    /// `rows` and `offset`, a block of a larger identity: `rows` rows, row offset + k holding e_k.
    static func identityBasis(count: Int, shape: [Int], dtype: DType, rows: Int? = nil, offset: Int = 0) throws -> Value {
        let rowCount = rows ?? count
        // Row i holds its one at column i - offset: a zero fill and one diagonal, written directly.
        let identity = try Ops.eye(rowCount, count, offset: -offset, dtype: dtype)
        return try emit(.reshape, [identity], .shape([rowCount] + shape))
    }

    static func validate(argnums: [Int], inputCount: Int, op: String) throws {
        var seen = Set<Int>()
        for index in argnums {
            guard index >= 0 && index < inputCount else {
                throw SwiftFuncError.invalidArgument(op, "argnums entry \(index) is out of range for a function of \(inputCount) inputs")
            }
            guard seen.insert(index).inserted else {
                throw SwiftFuncError.invalidArgument(op, "argnums entry \(index) appears more than once")
            }
        }
    }

    /// How many of `count` outputs of `f` are aux outputs (checked when the count is known: when
    /// `f` is made, or when it returns for a function whose outputs are known at return).
    static func auxiliaryCount(_ count: Int, of f: Function, hasAux: Bool, op: String, allowMany: Bool = false) throws -> Int {
        if hasAux {
            guard count >= 2 else {
                throw SwiftFuncError.invalidArgument(op, "has_aux needs a function with at least 2 outputs (value, aux...), \(f.name) has \(count)")
            }
            return count - 1
        }
        guard allowMany || count == 1 else {
            throw SwiftFuncError.invalidArgument(op, "\(f.name) returns \(count) outputs; without has_aux it must return exactly 1")
        }
        return 0
    }

    /// jacrev's and jacfwd's output count: one Jacobian per (value output, argnum), then the aux.
    static func jacobianOutputCount(_ f: Function, argnums: [Int], hasAux: Bool, op: String) throws -> Int? {
        try f.outputCount.map { count in
            let aux = try auxiliaryCount(count, of: f, hasAux: hasAux, op: op, allowMany: true)
            return (count - aux) * argnums.count + aux
        }
    }
}
