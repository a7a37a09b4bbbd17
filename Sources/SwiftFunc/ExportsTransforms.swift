// Exports of functions and transforms: host callbacks become `Function`s; transforms are the
// engine's (Transforms.swift). Only conversion and validation happen here.
import SwiftFuncCore

/// `sf_function *` on the Swift side.
public typealias FunctionHandle = OpaquePointer

/// `sf_callback`.
public typealias HostCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<TensorHandle?>?, Int,
                                                UnsafeMutablePointer<TensorHandle?>?, Int) -> Int32

/// `void (*)(void *)`, the user_data destructor.
public typealias HostFree = @convention(c) (UnsafeMutableRawPointer?) -> Void

/// User data handed to host callbacks: `free_user_data` runs with it exactly once, when the last
/// function, rule or tape node holding it dies.
final class HostUserData {
    let pointer: UnsafeMutableRawPointer?
    private let free: HostFree?

    init(_ pointer: UnsafeMutableRawPointer?, free: HostFree?) {
        self.pointer = pointer
        self.free = free
    }

    deinit { free?(pointer) }
}

extension Boundary {
    /// Calls an `sf_callback` with borrowed input handles and takes ownership of every output it
    /// stored, success or not, so nothing leaks. A failure becomes SF_ERR_CALLBACK with the message
    /// the host set; `who` names the callback in messages ("the callback", "custom function 'f':
    /// the VJP callback").
    static func callHost(_ callback: HostCallback, _ userData: HostUserData, _ inputs: [Value], outputCount: Int,
                         who: String) throws -> [Value] {
        let handles: [TensorHandle?] = inputs.map { TensorHandle(Unmanaged.passUnretained($0).toOpaque()) }
        var outputs = [TensorHandle?](repeating: nil, count: outputCount)
        LastError.set("")
        let status = withExtendedLifetime(inputs) {
            handles.withUnsafeBufferPointer { inputBuffer in
                outputs.withUnsafeMutableBufferPointer { outputBuffer in
                    callback(userData.pointer, inputBuffer.baseAddress, inputBuffer.count, outputBuffer.baseAddress, outputBuffer.count)
                }
            }
        }
        return try takeHostOutputs(outputs, status: status, who: who)
    }

    /// Owns the handles a host callback stored, then checks its status and that it set every output,
    /// none of them a traced value of a transform that has returned (one kept by the host from an
    /// earlier call: no interpreter would unwrap it, so it would leave sf_call as a dead handle).
    static func takeHostOutputs(_ outputs: [TensorHandle?], status: Int32, who: String) throws -> [Value] {
        let values = outputs.map { $0.map { Unmanaged<Value>.fromOpaque(UnsafeRawPointer($0)).takeRetainedValue() } }
        try check(status: status, who: who)
        return try values.enumerated().map { index, value in
            guard let value else {
                throw SwiftFuncError(.callback, "call", "\(who) returned \(status) but did not set output \(index)")
            }
            try checkNotEscaped(value, index: index, who: who)
            return value
        }
    }

    /// Refuses a host callback's output that is a traced value of a transform that has returned.
    static func checkNotEscaped(_ value: Value, index: Int, who: String) throws {
        guard !value.isEscapedTracer else {
            throw SwiftFuncError.transform("call", "\(who) returned as output \(index) a traced value of a transform that has already returned (an escaped tracer)")
        }
    }

    /// A host callback's status as an error: SF_ERR_CALLBACK carrying the message it set.
    static func check(status: Int32, who: String) throws {
        guard status == 0 else {
            let message = LastError.text
            throw SwiftFuncError(status: .callback, message: message.isEmpty
                ? "sf_call: \(who) returned \(status) without setting an error"
                : "sf_call: \(who) failed: \(message)")
        }
    }

    /// A host function's input count: at most maxArity (size_t counts past Int.max arrive negative).
    static func checkInputCount(_ count: Int, _ op: String) throws {
        guard (0...maxArity).contains(count) else {
            throw SwiftFuncError.invalidArgument(op, "n_inputs must be at most \(maxArity), got \(UInt(bitPattern: count))")
        }
    }

