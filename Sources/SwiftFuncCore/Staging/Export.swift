/// Export: a function traced at example inputs, optimized, and serialized to bytes that
/// `Exported.function(from:)` turns back into a function with no Python and no host callbacks.
/// The layout is in docs/export.md. The graph is stored before fusion (only primitives, params and
/// constants); fusion is recomputed on import. Primitives are stored by name, never by raw value,
/// since the enum's order changes as primitives are added.
public enum Exported {
    /// "SFEXPORT": the first eight bytes of every file.
    static let magic: [UInt8] = Array("SFEXPORT".utf8)
    /// Format major version: a reader refuses another major version.
    public static let formatMajor: UInt16 = 1
    /// Format minor version: additions a reader of the same major version may ignore (none yet).
    public static let formatMinor: UInt16 = 0

    /// Limits on what a file may hold, so that a hostile file cannot make the reader allocate
    /// without bound before its sizes are checked against the bytes that are there.
    static let maxCount = 1 << 20
    /// The longest string (primitive names, the library version).
    static let maxNameLength = 256
    /// The most integers in one params array (shapes, dims, pads, strides).
    static let maxArrayLength = 64
    /// SF_MAX_ARITY: the most inputs or outputs a function may have.
    static let maxArity = 1 << 16

    // MARK: Export

    /// Traces `function` at `examples` (their types are the exported signature), optimizes the
    /// graph without fusing it, and serializes it with `metadata` (opaque bytes stored as they are).
    public static func serialize(_ function: Function, examples: [Value], metadata: [UInt8] = [],
                                 libraryVersion: String) throws -> [UInt8] {
        let op = "function_export"
        guard metadata.count <= maxCount * 16 else { throw SwiftFuncError.invalidArgument(op, "the metadata has \(metadata.count) bytes, too many") }
        let graph = try trace(function, examples: examples)
        return try encode(graph, metadata: metadata, libraryVersion: libraryVersion)
    }

    /// The cleaned-up (unfused) graph of `function` at the types of `examples`.
    static func trace(_ function: Function, examples: [Value]) throws -> Graph {
        guard examples.count == function.inputCount else {
            throw SwiftFuncError.invalidArgument("function_export", "\(function.name) takes \(function.inputCount) inputs, given \(examples.count)")
        }
        // Draws are recorded (not folded into constants) so that a function that draws is refused
        // rather than exported with one sample frozen in it.
        let stager = StagingInterpreter(below: Interpreter.current, inputTypes: examples.map(\.type), recordsRandomDraws: true)
        let outputs = try stager.run(function)
        let graph = stager.finish(outputs: outputs).cleanedUp()
        if stager.capturesTracers {
            throw SwiftFuncError.unsupported("function_export", "\(function.name) captures a traced value of an enclosing transform; export it outside transforms")
        }
        return graph
    }

