/// Elementwise fusion: a run of elementwise equations of one result shape becomes one `.fused`
/// equation, a `FusedKernel` that walks the shape in cache-sized blocks and applies every member's
/// block kernel (`PrimitiveRules.block`, the eager kernel's per-element function) to small
/// registers, so no intermediate tensor is allocated and each block stays in L1. Only the values
/// used outside the group are written out.
extension Graph {
    /// Fuses runs of elementwise equations (see `FusedKernel`). Groups grow in program order: an
    /// elementwise equation joins the open group of its result shape that computes one of its
    /// arguments; a group closes as soon as an equation outside it reads one of its values (the
    /// fused equation runs where its last member was, so nothing may need its values earlier).
    /// A group of one equation stays a plain equation.
    public func fusingElementwise() -> Graph {
        let types = variableTypes
        func type(of atom: Atom) -> TensorType? { Self.type(of: atom, in: types) }

        var groupOf = [Int?](repeating: nil, count: variableCount)  // variable -> group computing it
        var members: [[Int]] = []  // group -> equation indices
        var shapes: [[Int]] = []
        var isOpen: [Bool] = []
        var kernels: [Int: BlockKernel] = [:]  // equation index -> its block kernel

        for (index, equation) in equations.enumerated() {
            let readGroups = Set(equation.arguments.compactMap { atom -> Int? in
                if case .variable(let variable) = atom { return groupOf[variable] }
                return nil
            })
            var joined: Int?
            if let kernel = blockKernel(equation, type(of:)) {
                kernels[index] = kernel
                let shape = equation.types[0].shape
                // Arguments computed inside the candidate group must have the dtype the kernel reads.
                let candidates = readGroups.filter { group in
                    isOpen[group] && shapes[group] == shape && zip(equation.arguments, kernel.operandTypes).allSatisfy { atom, dtype in
                        guard case .variable(let variable) = atom, groupOf[variable] == group else { return true }
                        return types[variable]?.dtype == dtype
                    }
                }
                // Open groups of this shape that it reads merge: nothing outside has read them, so
                // all can run where this equation is.
                if let first = candidates.min() {
                    joined = first
                    for other in candidates where other != first {
                        for member in members[other] { for variable in equations[member].outputs { groupOf[variable] = first } }
                        members[first] += members[other]
                        members[other] = []
                        isOpen[other] = false
                    }
                }
                if joined == nil {
                    joined = members.count
                    members.append([])
                    shapes.append(shape)
                    isOpen.append(true)
                }
            }
            // Any other group this equation reads from closes.
            for group in readGroups where group != joined { isOpen[group] = false }
            if let joined {
                members[joined].append(index)
                for variable in equation.outputs { groupOf[variable] = joined }
            }
        }
        // Graph outputs read from their groups at the end: nothing to close.

        var groupOfEquation = [Int?](repeating: nil, count: equations.count)
        for (group, indices) in members.enumerated() { for index in indices { groupOfEquation[index] = group } }
        var usedOutside = [Bool](repeating: false, count: variableCount)
        for (index, equation) in equations.enumerated() {
            for case .variable(let variable) in equation.arguments where groupOf[variable] != nil
                && groupOf[variable] != groupOfEquation[index] {
                usedOutside[variable] = true
            }
        }
        for case .variable(let variable) in outputs { usedOutside[variable] = true }

        var fusedAt: [Int: Equation] = [:]  // last member's index -> the fused equation
        var fusedMember = Set<Int>()
        for group in members.indices where members[group].count > 1 {
            members[group].sort()  // program order is a topological order
            let groupEquations = members[group].map { equations[$0] }
            let groupKernels = members[group].map { kernels[$0]! }
            let kernel = FusedKernel(shape: shapes[group], equations: groupEquations, kernels: groupKernels,
                                     isUsedOutside: { usedOutside[$0] })
            fusedAt[members[group].last!] = Equation(operation: .fused(kernel), arguments: kernel.arguments,
                                                     outputs: kernel.outputVariables, types: kernel.outputTypes)
            fusedMember.formUnion(members[group])
        }
        guard !fusedMember.isEmpty else { return self }
        var result = self
        result.equations = equations.indices.compactMap { index in
            if let fused = fusedAt[index] { return fused }
            return fusedMember.contains(index) ? nil : equations[index]
        }
        return result
    }