    /// vmap's in_dims or out_dims from the host: SF_NOT_MAPPED (INT64_MIN) becomes nil; NULL means
    /// 0 for every entry; `expected` entries (nil: the count is known only when f returns).
    static func mapDims(_ pointer: UnsafePointer<Int64>?, _ count: Int, _ expected: Int?, _ op: String, _ name: String) throws -> [Int?]? {
        guard let pointer else {
            guard count == 0 else { throw SwiftFuncError.invalidArgument(op, "\(name) is NULL but its count is \(count)") }
            return expected.map { Array(repeating: 0, count: $0) }
        }
        guard count >= 0, count <= maxArity else {
            throw SwiftFuncError.invalidArgument(op, "\(name) has \(UInt(bitPattern: count)) entries, too many")
        }
        if let expected, count != expected {
            throw SwiftFuncError.invalidArgument(op, "\(name) has \(count) entries but the function has \(expected)")
        }
        return (0..<count).map { pointer[$0] == Int64.min ? nil : Int(pointer[$0]) }
    }

    static func mapDims(_ pointer: UnsafePointer<Int64>?, _ count: Int, _ expected: Int, _ op: String, _ name: String) throws -> [Int?] {
        try mapDims(pointer, count, Optional(expected), op, name) ?? []
    }
}

