// Exports of custom differentiable functions: a C description (sf_custom_function_desc) becomes a
// `CustomFunction` of the engine whose forward and rules call the host. Only conversion here.
import SwiftFuncCore

/// `sf_custom_batch_callback`.
public typealias CustomBatchCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<TensorHandle?>?, UnsafePointer<Int64>?, Int,
                                                       Int64, UnsafeMutablePointer<TensorHandle?>?, UnsafeMutablePointer<Int64>?, Int) -> Int32

/// `sf_custom_function_desc`, version 1: the same fields in the same order (plain integers and
/// pointers, so the layouts agree; the C tests assert the size and offsets).
struct CustomFunctionDesc {
    var version: UInt32
    var flags: UInt32
    var name: UnsafePointer<CChar>?
    var nInputs: Int
    var nOutputs: Int
    var nResiduals: Int
    var forward: HostCallback?
    var vjp: HostCallback?
    var jvp: HostCallback?
    var batch: CustomBatchCallback?
    var userData: UnsafeMutableRawPointer?
    var freeUserData: HostFree?
}

/// A custom function's name and the user data its callbacks share (freed with the last holder).
final class CustomHostContext {
    let name: String
    let userData: HostUserData

    init(name: String, userData: HostUserData) {
        self.name = name
        self.userData = userData
    }

    /// How messages name a callback (`what`: "forward", "VJP", ...).
    private func who(_ what: String) -> String { "custom function '\(name)': the \(what) callback" }

    /// Calls an sf_callback with borrowed input handles.
    func call(_ callback: HostCallback, _ what: String, _ inputs: [Value], outputCount: Int) throws -> [Value] {
        try Boundary.callHost(callback, userData, inputs, outputCount: outputCount, who: who(what))
    }

    /// Calls the batching callback; SF_NOT_MAPPED becomes nil and negative dims count from the end.
    func callBatch(_ callback: CustomBatchCallback, _ values: [Value], _ dims: [Int?], batchSize: Int,
                   outputCount: Int) throws -> (values: [Value], dims: [Int?]) {
        let handles: [TensorHandle?] = values.map { TensorHandle(Unmanaged.passUnretained($0).toOpaque()) }
        let inDims: [Int64] = dims.map { $0.map { Int64($0) } ?? Int64.min }
        var outputs = [TensorHandle?](repeating: nil, count: outputCount)
        var outDims = [Int64](repeating: 0, count: outputCount)
        LastError.set("")
        let status = withExtendedLifetime(values) {
            handles.withUnsafeBufferPointer { inputBuffer in
                inDims.withUnsafeBufferPointer { inDimBuffer in
                    outputs.withUnsafeMutableBufferPointer { outputBuffer in
                        outDims.withUnsafeMutableBufferPointer { outDimBuffer in
                            callback(userData.pointer, inputBuffer.baseAddress, inDimBuffer.baseAddress, inputBuffer.count, Int64(batchSize),
                                     outputBuffer.baseAddress, outDimBuffer.baseAddress, outputBuffer.count)
                        }
                    }
                }
            }
        }
        let batched = try Boundary.takeHostOutputs(outputs, status: status, who: who("batch"))
        let resultDims = zip(batched, outDims).map { value, dim -> Int? in
            if dim == Int64.min { return nil }
            // Out-of-range dims are reported by the engine, naming the function.
            guard let small = Int(exactly: dim) else { return Int.min }
            return small < 0 ? small + value.rank : small
        }
        return (batched, resultDims)
    }
}

@_cdecl("sf_custom_function_new")
public func sf_custom_function_new(_ rawDesc: UnsafeRawPointer?, _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    let op = "custom_function_new"
    out?.pointee = nil
    guard let rawDesc else { return Boundary.fail(SwiftFuncError.invalidArgument(op, "desc is NULL")) }
    let version = rawDesc.load(as: UInt32.self)
    guard version == 1 else {
        return Boundary.fail(SwiftFuncError.invalidArgument(op, "desc->version is \(version); this library knows version 1 (SF_CUSTOM_FUNCTION_DESC_VERSION)"))
    }
    let desc = rawDesc.load(as: CustomFunctionDesc.self)
    let name = desc.name.map { String(cString: $0) } ?? "custom"
    // From here on the context owns user_data: any failure below frees it when the context dies.
    let context = CustomHostContext(name: name, userData: HostUserData(desc.userData, free: desc.freeUserData))
    return Boundary.runFunction(op, out) {
        guard let forward = desc.forward else { throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': forward is NULL") }
        guard desc.flags & ~UInt32(1) == 0 else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': unknown flags 0x\(String(desc.flags, radix: 16))")
        }
        // size_t counts past Int.max arrive negative: range checks catch them.
        let limit = Boundary.maxArity
        guard (1...limit).contains(desc.nOutputs) else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': n_outputs must be between 1 and \(limit), got \(UInt(bitPattern: desc.nOutputs))")
        }
        guard (0...limit).contains(desc.nInputs), (0...limit).contains(desc.nResiduals) else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': n_inputs and n_residuals must be at most \(limit)")
        }
        let (n, m, r) = (desc.nInputs, desc.nOutputs, desc.nResiduals)
        let forwardFunction = Function(name: "\(name).forward", inputCount: n, outputCount: m + r) { inputs in
            try context.call(forward, "forward", inputs, outputCount: m + r)
        }
        let vjpFunction = desc.vjp.map { vjp in
            Function(name: "\(name).vjp", inputCount: n + 2 * m + r, outputCount: n) { inputs in
                try context.call(vjp, "VJP", inputs, outputCount: n)
            }
        }
        let jvpFunction = desc.jvp.map { jvp in
            Function(name: "\(name).jvp", inputCount: 2 * n + m, outputCount: m) { inputs in
                try context.call(jvp, "JVP", inputs, outputCount: m)
            }
        }
        let batchRule = desc.batch.map { batch -> CustomFunction.BatchRule in
            { values, dims, batchSize in try context.callBatch(batch, values, dims, batchSize: batchSize, outputCount: m + r) }
        }
        let custom = try CustomFunction(name: name, inputCount: n, outputCount: m, residualCount: r, forward: forwardFunction,
                                        vjp: vjpFunction, jvp: jvpFunction, batch: batchRule,
                                        rulesAreHostKernels: desc.flags & 1 == 0)
        return custom.function()
    }
}