    /// The bytes of `graph` (see docs/export.md).
    static func encode(_ graph: Graph, metadata: [UInt8], libraryVersion: String) throws -> [UInt8] {
        let op = "function_export"
        var writer = ByteWriter()
        writer.bytes(magic)
        writer.u16(formatMajor)
        writer.u16(formatMinor)
        writer.string(libraryVersion)
        writer.u32(UInt32(metadata.count))
        writer.bytes(metadata)

        // Constants are deduplicated by identity; variables renumbered densely: inputs first, then
        // each equation's one output in order, which is how the reader numbers them.
        var constantIndex: [ObjectIdentifier: Int] = [:]
        var constants: [Tensor] = []
        var renumbered: [Int: Int] = [:]
        for index in graph.inputTypes.indices { renumbered[index] = index }
        func atom(_ atom: Graph.Atom) throws -> (tag: UInt8, index: Int) {
            switch atom {
            case .variable(let variable):
                guard let number = renumbered[variable] else { throw SwiftFuncError.internal(op, "v\(variable) is used before it is defined") }
                return (0, number)
            case .constant(let value):
                guard let tensor = value as? Tensor else {
                    throw SwiftFuncError.unsupported(op, "the function captures a traced value of an enclosing transform")
                }
                if let index = constantIndex[ObjectIdentifier(tensor)] { return (1, index) }
                constantIndex[ObjectIdentifier(tensor)] = constants.count
                constants.append(tensor)
                return (1, constants.count - 1)
            }
        }
        var equations: [(Primitive, Params, [(UInt8, Int)], TensorType)] = []
        for equation in graph.equations {
            switch equation.operation {
            case let .primitive(primitive, params):
                if case .random = params {
                    throw SwiftFuncError.unsupported(op, "the function draws random numbers (\(primitive.name)); exported files hold no generator state")
                }
                let arguments = try equation.arguments.map(atom)
                renumbered[equation.outputs[0]] = graph.inputTypes.count + equations.count
                equations.append((primitive, params, arguments, equation.types[0]))
            case let .custom(custom, _):
                throw SwiftFuncError.unsupported(op, "the function calls the custom function \(custom.name), whose rules are host callbacks")
            case .fused:
                throw SwiftFuncError.internal(op, "the graph to export is fused")
            }
        }
        let outputs = try graph.outputs.map(atom)

        writer.u32(UInt32(graph.inputTypes.count))
        for type in graph.inputTypes { writer.type(type) }
        writer.u32(UInt32(constants.count))
        for tensor in constants {
            writer.type(tensor.type)
            let contiguous = try tensor.contiguous(op: op)
            let byteCount = contiguous.count &* contiguous.dtype.itemSize
            writer.u64(UInt64(byteCount))
            // Little-endian hosts only (the library's platforms): the bytes are the file's layout.
            if let base = contiguous.baseAddress {
                writer.bytes(UnsafeRawBufferPointer(start: base, count: byteCount))
            }
        }
        writer.u32(UInt32(equations.count))
        for (primitive, params, arguments, type) in equations {
            writer.string(primitive.exportName)
            writer.params(params)
            writer.u32(UInt32(arguments.count))
            for (tag, index) in arguments { writer.u8(tag); writer.u32(UInt32(index)) }
            writer.type(type)
        }
        writer.u32(UInt32(outputs.count))
        for (tag, index) in outputs { writer.u8(tag); writer.u32(UInt32(index)) }
        writer.u64(fnv1a64(writer.data[...]))
        return writer.data
    }

    // MARK: Import

    /// What a file holds: the graph (unfused), its metadata and the library version that wrote it.
    public struct Contents {
        public var graph: Graph
        public var metadata: [UInt8]
        public var libraryVersion: String
    }

    /// A function from exported bytes: it checks its inputs' types against the exported signature
    /// (SF_ERR_SHAPE otherwise) and replays the graph, fused, through an `Executable`, so it is an
    /// ordinary function under every transform.
    public static func function(from bytes: UnsafeRawBufferPointer) throws -> Function {
        let contents = try decode(bytes)
        let graph = contents.graph.fusingElementwise()
        let executable = Executable(graph)
        let signature = graph.inputTypes
        let name = "imported function"
        return Function(name: name, inputCount: signature.count, outputCount: graph.outputs.count) { inputs in
            for (index, (input, expected)) in zip(inputs, signature).enumerated()
            where input.shape != expected.shape || input.dtype != expected.dtype {
                throw SwiftFuncError.shape("call", "\(name) was exported for inputs ("
                    + signature.map(\.description).joined(separator: ", ") + "); input \(index) is \(input.type), expected \(expected)")
            }
            return try executable(inputs)
        }
    }