extension Boundary {
    /// The Function behind a borrowed handle.
    static func function(_ handle: FunctionHandle?, _ name: String) throws -> Function {
        guard let handle else { throw SwiftFuncError.invalidArgument(name, "f is NULL") }
        return Unmanaged<Function>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// Runs `body` and stores the function it makes as a new handle in `out`.
    static func runFunction(_ name: String, _ out: UnsafeMutablePointer<FunctionHandle?>?, _ body: () throws -> Function) -> Int32 {
        guard let out else { return fail(SwiftFuncError.invalidArgument(name, "out is NULL")) }
        out.pointee = nil
        return run(name) { out.pointee = FunctionHandle(Unmanaged.passRetained(try body()).toOpaque()) }
    }

    /// argnums from the host: NULL/0 means {0}, as torch.func's default.
    static func argnums(_ pointer: UnsafePointer<Int32>?, _ count: Int, _ name: String) throws -> [Int] {
        guard count >= 0, count <= maxArity else {
            throw SwiftFuncError.invalidArgument(name, "n_argnums \(UInt(bitPattern: count)) is too large")
        }
        guard count > 0 else { return [0] }
        guard let pointer else { throw SwiftFuncError.invalidArgument(name, "argnums is NULL but n_argnums is \(count)") }
        return (0..<count).map { Int(pointer[$0]) }
    }

    /// A randomness mode from the host.
    static func randomness(_ raw: Int32, _ name: String) throws -> Randomness {
        guard let mode = Randomness(rawValue: raw) else { throw SwiftFuncError.invalidArgument(name, "\(raw) is not an sf_randomness") }
        return mode
    }

    /// Sets `count` entries of a host output array to NULL (nothing when the array is NULL).
    static func clear(_ outputs: UnsafeMutablePointer<TensorHandle?>?, count: Int) {
        // No function has more outputs than maxArity: a larger count is an error reported later,
        // and writing that many entries could run past any array the host has.
        guard let outputs, count > 0, count <= maxArity else { return }
        for i in 0..<count { outputs[i] = nil }
    }

    /// Checks an output array and count, then stores `values` as new handles (NULLing it first so
    /// that a failure leaves only NULLs).
    static func store(_ values: () throws -> [Value], into outputs: UnsafeMutablePointer<TensorHandle?>?, count: Int,
                      _ name: String, _ argument: String = "outputs") throws {
        guard count == 0 || outputs != nil else { throw SwiftFuncError.invalidArgument(name, "\(argument) is NULL") }
        clear(outputs, count: count)
        let results = try values()
        guard results.count == count else {
            throw SwiftFuncError.invalidArgument(name, "\(argument) has room for \(count) tensors but the function returns \(results.count)")
        }
        for (i, value) in results.enumerated() { outputs?[i] = handle(value) }
    }
}

@_cdecl("sf_function_new")
public func sf_function_new(_ callback: HostCallback?, _ userData: UnsafeMutableRawPointer?, _ freeUserData: HostFree?,
                            _ nInputs: Int, _ nOutputs: Int, _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    out?.pointee = nil
    guard let callback else {
        freeUserData?(userData)
        return Boundary.fail(SwiftFuncError.invalidArgument("function_new", "callback is NULL"))
    }
    let data = HostUserData(userData, free: freeUserData)
    return Boundary.runFunction("function_new", out) {
        // size_t counts past Int.max arrive negative: range checks catch them.
        try Boundary.checkInputCount(nInputs, "function_new")
        guard (1...Boundary.maxArity).contains(nOutputs) else {
            throw SwiftFuncError.invalidArgument("function_new", "n_outputs must be between 1 and \(Boundary.maxArity), got \(UInt(bitPattern: nOutputs))")
        }
        return Function(name: "callback", inputCount: nInputs, outputCount: nOutputs) { inputs in
            try Boundary.callHost(callback, data, inputs, outputCount: nOutputs, who: "the callback")
        }
    }
}

@_cdecl("sf_function_retain")
public func sf_function_retain(_ f: FunctionHandle?) {
    guard let f else { return }
    _ = Unmanaged<Function>.fromOpaque(UnsafeRawPointer(f)).retain()
}

@_cdecl("sf_function_release")
public func sf_function_release(_ f: FunctionHandle?) {
    guard let f else { return }
    Unmanaged<Function>.fromOpaque(UnsafeRawPointer(f)).release()
}

@_cdecl("sf_function_arity")
public func sf_function_arity(_ f: FunctionHandle?, _ nInputs: UnsafeMutablePointer<Int>?, _ nOutputs: UnsafeMutablePointer<Int>?) -> Int32 {
    Boundary.run("function_arity") {
        let function = try Boundary.function(f, "function_arity")
        nInputs?.pointee = function.inputCount
        nOutputs?.pointee = function.outputCount ?? Int(bitPattern: UInt.max)  // SF_OUTPUTS_AT_RETURN
    }
}

@_cdecl("sf_call")
public func sf_call(_ f: FunctionHandle?, _ inputs: UnsafePointer<TensorHandle?>?, _ nInputs: Int,
                    _ outputs: UnsafeMutablePointer<TensorHandle?>?, _ nOutputs: Int) -> Int32 {
    Boundary.run("call") {
        try Boundary.store({
            let function = try Boundary.function(f, "call")
            guard nInputs == function.inputCount, function.outputCount.map({ $0 == nOutputs }) ?? true else {
                throw SwiftFuncError.invalidArgument("call", "\(function.name) takes \(function.inputCount) inputs and returns \(function.outputsDescription), called with \(nInputs) and \(nOutputs)")
            }
            return try function(Boundary.values(inputs, nInputs, "call", "inputs"))
        }, into: outputs, count: nOutputs, "call")
    }
}

@_cdecl("sf_grad")
public func sf_grad(_ f: FunctionHandle?, _ argnums: UnsafePointer<Int32>?, _ nArgnums: Int, _ hasAux: Bool,
                    _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.runFunction("grad", out) {
        try Transforms.grad(Boundary.function(f, "grad"), argnums: Boundary.argnums(argnums, nArgnums, "grad"), hasAux: hasAux)
    }
}

@_cdecl("sf_grad_and_value")
public func sf_grad_and_value(_ f: FunctionHandle?, _ argnums: UnsafePointer<Int32>?, _ nArgnums: Int, _ hasAux: Bool,
                              _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.runFunction("grad_and_value", out) {
        try Transforms.grad(Boundary.function(f, "grad_and_value"), argnums: Boundary.argnums(argnums, nArgnums, "grad_and_value"),
                            hasAux: hasAux, withValue: true)
    }
}

extension Boundary {
    /// The function behind `f`, checked to take `n` inputs and return `nOut` outputs (when its
    /// count is known in advance; else the count it returns is checked when it is stored).
    static func function(_ f: FunctionHandle?, _ name: String, inputs n: Int, outputs nOut: Int) throws -> Function {
        let function = try Boundary.function(f, name)
        guard n == function.inputCount, function.outputCount.map({ $0 == nOut }) ?? true else {
            throw SwiftFuncError.invalidArgument(name, "\(function.name) takes \(function.inputCount) inputs and returns \(function.outputsDescription), got n = \(n) and n_out = \(nOut)")
        }
        return function
    }

