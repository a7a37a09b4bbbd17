/// A value under reverse-mode differentiation: a primal and its slot on the owner's tape.
final class GradTracer: Tracer, @unchecked Sendable {
    let primal: Value
    let slot: Int

    init(owner: GradInterpreter, primal: Value, slot: Int) {
        self.primal = primal
        self.slot = slot
        super.init(owner: owner, type: primal.type)
    }

    override var readableValue: Value? { primal }
}

/// Reverse mode with a tape. The forward pass computes primals with the parent current and
/// records one node per op that touches a tracked value; the backward pass runs each primitive's
/// VJP rule with `emit`, under whatever interpreter is current when it runs — so the backward pass
/// is itself differentiable (grad of grad) and batchable (vmap of a pullback, as jacrev does).
final class GradInterpreter: TracingInterpreter, @unchecked Sendable {
    /// One recorded op: enough to run its VJP rule later. A primitive has one output and runs its
    /// table rule; a custom function (CustomFunction.swift) has several output slots and a pullback
    /// closure from their cotangents (nil: zero) to its inputs' cotangents (nil: zero).
    enum Node {
        case primitive(Primitive, primals: [Value], inputSlots: [Int?], output: Value, params: Params, outputSlot: Int)
        case custom(inputSlots: [Int?], outputSlots: [Int?], pullback: ([Value?]) throws -> [Value?])
    }

    private(set) var nodes: [Node] = []
    private(set) var slotCount = 0

    /// Appends a node to the tape (custom functions record theirs through this).
    func record(_ node: Node) { nodes.append(node) }

    /// A tracked input: a new slot holding `primal`.
    func makeInput(_ primal: Value) -> GradTracer {
        defer { slotCount += 1 }
        return GradTracer(owner: self, primal: primal, slot: slotCount)
    }

    override func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        let split = try self.split(args, op: primitive.name, GradTracer.self) { ($0.primal, $0.slot) }
        let (primals, slots, tracked) = (split.values, split.info, split.hasTracer)
        let output = try Interpreter.with(below) { try emit(primitive, primals, params) }
        // Integer and bool results are not differentiable: nothing to record.
        guard tracked, output.dtype.isFloatingPoint else { return output }
        let rules = Primitive.rules[primitive.rawValue]
        guard rules.vjp != nil else {
            throw SwiftFuncError.unsupported(rules.name, "has no reverse-mode (VJP) rule")
        }
        let tracer = makeInput(output)
        nodes.append(.primitive(primitive, primals: primals, inputSlots: slots, output: output,
                                params: params, outputSlot: tracer.slot))
        return tracer
    }

    override func processCustom(_ custom: CustomFunction, _ args: [Value]) throws -> CustomFunction.Results {
        try processCustomGrad(custom, args)
    }

    /// The slot of a function output, or nil when the output does not depend on the inputs.
    func slot(of value: Value) -> Int? {
        if let tracer = value as? GradTracer, tracer.owner === self { return tracer.slot }
        return nil
    }

    /// The primal behind a value of this interpreter (other values are returned as they are).
    func primal(of value: Value) -> Value {
        if let tracer = value as? GradTracer, tracer.owner === self { return tracer.primal }
        return value
    }

    /// Runs the tape backwards from `seeds` (slot, cotangent) under the current interpreter and
    /// returns the cotangent of each slot in `wanted` (nil: no path from the seeds, i.e. zero).
    func backward(seeds: [(slot: Int, cotangent: Value)], wanted: [Int]) throws -> [Value?] {
        var cotangents = [Value?](repeating: nil, count: slotCount)
        for seed in seeds {
            cotangents[seed.slot] = try accumulate(cotangents[seed.slot], seed.cotangent)
        }
        for node in nodes.reversed() {
            let inputSlots: [Int?]
            let inputCotangents: [Value?]
            switch node {
            case let .primitive(primitive, primals, slots, output, params, outputSlot):
                guard let cotangent = cotangents[outputSlot] else { continue }
                // Nothing reads an op's output cotangent after its own rule ran; dropping it frees memory early.
                if !wanted.contains(outputSlot) { cotangents[outputSlot] = nil }
                guard let rule = Primitive.rules[primitive.rawValue].vjp else {
                    throw SwiftFuncError.internal(primitive.name, "recorded without a VJP rule")
                }
                inputSlots = slots
                inputCotangents = try rule(cotangent, primals, output, params, slots.map { $0 != nil })
                // A rule's cotangent has its primal's shape; a wrong one would otherwise broadcast
                // into the sum below and give a wrong gradient without a word (as JAX checks).
                for (index, contribution) in inputCotangents.enumerated() where index < primals.count {
                    guard let contribution, slots[index] != nil, contribution.shape != primals[index].shape else { continue }
                    throw SwiftFuncError.internal(primitive.name, "its VJP rule gave operand \(index) a cotangent of shape "
                        + "\(formatShape(contribution.shape)) for a primal of shape \(formatShape(primals[index].shape))")
                }
            case let .custom(slots, outputSlots, pullback):
                let outputCotangents = outputSlots.map { slot in slot.flatMap { cotangents[$0] } }
                guard outputCotangents.contains(where: { $0 != nil }) else { continue }
                for case let slot? in outputSlots where !wanted.contains(slot) { cotangents[slot] = nil }
                inputSlots = slots
                inputCotangents = try pullback(outputCotangents)
            }
            for (index, slot) in inputSlots.enumerated() {
                guard let slot, index < inputCotangents.count, let contribution = inputCotangents[index] else { continue }
                cotangents[slot] = try accumulate(cotangents[slot], contribution)
            }
        }
        return wanted.map { cotangents[$0] }
    }

    private func accumulate(_ existing: Value?, _ contribution: Value) throws -> Value {
        guard let existing else { return contribution }
        return try emit(.add, [existing, contribution])
    }
}