    /// Reads and checks a file. Everything is untrusted: every count, index and shape is checked
    /// against the bytes that remain and the limits above, and each equation's type is re-derived
    /// with its primitive's type rule. Errors are SF_ERR_INVALID_ARGUMENT naming the byte offset.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> Contents {
        var reader = ByteReader(bytes: bytes)
        guard bytes.count >= magic.count + 4 + 8 else { throw reader.failure("the data has \(bytes.count) bytes, too few for an exported function") }
        guard Array(bytes[0..<magic.count]) == magic else { throw reader.failure("the data does not start with SFEXPORT: not an exported function") }
        let stored = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self))
        let computed = fnv1a64(UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count - 8)]))
        reader.offset = magic.count
        let major = try reader.u16(), minor = try reader.u16()
        guard major == formatMajor else {
            throw reader.failure("format version \(major).\(minor) is not readable by this library (format \(formatMajor).\(formatMinor))")
        }
        guard stored == computed else { throw reader.failure("the checksum does not match: the data is truncated or corrupted", at: bytes.count - 8) }
        reader.end = bytes.count - 8
        let libraryVersion = try reader.string()
        let metadataCount = try reader.count("metadata bytes", limit: Int.max)
        let metadata = try reader.bytes(metadataCount)

        let inputCount = try reader.count("inputs", limit: maxArity)
        var graph = Graph(inputTypes: [])
        var types: [TensorType] = []
        for _ in 0..<inputCount { types.append(try reader.type()) }
        graph = Graph(inputTypes: types)

        let constantCount = try reader.count("constants", limit: maxCount)
        var constants: [Tensor] = []
        for index in 0..<constantCount {
            let start = reader.offset
            let type = try reader.type()
            let byteCount = try reader.u64()
            let expected = type.count &* type.dtype.itemSize  // validated by reader.type()
            guard byteCount == UInt64(expected) else {
                throw reader.failure("constant \(index) of type \(type) has \(byteCount) data bytes, expected \(expected)", at: start)
            }
            guard expected <= reader.remaining else {
                throw reader.failure("constant \(index) needs \(expected) bytes, only \(reader.remaining) remain")
            }
            let tensor = try Tensor(uninitialized: type, op: "function_import")
            if let base = tensor.baseAddress {
                base.copyMemory(from: bytes.baseAddress! + reader.offset, byteCount: expected)
            }
            reader.offset += expected
            constants.append(tensor)
        }

        var variableTypes = types
        func atom(_ what: String) throws -> Graph.Atom {
            let start = reader.offset
            let tag = try reader.u8()
            let index = Int(try reader.u32())
            switch tag {
            case 0:
                guard index < variableTypes.count else {
                    throw reader.failure("\(what) uses v\(index) before it is defined", at: start)
                }
                return .variable(index)
            case 1:
                guard index < constants.count else {
                    throw reader.failure("\(what) uses constant \(index) of \(constants.count)", at: start)
                }
                return .constant(constants[index])
            default:
                throw reader.failure("\(what) has an argument of unknown kind \(tag)", at: start)
            }
        }
        func type(of atom: Graph.Atom) -> TensorType {
            switch atom {
            case .variable(let variable): return variableTypes[variable]
            case .constant(let value): return value.type
            }
        }
        let equationCount = try reader.count("equations", limit: maxCount)
        for index in 0..<equationCount {
            let start = reader.offset
            let name = try reader.string()
            guard let primitive = primitivesByName[name] else {
                throw reader.failure("equation \(index) applies \"\(name)\", which is not a primitive of this library", at: start)
            }
            let params = try reader.params()
            if case .random = params {
                throw reader.failure("equation \(index) is a random draw, which exported files do not hold", at: start)
            }
            let argumentCount = try reader.count("arguments", limit: maxArity)  // cat may take many
            var arguments: [Graph.Atom] = []
            for _ in 0..<argumentCount { arguments.append(try atom("equation \(index) (\(name))")) }
            let storedType = try reader.type()
            let derived: TensorType
            do {
                derived = try Primitive.rules[primitive.rawValue].type(arguments.map(type(of:)), params)
                try ShapeChecks.validate(derived.shape, itemSize: derived.dtype.itemSize, op: name)
            } catch {
                let message = (error as? SwiftFuncError)?.message ?? "\(error)"
                throw reader.failure("equation \(index) (\(name)) is ill-typed: \(message)", at: start)
            }
            guard derived == storedType else {
                throw reader.failure("equation \(index) (\(name)) stores type \(storedType), its arguments give \(derived)", at: start)
            }
            let output = graph.newVariable()
            variableTypes.append(derived)
            graph.equations.append(Graph.Equation(operation: .primitive(primitive, params), arguments: arguments,
                                                  outputs: [output], types: [derived]))
        }
        let outputCount = try reader.count("outputs", limit: maxArity)
        guard outputCount >= 1 else { throw reader.failure("the function has no outputs") }
        for index in 0..<outputCount { graph.outputs.append(try atom("output \(index)")) }
        guard reader.offset == reader.end else {
            throw reader.failure("\(reader.end - reader.offset) unexpected bytes after the outputs")
        }
        return Contents(graph: graph, metadata: metadata, libraryVersion: libraryVersion)
    }

    /// Just the metadata of a file (checked as `decode` checks it).
    public static func metadata(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        try decode(bytes).metadata
    }

    /// Primitive names are the file's identifiers; two primitives with one name would make a
    /// file ambiguous, so the Swift case name is the key.
    static let primitivesByName: [String: Primitive] = {
        var table: [String: Primitive] = [:]
        for primitive in Primitive.allCases { table["\(primitive)"] = primitive }
        return table
    }()

    /// FNV-1a, 64 bits, over `bytes`: the file's checksum.
    static func fnv1a64<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}