    /// What sf_vjp and sf_linearize do: evaluate f at the primals now and make a function (the
    /// pullback, or the linear map).
    typealias EvaluateAndMake = (Function, [Value]) throws -> (outputs: [Value], function: Function)

    /// sf_vjp and sf_vjp_list: the outputs and the pullback.
    static func pullback(_ function: Function, _ primals: [Value]) throws -> (outputs: [Value], function: Function) {
        let result = try Transforms.vjp(function, primals)
        return (result.outputs, result.pullback)
    }

    /// sf_linearize and sf_linearize_list: the outputs and the linear map.
    static func linearMap(_ function: Function, _ primals: [Value]) throws -> (outputs: [Value], function: Function) {
        let result = try Transforms.linearize(function, primals)
        return (result.outputs, result.jvp)
    }

    /// sf_vjp and sf_linearize: evaluate `f` at the primals now, store its outputs, and hand out
    /// the function the transform made.
    static func evaluateAndMake(_ name: String, _ f: FunctionHandle?, _ primals: UnsafePointer<TensorHandle?>?, _ n: Int,
                                _ outputs: UnsafeMutablePointer<TensorHandle?>?, _ nOut: Int,
                                _ made: UnsafeMutablePointer<FunctionHandle?>?, _ madeName: String,
                                _ transform: EvaluateAndMake) -> Int32 {
        clear(outputs, count: nOut)
        guard let made else { return fail(SwiftFuncError.invalidArgument(name, "\(madeName) is NULL")) }
        made.pointee = nil
        return run(name) {
            var result: Function?
            try store({
                let function = try Boundary.function(f, name, inputs: n, outputs: nOut)
                let evaluated = try transform(function, values(primals, n, name, "primals"))
                result = evaluated.function
                return evaluated.outputs
            }, into: outputs, count: nOut, name)
            if let result { made.pointee = FunctionHandle(Unmanaged.passRetained(result).toOpaque()) }
        }
    }