    /// The block kernel of an equation that can fuse: an elementwise primitive (it has a block
    /// rule) with one output that has elements, whose arguments all have types.
    private func blockKernel(_ equation: Equation, _ type: (Atom) -> TensorType?) -> BlockKernel? {
        guard case let .primitive(primitive, _) = equation.operation, equation.types.count == 1,
              equation.types[0].count > 0, let rule = Primitive.rules[primitive.rawValue].block else { return nil }
        let argumentTypes = equation.arguments.compactMap(type)
        guard argumentTypes.count == equation.arguments.count,
              let kernel = rule(argumentTypes, equation.types[0].dtype),
              kernel.operandTypes.count == equation.arguments.count else { return nil }
        return kernel
    }
}

/// A fused group of elementwise equations of one result shape, run as one loop over blocks of
/// `blockSize` elements. Each value of the group lives in a register (a block-sized buffer):
/// outside arguments are loaded into registers (read in place when contiguous and of the right
/// dtype; a single value is filled once; others are gathered through their broadcast strides and
/// converted), members write registers, and the group's outputs' registers are the output
/// tensors' memory itself. Registers of values whose last use has passed are reused.
public final class FusedKernel: @unchecked Sendable {
    /// Elements per block: registers of 8-byte elements take 4 KiB each, so a group's live
    /// registers stay in L1.
    static let blockSize = 512

    /// The result shape every member shares, and its element count.
    let shape: [Int]
    let count: Int
    /// The fused equation's arguments (values from outside the group) and outputs.
    let arguments: [Graph.Atom]
    let outputVariables: [Int]
    let outputTypes: [TensorType]

    /// A register: a dtype and where its block lives.
    struct Register {
        /// An outside argument (its position among the fused equation's arguments, and the scratch
        /// buffer it is filled or gathered into when not read in place), an output (its position),
        /// or a scratch buffer.
        enum Home { case argument(Int, scratch: Int), output(Int), scratch(Int) }
        let dtype: DType
        let home: Home
    }

    /// One member: its primitive (for the listing), kernel, operand registers and result register.
    struct Instruction {
        let primitive: Primitive
        let params: Params
        let kernel: BlockKernel
        let operands: [Int]
        let result: Int
        /// The member's own arguments, for replays through `emit`: an outside argument (by
        /// position, unconverted) or an earlier member's result (by register).
        let sources: [Source]
    }

    enum Source { case argument(Int), register(Int) }

    let registers: [Register]
    /// The registers by home, for the per-call setup (which then touches no enum payloads and
    /// builds no per-register arrays): (register, argument position, scratch buffer) for
    /// arguments, (register, scratch buffer) for scratch registers, (register, output position)
    /// for outputs.
    private let argumentRegisters: [(register: Int, position: Int, buffer: Int)]
    private let scratchRegisters: [(register: Int, buffer: Int)]
    private let outputRegisters: [(register: Int, position: Int)]
    let instructions: [Instruction]
    /// How many scratch buffers the registers share.
    let scratchCount: Int
    /// Variables of the members' results, for the listing (register -> variable, nil for loads).
    let registerVariables: [Int?]