extension Primitive {
    /// The name an exported file stores (the Swift case name, unique by construction).
    var exportName: String { "\(self)" }
}

/// Appends little-endian values to a byte array.
struct ByteWriter {
    var data: [UInt8] = []

    mutating func bytes<C: Collection>(_ bytes: C) where C.Element == UInt8 { data.append(contentsOf: bytes) }
    mutating func u8(_ value: UInt8) { data.append(value) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    mutating func int(_ value: Int) { u64(UInt64(bitPattern: Int64(value))) }
    mutating func double(_ value: Double) { u64(value.bitPattern) }
    mutating func bool(_ value: Bool) { u8(value ? 1 : 0) }
    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        u32(UInt32(utf8.count))
        bytes(utf8)
    }
    mutating func ints(_ values: [Int]) {
        u32(UInt32(values.count))
        for value in values { int(value) }
    }

    /// dtype, flags (bit 0: weak), rank, sizes.
    mutating func type(_ type: TensorType) {
        u8(UInt8(type.dtype.rawValue))
        u8(type.isWeak ? 1 : 0)
        u8(UInt8(type.rank))
        for size in type.shape { int(size) }
    }

    /// A tag byte naming the case, then its fields in declaration order.
    mutating func params(_ params: Params) {
        switch params {
        case .none: u8(0)
        case let .reduction(dims, keepdim): u8(1); ints(dims); bool(keepdim)
        case let .shape(shape): u8(2); ints(shape)
        case let .permutation(permutation): u8(3); ints(permutation)
        case let .slice(dim, start, count, step): u8(4); int(dim); int(start); int(count); int(step)
        case let .dims(dims): u8(5); ints(dims)
        case let .pad(before, after, value): u8(6); ints(before); ints(after); double(value)
        case let .dim(dim): u8(7); int(dim)
        case let .conv(stride, padding, dilation, groups): u8(8); ints(stride); ints(padding); ints(dilation); int(groups)
        case let .convTranspose(stride, padding, dilation, groups, outputPadding):
            u8(9); ints(stride); ints(padding); ints(dilation); int(groups); ints(outputPadding)
        case let .sort(dim, descending, count): u8(10); int(dim); bool(descending); int(count)
        case let .pool(kernel, stride, padding, dilation, ceilMode):
            u8(11); ints(kernel); ints(stride); ints(padding); ints(dilation); bool(ceilMode)
        case let .dtype(dtype): u8(12); u8(UInt8(dtype.rawValue))
        case let .fill(shape, value, dtype): u8(13); ints(shape); double(value); u8(UInt8(dtype.rawValue))
        case let .arange(start, step, count, dtype): u8(14); double(start); double(step); int(count); u8(UInt8(dtype.rawValue))
        case let .eye(rows, columns, offset, dtype): u8(15); int(rows); int(columns); int(offset); u8(UInt8(dtype.rawValue))
        case let .random(shape, dtype, key, counter): u8(16); ints(shape); u8(UInt8(dtype.rawValue)); u64(key); u64(counter)
        case let .triangular(upper, unit): u8(17); bool(upper); bool(unit)
        case let .svd(full): u8(18); bool(full)
        case let .qr(complete): u8(19); bool(complete)
        case let .luSolve(adjoint): u8(20); bool(adjoint)
        }
    }
}