    /// sf_vjp_list and sf_linearize_list: the same, appending the outputs to a host list.
    static func evaluateAndMake(_ name: String, _ f: FunctionHandle?, _ primals: UnsafePointer<TensorHandle?>?, _ n: Int,
                                _ outputs: TensorListHandle?, _ made: UnsafeMutablePointer<FunctionHandle?>?, _ madeName: String,
                                _ transform: EvaluateAndMake) -> Int32 {
        guard let made else { return fail(SwiftFuncError.invalidArgument(name, "\(madeName) is NULL")) }
        made.pointee = nil
        return run(name) {
            let function = try Boundary.function(f, name)
            let list = try Boundary.list(outputs, name, "outputs")
            guard n == function.inputCount else {
                throw SwiftFuncError.invalidArgument(name, "\(function.name) takes \(function.inputCount) inputs, got n = \(n)")
            }
            let evaluated = try transform(function, values(primals, n, name, "primals"))
            append(evaluated.outputs, to: list)
            made.pointee = FunctionHandle(Unmanaged.passRetained(evaluated.function).toOpaque())
        }
    }
}

@_cdecl("sf_vjp")
public func sf_vjp(_ f: FunctionHandle?, _ primals: UnsafePointer<TensorHandle?>?, _ n: Int,
                   _ outputs: UnsafeMutablePointer<TensorHandle?>?, _ nOut: Int, _ vjpFunction: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.evaluateAndMake("vjp", f, primals, n, outputs, nOut, vjpFunction, "vjp_fn", Boundary.pullback)
}

@_cdecl("sf_jvp")
public func sf_jvp(_ f: FunctionHandle?, _ primals: UnsafePointer<TensorHandle?>?, _ tangents: UnsafePointer<TensorHandle?>?, _ n: Int,
                   _ outputs: UnsafeMutablePointer<TensorHandle?>?, _ tangentsOut: UnsafeMutablePointer<TensorHandle?>?, _ nOut: Int) -> Int32 {
    Boundary.clear(tangentsOut, count: nOut)
    return Boundary.run("jvp") {
        var outputTangents: [Value] = []
        try Boundary.store({
            guard nOut == 0 || tangentsOut != nil else { throw SwiftFuncError.invalidArgument("jvp", "tangents_out is NULL") }
            let function = try Boundary.function(f, "jvp", inputs: n, outputs: nOut)
            let result = try Transforms.jvp(function, Boundary.values(primals, n, "jvp", "primals"),
                                            Boundary.values(tangents, n, "jvp", "tangents").map { Optional($0) })
            outputTangents = result.tangents
            return result.outputs
        }, into: outputs, count: nOut, "jvp")
        for (i, tangent) in outputTangents.enumerated() { tangentsOut?[i] = Boundary.handle(tangent) }
    }
}

@_cdecl("sf_linearize")
public func sf_linearize(_ f: FunctionHandle?, _ primals: UnsafePointer<TensorHandle?>?, _ n: Int,
                         _ outputs: UnsafeMutablePointer<TensorHandle?>?, _ nOut: Int, _ jvpFunction: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.evaluateAndMake("linearize", f, primals, n, outputs, nOut, jvpFunction, "jvp_fn", Boundary.linearMap)
}

@_cdecl("sf_jacrev")
public func sf_jacrev(_ f: FunctionHandle?, _ argnums: UnsafePointer<Int32>?, _ nArgnums: Int, _ hasAux: Bool, _ chunkSize: Int64,
                      _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.runFunction("jacrev", out) {
        guard chunkSize >= 0 else { throw SwiftFuncError.invalidArgument("jacrev", "chunk_size must be >= 0, got \(chunkSize)") }
        return try Transforms.jacrev(Boundary.function(f, "jacrev"), argnums: Boundary.argnums(argnums, nArgnums, "jacrev"),
                                     hasAux: hasAux, chunkSize: Int(chunkSize))
    }
}

@_cdecl("sf_jacfwd")
public func sf_jacfwd(_ f: FunctionHandle?, _ argnums: UnsafePointer<Int32>?, _ nArgnums: Int, _ hasAux: Bool, _ randomness: Int32,
                      _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.runFunction("jacfwd", out) {
        try Transforms.jacfwd(Boundary.function(f, "jacfwd"), argnums: Boundary.argnums(argnums, nArgnums, "jacfwd"),
                              hasAux: hasAux, randomness: Boundary.randomness(randomness, "jacfwd"))
    }
}

@_cdecl("sf_hessian")
public func sf_hessian(_ f: FunctionHandle?, _ argnums: UnsafePointer<Int32>?, _ nArgnums: Int,
                       _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.runFunction("hessian", out) {
        try Transforms.hessian(Boundary.function(f, "hessian"), argnums: Boundary.argnums(argnums, nArgnums, "hessian"))
    }
}

@_cdecl("sf_vmap")
public func sf_vmap(_ f: FunctionHandle?, _ inDims: UnsafePointer<Int64>?, _ nIn: Int, _ outDims: UnsafePointer<Int64>?, _ nOut: Int,
                    _ chunkSize: Int64, _ randomness: Int32, _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.runFunction("vmap", out) {
        let function = try Boundary.function(f, "vmap")
        guard chunkSize >= 0 else { throw SwiftFuncError.invalidArgument("vmap", "chunk_size must be >= 0, got \(chunkSize)") }
        let inDims = try Boundary.mapDims(inDims, nIn, function.inputCount, "vmap", "in_dims")
        let mode = try Boundary.randomness(randomness, "vmap")
        if let outDims = try Boundary.mapDims(outDims, nOut, function.outputCount, "vmap", "out_dims") {
            return try Transforms.vmap(function, inDims: inDims, outDims: outDims, chunkSize: Int(chunkSize), randomness: mode)
        }
        // Outputs known at return and out_dims NULL: 0 for each of them.
        return try Transforms.vmap(function, inDims: inDims, chunkSize: Int(chunkSize), randomness: mode) {
            Array(repeating: 0, count: $0)
        }
    }
}

@_cdecl("sf_vmap_fallback_count")
public func sf_vmap_fallback_count(_ out: UnsafeMutablePointer<UInt64>?) -> Int32 {
    Boundary.run("vmap_fallback_count") {
        guard let out else { throw SwiftFuncError.invalidArgument("vmap_fallback_count", "out_count is NULL") }
        out.pointee = BatchingStatistics.fallbackCount
    }
}
