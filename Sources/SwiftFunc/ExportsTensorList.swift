// Exports of sf_tensor_list and of functions whose output count is known when they return: the
// host callback appends to a list; list forms of sf_call, sf_vjp, sf_jvp and sf_linearize append
// the outputs; sf_vmap_at_return asks the host for out_dims once the outputs are known.
import SwiftFuncCore

/// `sf_tensor_list *` on the Swift side.
public typealias TensorListHandle = OpaquePointer

/// An `sf_tensor_list`: values, each with the batch dim a custom batching rule reports (nil: not
/// mapped; plain appends give 0).
final class TensorList {
    var values: [Value] = []
    var dims: [Int64?] = []

    func append(_ value: Value, dim: Int64? = 0) {
        values.append(value)
        dims.append(dim)
    }
}

/// `sf_list_callback`.
public typealias ListCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<TensorHandle?>?, Int, TensorListHandle?) -> Int32

/// `sf_out_dims_callback`.
public typealias OutDimsCallback = @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeMutablePointer<Int64>?) -> Int32

extension Boundary {
    /// The list behind a borrowed handle.
    static func list(_ handle: TensorListHandle?, _ function: String, _ argument: String = "list") throws -> TensorList {
        guard let handle else { throw SwiftFuncError.invalidArgument(function, "\(argument) is NULL") }
        return Unmanaged<TensorList>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// A list handle borrowed for the duration of `body` (the host must not free it).
    static func withLists<R>(_ count: Int, _ body: ([TensorList], [TensorListHandle]) throws -> R) rethrows -> R {
        let lists = (0..<count).map { _ in TensorList() }
        return try withExtendedLifetime(lists) {
            try body(lists, lists.map { TensorListHandle(Unmanaged.passUnretained($0).toOpaque()) })
        }
    }

    /// Calls a host function that reports its outputs in lists (`listCount` of them: outputs, or
    /// outputs and residuals); a failure becomes SF_ERR_CALLBACK with the host's message.
    static func callHostLists(_ userData: HostUserData, _ inputs: [Value], listCount: Int, who: String,
                              _ call: (UnsafeMutableRawPointer?, UnsafePointer<TensorHandle?>?, Int, [TensorListHandle]) -> Int32) throws -> [TensorList] {
        let handles: [TensorHandle?] = inputs.map { TensorHandle(Unmanaged.passUnretained($0).toOpaque()) }
        LastError.set("")
        let (status, lists) = withExtendedLifetime(inputs) {
            withLists(listCount) { lists, listHandles in
                (handles.withUnsafeBufferPointer { call(userData.pointer, $0.baseAddress, $0.count, listHandles) }, lists)
            }
        }
        try check(status: status, who: who)
        for list in lists where list.values.count > maxArity {
            throw SwiftFuncError(.callback, "call", "\(who) returned \(list.values.count) tensors, more than \(maxArity)")
        }
        for (index, value) in lists.flatMap(\.values).enumerated() { try checkNotEscaped(value, index: index, who: who) }
        return lists
    }

    /// Appends `values` to the host's list (all or nothing: they are computed before this runs).
    static func append(_ values: [Value], to list: TensorList) {
        for value in values { list.append(value) }
    }
}

@_cdecl("sf_tensor_list_new")
public func sf_tensor_list_new(_ out: UnsafeMutablePointer<TensorListHandle?>?) -> Int32 {
    Boundary.run("tensor_list_new") {
        guard let out else { throw SwiftFuncError.invalidArgument("tensor_list_new", "out is NULL") }
        out.pointee = TensorListHandle(Unmanaged.passRetained(TensorList()).toOpaque())
    }
}

@_cdecl("sf_tensor_list_free")
public func sf_tensor_list_free(_ list: TensorListHandle?) {
    guard let list else { return }
    Unmanaged<TensorList>.fromOpaque(UnsafeRawPointer(list)).release()
}

@_cdecl("sf_tensor_list_append")
public func sf_tensor_list_append(_ list: TensorListHandle?, _ t: TensorHandle?) -> Int32 {
    Boundary.run("tensor_list_append") {
        try Boundary.list(list, "tensor_list_append").append(Boundary.value(t, "tensor_list_append", "t"))
    }
}

@_cdecl("sf_tensor_list_append_mapped")
public func sf_tensor_list_append_mapped(_ list: TensorListHandle?, _ t: TensorHandle?, _ dim: Int64) -> Int32 {
    Boundary.run("tensor_list_append_mapped") {
        let target = try Boundary.list(list, "tensor_list_append_mapped")
        target.append(try Boundary.value(t, "tensor_list_append_mapped", "t"), dim: dim == Int64.min ? nil : dim)
    }
}

@_cdecl("sf_tensor_list_size")
public func sf_tensor_list_size(_ list: TensorListHandle?, _ out: UnsafeMutablePointer<Int>?) -> Int32 {
    Boundary.run("tensor_list_size") {
        let target = try Boundary.list(list, "tensor_list_size")
        guard let out else { throw SwiftFuncError.invalidArgument("tensor_list_size", "out_size is NULL") }
        out.pointee = target.values.count
    }
}

@_cdecl("sf_tensor_list_get")
public func sf_tensor_list_get(_ list: TensorListHandle?, _ index: Int, _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("tensor_list_get", out) {
        let target = try Boundary.list(list, "tensor_list_get")
        // A size_t index past Int.max arrives negative.
        guard index >= 0, index < target.values.count else {
            throw SwiftFuncError.invalidArgument("tensor_list_get", "index \(UInt(bitPattern: index)) is out of range for a list of \(target.values.count)")
        }
        return target.values[index]
    }
}

@_cdecl("sf_function_new_at_return")
public func sf_function_new_at_return(_ callback: ListCallback?, _ userData: UnsafeMutableRawPointer?, _ freeUserData: HostFree?,
                                      _ nInputs: Int, _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    let op = "function_new_at_return"
    out?.pointee = nil
    let data = HostUserData(userData, free: freeUserData)
    return Boundary.runFunction(op, out) {
        guard let callback else { throw SwiftFuncError.invalidArgument(op, "callback is NULL") }
        try Boundary.checkInputCount(nInputs, op)
        return Function(name: "callback", inputCount: nInputs, outputCount: nil) { inputs in
            let outputs = try Boundary.callHostLists(data, inputs, listCount: 1, who: "the callback") { user, inputs, n, lists in
                callback(user, inputs, n, lists[0])
            }[0].values
            guard !outputs.isEmpty else { throw SwiftFuncError(.callback, "call", "the callback returned 0 but appended no output") }
            return outputs
        }
    }
}

@_cdecl("sf_call_list")
public func sf_call_list(_ f: FunctionHandle?, _ inputs: UnsafePointer<TensorHandle?>?, _ nInputs: Int, _ outputs: TensorListHandle?) -> Int32 {
    Boundary.run("call_list") {
        let function = try Boundary.function(f, "call_list")
        let list = try Boundary.list(outputs, "call_list", "outputs")
        guard nInputs == function.inputCount else {
            throw SwiftFuncError.invalidArgument("call_list", "\(function.name) takes \(function.inputCount) inputs, called with \(nInputs)")
        }
        Boundary.append(try function(Boundary.values(inputs, nInputs, "call_list", "inputs")), to: list)
    }
}

@_cdecl("sf_vjp_list")
public func sf_vjp_list(_ f: FunctionHandle?, _ primals: UnsafePointer<TensorHandle?>?, _ n: Int, _ outputs: TensorListHandle?,
                        _ vjpFunction: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.evaluateAndMake("vjp_list", f, primals, n, outputs, vjpFunction, "vjp_fn", Boundary.pullback)
}

@_cdecl("sf_linearize_list")
public func sf_linearize_list(_ f: FunctionHandle?, _ primals: UnsafePointer<TensorHandle?>?, _ n: Int, _ outputs: TensorListHandle?,
                              _ jvpFunction: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.evaluateAndMake("linearize_list", f, primals, n, outputs, jvpFunction, "jvp_fn", Boundary.linearMap)
}

@_cdecl("sf_jvp_list")
public func sf_jvp_list(_ f: FunctionHandle?, _ primals: UnsafePointer<TensorHandle?>?, _ tangents: UnsafePointer<TensorHandle?>?, _ n: Int,
                        _ outputs: TensorListHandle?, _ tangentsOut: TensorListHandle?) -> Int32 {
    Boundary.run("jvp_list") {
        let function = try Boundary.function(f, "jvp_list")
        let outputList = try Boundary.list(outputs, "jvp_list", "outputs")
        let tangentList = try Boundary.list(tangentsOut, "jvp_list", "tangents_out")
        guard n == function.inputCount else {
            throw SwiftFuncError.invalidArgument("jvp_list", "\(function.name) takes \(function.inputCount) inputs, got n = \(n)")
        }
        let result = try Transforms.jvp(function, Boundary.values(primals, n, "jvp_list", "primals"),
                                        Boundary.values(tangents, n, "jvp_list", "tangents").map { Optional($0) })
        Boundary.append(result.outputs, to: outputList)
        Boundary.append(result.tangents, to: tangentList)
    }
}

@_cdecl("sf_vmap_at_return")
public func sf_vmap_at_return(_ f: FunctionHandle?, _ inDims: UnsafePointer<Int64>?, _ nIn: Int, _ outDims: OutDimsCallback?,
                              _ userData: UnsafeMutableRawPointer?, _ freeUserData: HostFree?, _ chunkSize: Int64, _ randomness: Int32,
                              _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    let op = "vmap_at_return"
    let data = HostUserData(userData, free: freeUserData)
    return Boundary.runFunction(op, out) {
        let function = try Boundary.function(f, op)
        guard let outDims else { throw SwiftFuncError.invalidArgument(op, "out_dims is NULL") }
        guard chunkSize >= 0 else { throw SwiftFuncError.invalidArgument(op, "chunk_size must be >= 0, got \(chunkSize)") }
        return try Transforms.vmap(function, inDims: Boundary.mapDims(inDims, nIn, function.inputCount, op, "in_dims"),
                                   chunkSize: Int(chunkSize), randomness: Boundary.randomness(randomness, op)) { count in
            var dims = [Int64](repeating: 0, count: count)
            LastError.set("")
            let status = withExtendedLifetime(data) {
                dims.withUnsafeMutableBufferPointer { outDims(data.pointer, count, $0.baseAddress) }
            }
            try Boundary.check(status: status, who: "the out_dims callback")
            return dims.map { $0 == Int64.min ? nil : Int(truncatingIfNeeded: $0) }
        }
    }
}