/// Reads little-endian values from untrusted bytes; every read is bounds-checked and fails with
/// the byte offset where the problem is.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    var end: Int

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.end = bytes.count
    }

    var remaining: Int { end - offset }

    func failure(_ message: String, at position: Int? = nil) -> SwiftFuncError {
        SwiftFuncError.invalidArgument("function_import", "byte \(position ?? offset): \(message)")
    }

    private mutating func take(_ count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else {
            throw failure("the data ends early (\(count) bytes needed, \(remaining) remain)")
        }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    private mutating func little<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let raw = try take(MemoryLayout<T>.size)
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: raw) }
        return T(littleEndian: value)
    }

    mutating func u8() throws -> UInt8 { try little(UInt8.self) }
    mutating func u16() throws -> UInt16 { try little(UInt16.self) }
    mutating func u32() throws -> UInt32 { try little(UInt32.self) }
    mutating func u64() throws -> UInt64 { try little(UInt64.self) }

    mutating func bytes(_ count: Int) throws -> [UInt8] { Array(try take(count)) }

    /// A u32 count, at most `limit` and (each item taking at least a byte) at most what remains.
    mutating func count(_ what: String, limit: Int) throws -> Int {
        let start = offset
        let value = Int(try u32())
        guard value <= limit, value <= remaining else {
            throw failure("\(value) \(what) is more than the data can hold", at: start)
        }
        return value
    }

    /// An int64 that must fit a sane range (params and sizes are far below 2^53).
    mutating func int() throws -> Int {
        let start = offset
        let value = Int64(bitPattern: try u64())
        guard value.magnitude <= 1 << 53 else { throw failure("integer \(value) is out of range", at: start) }
        return Int(value)
    }

    mutating func double() throws -> Double { Double(bitPattern: try u64()) }

    mutating func bool() throws -> Bool {
        let start = offset
        switch try u8() {
        case 0: return false
        case 1: return true
        case let other: throw failure("\(other) is not a boolean", at: start)
        }
    }

    mutating func string() throws -> String {
        let start = offset
        let count = try self.count("string bytes", limit: Exported.maxNameLength)
        guard let string = String(validating: try take(count), as: UTF8.self) else { throw failure("a string is not UTF-8", at: start) }
        return string
    }

    mutating func ints() throws -> [Int] {
        let count = try self.count("integers", limit: Exported.maxArrayLength)
        return try (0..<count).map { _ in try int() }
    }

    mutating func dtype() throws -> DType {
        let start = offset
        let raw = try u8()
        guard let dtype = DType(rawValue: Int32(raw)) else { throw failure("\(raw) is not a dtype", at: start) }
        return dtype
    }

    /// A tensor type; its shape is validated (rank, sizes, byte count).
    mutating func type() throws -> TensorType {
        let start = offset
        let dtype = try self.dtype()
        let flags = try u8()
        guard flags <= 1 else { throw failure("unknown type flags \(flags)", at: start) }
        let rank = Int(try u8())
        guard rank <= ShapeChecks.maxRank else { throw failure("rank \(rank) exceeds the maximum of \(ShapeChecks.maxRank)", at: start) }
        let shape = try (0..<rank).map { _ in try int() }
        do {
            try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: "function_import")
        } catch let error as SwiftFuncError {
            throw failure("invalid shape: \(error.message)", at: start)
        }
        return TensorType(shape: shape, dtype: dtype, isWeak: flags == 1)
    }

    mutating func params() throws -> Params {
        let start = offset
        switch try u8() {
        case 0: return .none
        case 1: return .reduction(dims: try ints(), keepdim: try bool())
        case 2: return .shape(try ints())
        case 3: return .permutation(try ints())
        case 4: return .slice(dim: try int(), start: try int(), count: try int(), step: try int())
        case 5: return .dims(try ints())
        case 6: return .pad(before: try ints(), after: try ints(), value: try double())
        case 7: return .dim(try int())
        case 8: return .conv(stride: try ints(), padding: try ints(), dilation: try ints(), groups: try int())
        case 9: return .convTranspose(stride: try ints(), padding: try ints(), dilation: try ints(), groups: try int(), outputPadding: try ints())
        case 10: return .sort(dim: try int(), descending: try bool(), count: try int())
        case 11: return .pool(kernel: try ints(), stride: try ints(), padding: try ints(), dilation: try ints(), ceilMode: try bool())
        case 12: return .dtype(try dtype())
        case 13: return .fill(shape: try ints(), value: try double(), dtype: try dtype())
        case 14: return .arange(start: try double(), step: try double(), count: try int(), dtype: try dtype())
        case 15: return .eye(rows: try int(), columns: try int(), offset: try int(), dtype: try dtype())
        case 16: return .random(shape: try ints(), dtype: try dtype(), key: try u64(), counter: try u64())
        case 17: return .triangular(upper: try bool(), unit: try bool())
        case 18: return .svd(full: try bool())
        case 19: return .qr(complete: try bool())
        case 20: return .luSolve(adjoint: try bool())
        case let tag: throw failure("unknown params kind \(tag)", at: start)
        }
    }
}