    init(shape: [Int], equations: [Graph.Equation], kernels: [BlockKernel], isUsedOutside: (Int) -> Bool) {
        self.shape = shape
        count = shape.reduce(1, *)
        var arguments: [Graph.Atom] = []
        var registers: [Register] = []
        var registerVariables: [Int?] = []
        var registerOf: [Int: Int] = [:]  // member result variable -> register
        var argumentRegister: [String: Int] = [:]  // "argument index/dtype" -> register
        var outputVariables: [Int] = [], outputTypes: [TensorType] = []
        var instructions: [Instruction] = []
        var argumentRegisterCount = 0

        /// The position of an outside argument among the fused equation's arguments.
        func position(of atom: Graph.Atom) -> Int {
            if let found = arguments.firstIndex(where: { Self.same($0, atom) }) { return found }
            arguments.append(atom)
            return arguments.count - 1
        }
        /// An outside argument converted to `dtype`: one register per (argument, dtype).
        func load(_ atom: Graph.Atom, as dtype: DType) -> Int {
            let position = position(of: atom)
            let key = "\(position)/\(dtype)"
            if let register = argumentRegister[key] { return register }
            // Argument registers take scratch buffers 0..<count in creation order (members' follow).
            registers.append(Register(dtype: dtype, home: .argument(position, scratch: argumentRegisterCount)))
            argumentRegisterCount += 1
            registerVariables.append(nil)
            argumentRegister[key] = registers.count - 1
            return registers.count - 1
        }

        for (equation, kernel) in zip(equations, kernels) {
            guard case let .primitive(primitive, params) = equation.operation else { continue }
            let operands = zip(equation.arguments, kernel.operandTypes).map { atom, dtype -> Int in
                if case .variable(let variable) = atom, let register = registerOf[variable] { return register }
                return load(atom, as: dtype)
            }
            let sources = equation.arguments.map { atom -> Source in
                if case .variable(let variable) = atom, let register = registerOf[variable] { return .register(register) }
                return .argument(position(of: atom))
            }
            let variable = equation.outputs[0]
            let home: Register.Home
            if isUsedOutside(variable) {
                home = .output(outputVariables.count)
                outputVariables.append(variable)
                outputTypes.append(equation.types[0])
            } else {
                home = .scratch(-1)  // assigned below
            }
            registers.append(Register(dtype: equation.types[0].dtype, home: home))
            registerVariables.append(variable)
            registerOf[variable] = registers.count - 1
            instructions.append(Instruction(primitive: primitive, params: params, kernel: kernel,
                                            operands: operands, result: registers.count - 1, sources: sources))
        }

        // Scratch assignment by liveness: a member's scratch register is free after its last
        // reader; argument registers that need scratch (fills, gathers) keep theirs throughout.
        var lastUse = [Int](repeating: -1, count: registers.count)
        for (position, instruction) in instructions.enumerated() {
            for operand in instruction.operands { lastUse[operand] = position }
        }
        var free: [Int] = []
        var scratchCount = argumentRegisterCount
        func takeScratch() -> Int {
            if let slot = free.popLast() { return slot }
            scratchCount += 1
            return scratchCount - 1
        }
        var assigned = registers
        for (position, instruction) in instructions.enumerated() {
            let result = instruction.result
            if case .scratch = registers[result].home {
                assigned[result] = Register(dtype: registers[result].dtype, home: .scratch(takeScratch()))
            }
            // Operands read for the last time here free their scratch (after the result took one,
            // so a kernel never writes the buffer it reads: kernels are not assumed to be in-place safe).
            for operand in Set(instruction.operands) where lastUse[operand] == position {
                if case .scratch(let slot) = assigned[operand].home { free.append(slot) }
            }
        }
        self.arguments = arguments
        self.outputVariables = outputVariables
        self.outputTypes = outputTypes
        self.instructions = instructions
        self.registerVariables = registerVariables
        self.scratchCount = scratchCount
        self.registers = assigned
        var argumentRegisters: [(register: Int, position: Int, buffer: Int)] = [], scratchRegisters: [(register: Int, buffer: Int)] = []
        var outputRegisters: [(register: Int, position: Int)] = []
        for (index, register) in assigned.enumerated() {
            switch register.home {
            case .argument(let position, let buffer): argumentRegisters.append((index, position, buffer))
            case .output(let position): outputRegisters.append((index, position))
            case .scratch(let buffer): scratchRegisters.append((index, buffer))
            }
        }
        self.argumentRegisters = argumentRegisters
        self.scratchRegisters = scratchRegisters
        self.outputRegisters = outputRegisters
        code = instructions.flatMap { instruction in
            (instruction.operands + [0, 0, 0]).prefix(3) + [instruction.result]
        }
        // Unretained: `instructions` keeps every loop alive as long as the group.
        loops = instructions.map { Unmanaged.passUnretained($0.kernel.loop) }
    }

    /// The members flattened for the block loop: per member its operand registers (3, unused ones
    /// 0) and its result register; and its kernel's loop.
    private let code: [Int]
    private let loops: [Unmanaged<BlockLoop>]

    private static func same(_ a: Graph.Atom, _ b: Graph.Atom) -> Bool {
        switch (a, b) {
        case let (.variable(x), .variable(y)): return x == y
        case let (.constant(x), .constant(y)):
            if x === y { return true }
            // One-element constants of one type and value (the scalars rules make) are one argument.
            guard let x = x as? Tensor, let y = y as? Tensor, x.count == 1, y.count == 1, x.type == y.type else { return false }
            if x.dtype.isFloatingPoint {
                let a = try? x.dtype.dispatch(ReadFirstValue<Double>(tensor: x)), b = try? y.dtype.dispatch(ReadFirstValue<Double>(tensor: y))
                return a != nil && a?.bitPattern == b?.bitPattern
            }
            let a = try? x.dtype.dispatch(ReadFirstValue<Int64>(tensor: x)), b = try? y.dtype.dispatch(ReadFirstValue<Int64>(tensor: y))
            return a != nil && a == b
        default: return false
        }
    }

    /// How many equations the group replaced.
    public var memberCount: Int { instructions.count }

    /// Replays the members one by one through `emit` (under outer transforms, whose rules then
    /// apply to each); returns the group's outputs.
    func evaluateMembers(_ arguments: [Value]) throws -> [Value] {
        var values = [Value?](repeating: nil, count: registers.count)
        for instruction in instructions {
            let operands = instruction.sources.map { source -> Value in
                switch source {
                case .argument(let position): return arguments[position]
                case .register(let register): return values[register]!
                }
            }
            values[instruction.result] = try emit(instruction.primitive, operands, instruction.params)
        }
        return registers.indices.compactMap { index -> (Int, Value)? in
            guard case .output(let position) = registers[index].home else { return nil }
            return (position, values[index]!)
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Runs the group on concrete arguments; returns its outputs. Everything that can fail (dtype
    /// dispatch, addresses) is resolved here, before the block loop runs on the library's threads.
    func run(_ inputs: [Tensor]) throws -> [Tensor] {
        let outputs = try outputTypes.map { try Tensor(uninitialized: $0, op: "jit") }
        let outputBases = try outputs.map { try Self.address(of: $0) }
        // Per argument register (in `argumentRegisters` order): how it gets its values.
        var sources: [ArgumentSource] = []
        sources.reserveCapacity(argumentRegisters.count)
        for (index, position, _) in argumentRegisters {
            let register = registers[index]
            let tensor = inputs[position]
            if tensor.isUniform {
                sources.append(.fill(try register.dtype.dispatch(FillLoad(tensor: tensor))))
            } else if tensor.isContiguous && tensor.shape == shape && tensor.dtype == register.dtype {
                sources.append(.inPlace(try Self.address(of: tensor), register.dtype.itemSize))
            } else {
                let strides = ShapeChecks.broadcastStrides(shape: tensor.shape, strides: tensor.strides, to: shape)
                sources.append(.gather(try register.dtype.dispatch(GatherLoad(tensor: tensor, strides: strides, shape: shape))))
            }
        }
        let bytesPerSlot = Self.blockSize &* 8
        // Splitting pays only for large groups: each chunk fills its own scratch.
        Parallel.run(count, grain: max(Parallel.mathGrain &* 8, Self.blockSize)) { range in
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(1, scratchCount) &* bytesPerSlot, alignment: 64)
            defer { scratch.deallocate() }
            runBlocks(range, sources: sources, outputBases: outputBases, scratch: scratch, bytesPerSlot: bytesPerSlot)
        }
        return outputs
    }

    /// Writes `count` elements of a register, from fused position `start` on, at `target`.
    typealias Load = (_ target: UnsafeMutableRawPointer, _ start: Int, _ count: Int) -> Void

    /// How an argument register gets its values: read in place (the tensor's address and item
    /// size; the register moves with the block), filled once per chunk, or gathered per block.
    private enum ArgumentSource {
        case inPlace(UnsafeMutableRawPointer, Int)
        case fill(Load)
        case gather(Load)
    }

    /// Address of element [0, ...] of a tensor with elements (fused groups have no empty values).
    private static func address(of tensor: Tensor) throws -> UnsafeMutableRawPointer {
        guard let address = tensor.baseAddress else { throw SwiftFuncError.internal("jit", "a fused value has no elements") }
        return address
    }

    /// Runs the blocks of `range`. The per-block work is flat: registers whose address moves with
    /// the block (in-place arguments, gathers, outputs) are updated, then each member's kernel runs
    /// on operand addresses read from `code` (operand registers, 3 per member, then the result).
    private func runBlocks(_ range: Range<Int>, sources: [ArgumentSource], outputBases: [UnsafeMutableRawPointer],
                           scratch: UnsafeMutableRawPointer, bytesPerSlot: Int) {
        let pointers = UnsafeMutableBufferPointer<UnsafeMutableRawPointer>.allocate(capacity: registers.count + 3)
        defer { pointers.deallocate() }
        pointers.initialize(repeating: scratch)
        enum Moving { case address(Int, UnsafeMutableRawPointer, Int), gather(Int, UnsafeMutableRawPointer, Load) }
        var moving: [Moving] = []
        // Fills happen once per chunk; in-place, gathered and output registers move per block.
        moving.reserveCapacity(argumentRegisters.count + outputRegisters.count)
        for ((index, _, buffer), source) in zip(argumentRegisters, sources) {
            let slot = scratch + buffer &* bytesPerSlot
            pointers[index] = slot
            switch source {
            case let .fill(load): load(slot, range.lowerBound, min(Self.blockSize, range.count))
            case let .inPlace(base, size): moving.append(.address(index, base, size))
            case let .gather(load): moving.append(.gather(index, slot, load))
            }
        }
        for (index, position) in outputRegisters {
            moving.append(.address(index, outputBases[position], registers[index].dtype.itemSize))
        }
        for (index, buffer) in scratchRegisters {
            pointers[index] = scratch + buffer &* bytesPerSlot
        }
        let operands = pointers.baseAddress! + registers.count
        code.withUnsafeBufferPointer { code in
            loops.withUnsafeBufferPointer { loops in
                var start = range.lowerBound
                while start < range.upperBound {
                    let n = min(Self.blockSize, range.upperBound &- start)
                    for move in moving {
                        switch move {
                        case let .address(index, base, size): pointers[index] = base + start &* size
                        case let .gather(_, slot, load): load(slot, start, n)
                        }
                    }
                    var at = 0
                    for loop in loops {
                        operands[0] = pointers[code[at]]
                        operands[1] = pointers[code[at &+ 1]]
                        operands[2] = pointers[code[at &+ 2]]
                        let result = pointers[code[at &+ 3]]
                        loop._withUnsafeGuaranteedRef { $0.run(operands, result, n) }
                        at &+= 4
                    }
                    start &+= n
                }
            }
        }
    }

    /// The group's members as listing lines (`v5:float32[16] = sin v0`), indented under the fused equation.
    func listingLines(name: (Graph.Atom) -> String) -> [String] {
        func registerName(_ register: Int) -> String {
            if let variable = registerVariables[register] { return "v\(variable)" }
            if case .argument(let position, _) = registers[register].home { return name(arguments[position]) }
            return "r\(register)"
        }
        return instructions.map { instruction in
            let params = instruction.params == .none ? "" : "[\(instruction.params)]"
            let operands = instruction.operands.map(registerName).joined(separator: " ")
            let result = registerName(instruction.result)
            let type = TensorType(shape: shape, dtype: registers[instruction.result].dtype)
            return "\(result):\(type) = \(instruction.primitive.name)\(params) \(operands)"
        }
    }
}

/// The load of a one-value argument: its value converted to T, written `count` times.
private struct FillLoad: DTypeVisitor {
    let tensor: Tensor
    func visit<T: Element>(_: T.Type) throws -> FusedKernel.Load {
        let value = try tensor.dtype.dispatch(ReadFirstValue<T>(tensor: tensor))
        return { target, _, count in target.assumingMemoryBound(to: T.self).initialize(repeating: value, count: count) }
    }
}

/// The load of an argument read through its broadcast `strides` over the fused `shape`, converted
/// to the register's element type T (the source type is dispatched here, once per run).
private struct GatherLoad: DTypeVisitor {
    let tensor: Tensor, strides: [Int], shape: [Int]
    func visit<T: Element>(_: T.Type) throws -> FusedKernel.Load {
        try tensor.dtype.dispatch(GatherFrom<T>(tensor: tensor, strides: strides, shape: shape))
    }
}

private struct GatherFrom<T: Element>: DTypeVisitor {
    let tensor: Tensor, strides: [Int], shape: [Int]
    func visit<S: Element>(_: S.Type) -> FusedKernel.Load {
        let (tensor, strides, shape) = (tensor, strides, shape)
        return { target, start, count in
            GatherWalk<T>(target: target.assumingMemoryBound(to: T.self), tensor: tensor, strides: strides, shape: shape,
                          start: start, count: count).walk(S.self)
        }
    }
}

/// Reads positions start..<start+count (row-major over `shape`) of a tensor seen through
/// `strides` (its broadcast strides over that shape) into `target`, converting each element to T:
/// an odometer over the multi-index, one run along the innermost dim at a time.
private struct GatherWalk<T: Element> {
    let target: UnsafeMutablePointer<T>, tensor: Tensor, strides: [Int], shape: [Int], start: Int, count: Int

    func walk<S: Element>(_: S.Type) {
        let source = tensor.elements(as: S.self)
        let rank = shape.count
        guard rank > 0 else {
            for i in 0..<count { target[i] = T(convertingElement: source[0]) }
            return
        }
        var index = [Int](repeating: 0, count: rank)
        var rest = start, offset = 0
        for d in stride(from: rank - 1, through: 0, by: -1) {
            index[d] = rest % shape[d]
            rest /= shape[d]
            offset &+= index[d] &* strides[d]
        }
        let innerStride = strides[rank - 1], innerSize = shape[rank - 1]
        var i = 0
        while i < count {
            let run = Swift.min(count &- i, innerSize &- index[rank - 1])
            if innerStride == 0 {  // a broadcast row (a bias along W): one value
                (target + i).initialize(repeating: T(convertingElement: source[offset]), count: run)
            } else if innerStride == 1 && S.self == T.self {
                (target + i).withMemoryRebound(to: S.self, capacity: run) { $0.update(from: source + offset, count: run) }
            } else {
                for j in 0..<run { target[i &+ j] = T(convertingElement: source[offset &+ j &* innerStride]) }
            }
            i &+= run
            // Carry: the innermost index reached its end; step the next dims like an odometer.
            offset &+= run &* innerStride
            index[rank - 1] &+= run
            var d = rank - 1
            while d > 0 && index[d] == shape[d] {
                offset &-= index[d] &* strides[d]
                index[d] = 0
                d -= 1
                index[d] &+= 1
                offset &+= strides[d]
            }
        }
    }
}
