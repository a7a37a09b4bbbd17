// Exports of custom differentiable functions: a C description (sf_custom_function_desc) becomes a
// `CustomFunction` of the engine whose forward and rules call the host. Only conversion here.
import SwiftFuncCore

/// `sf_custom_batch_callback`.
public typealias CustomBatchCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<TensorHandle?>?, UnsafePointer<Int64>?, Int,
                                                       Int64, UnsafeMutablePointer<TensorHandle?>?, UnsafeMutablePointer<Int64>?, Int) -> Int32

/// `sf_custom_forward_list_callback`.
public typealias CustomForwardListCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<TensorHandle?>?, Int,
                                                             TensorListHandle?, TensorListHandle?) -> Int32

/// `sf_custom_batch_list_callback`.
public typealias CustomBatchListCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<TensorHandle?>?, UnsafePointer<Int64>?, Int,
                                                           Int64, TensorListHandle?, TensorListHandle?) -> Int32

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

/// The fields version 2 of `sf_custom_function_desc` adds after version 1's.
struct CustomFunctionDescV2 {
    var v1: CustomFunctionDesc
    var forwardList: CustomForwardListCallback?
    var batchList: CustomBatchListCallback?
}

/// The flags of `sf_custom_function_desc`.
enum CustomFlags {
    static let rulesUseOps: UInt32 = 1
    static let countsAtReturn: UInt32 = 2
    static let known = rulesUseOps | countsAtReturn
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
        return (batched, zip(batched, outDims).map { value, dim in Self.dim(dim, of: value) })
    }

    /// A batch dim from the host: SF_NOT_MAPPED becomes nil and negative dims count from the end.
    static func dim(_ dim: Int64?, of value: Value) -> Int? {
        guard let dim, dim != Int64.min else { return nil }
        // Out-of-range dims are reported by the engine, naming the function.
        guard let small = Int(exactly: dim) else { return Int.min }
        return small < 0 ? small + value.rank : small
    }

    /// Calls a forward that appends its outputs and residuals to lists.
    func callForwardLists(_ callback: CustomForwardListCallback, _ inputs: [Value]) throws -> CustomFunction.Results {
        let lists = try Boundary.callHostLists(userData, inputs, listCount: 2, who: who("forward")) { user, inputs, n, lists in
            callback(user, inputs, n, lists[0], lists[1])
        }
        return CustomFunction.Results(values: lists[0].values + lists[1].values, outputCount: lists[0].values.count)
    }

    /// Calls a batching rule that appends its batched outputs and residuals (with their dims) to lists.
    func callBatchLists(_ callback: CustomBatchListCallback, _ values: [Value], _ dims: [Int?],
                        batchSize: Int) throws -> (results: CustomFunction.Results, dims: [Int?]) {
        let inDims: [Int64] = dims.map { $0.map { Int64($0) } ?? Int64.min }
        let lists = try inDims.withUnsafeBufferPointer { inDimBuffer in
            try Boundary.callHostLists(userData, values, listCount: 2, who: who("batch")) { user, inputs, n, lists in
                callback(user, inputs, inDimBuffer.baseAddress, n, Int64(batchSize), lists[0], lists[1])
            }
        }
        let all = lists[0].values + lists[1].values
        let resultDims = zip(all, lists[0].dims + lists[1].dims).map { value, dim in Self.dim(dim, of: value) }
        return (CustomFunction.Results(values: all, outputCount: lists[0].values.count), resultDims)
    }
}

@_cdecl("sf_custom_function_new")
public func sf_custom_function_new(_ rawDesc: UnsafeRawPointer?, _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    let op = "custom_function_new"
    out?.pointee = nil
    guard let rawDesc else { return Boundary.fail(SwiftFuncError.invalidArgument(op, "desc is NULL")) }
    let version = rawDesc.load(as: UInt32.self)
    guard version == 1 || version == 2 else {
        return Boundary.fail(SwiftFuncError.invalidArgument(op, "desc->version is \(version); this library knows versions 1 and 2 (SF_CUSTOM_FUNCTION_DESC_VERSION)"))
    }
    // A version 1 desc ends after free_user_data: only its own fields are read.
    let desc = version == 1
        ? CustomFunctionDescV2(v1: rawDesc.load(as: CustomFunctionDesc.self), forwardList: nil, batchList: nil)
        : rawDesc.load(as: CustomFunctionDescV2.self)
    let v1 = desc.v1
    let name = v1.name.map { String(cString: $0) } ?? "custom"
    // From here on the context owns user_data: any failure below frees it when the context dies.
    let context = CustomHostContext(name: name, userData: HostUserData(v1.userData, free: v1.freeUserData))
    return Boundary.runFunction(op, out) {
        guard v1.flags & ~CustomFlags.known == 0, version == 2 || v1.flags & CustomFlags.countsAtReturn == 0 else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': unknown flags 0x\(String(v1.flags, radix: 16))")
        }
        // size_t counts past Int.max arrive negative: range checks catch them.
        let limit = Boundary.maxArity
        guard (0...limit).contains(v1.nInputs) else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': n_inputs must be at most \(limit)")
        }
        let n = v1.nInputs
        let hostKernels = v1.flags & CustomFlags.rulesUseOps == 0
        /// The VJP/JVP rule for one call's counts (their arities depend on them).
        func vjpRule(_ counts: CustomFunction.Counts) -> Function? {
            let (m, r) = (counts.outputs, counts.residuals)
            return v1.vjp.map { vjp in
                Function(name: "\(name).vjp", inputCount: n + 2 * m + r, outputCount: n) { inputs in
                    try context.call(vjp, "VJP", inputs, outputCount: n)
                }
            }
        }
        func jvpRule(_ counts: CustomFunction.Counts) -> Function? {
            let m = counts.outputs
            return v1.jvp.map { jvp in
                Function(name: "\(name).jvp", inputCount: 2 * n + m, outputCount: m) { inputs in
                    try context.call(jvp, "JVP", inputs, outputCount: m)
                }
            }
        }
        func required(_ rule: Function?) throws -> Function {
            guard let rule else { throw SwiftFuncError.internal(op, "custom function '\(name)': missing rule") }
            return rule
        }
        if v1.flags & CustomFlags.countsAtReturn != 0 {
            guard let forwardList = desc.forwardList else {
                throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': SF_CUSTOM_COUNTS_AT_RETURN needs forward_list")
            }
            guard v1.forward == nil, v1.batch == nil, v1.nOutputs == 0, v1.nResiduals == 0 else {
                throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': with SF_CUSTOM_COUNTS_AT_RETURN, forward, batch, n_outputs and n_residuals must be zero (use forward_list and batch_list)")
            }
            let batchRule = desc.batchList.map { batch -> CustomFunction.BatchRule in
                { values, dims, batchSize in try context.callBatchLists(batch, values, dims, batchSize: batchSize) }
            }
            return CustomFunction(name: name, inputCount: n, forward: { try context.callForwardLists(forwardList, $0) },
                                  vjp: v1.vjp == nil ? nil : { try required(vjpRule($0)) },
                                  jvp: v1.jvp == nil ? nil : { try required(jvpRule($0)) },
                                  batch: batchRule, rulesAreHostKernels: hostKernels).function()
        }
        guard let forward = v1.forward else { throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': forward is NULL") }
        guard (1...limit).contains(v1.nOutputs) else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': n_outputs must be between 1 and \(limit), got \(UInt(bitPattern: v1.nOutputs))")
        }
        guard (0...limit).contains(v1.nResiduals) else {
            throw SwiftFuncError.invalidArgument(op, "custom function '\(name)': n_inputs and n_residuals must be at most \(limit)")
        }
        let counts = CustomFunction.Counts(outputs: v1.nOutputs, residuals: v1.nResiduals)
        let (m, r) = (counts.outputs, counts.residuals)
        let forwardFunction = Function(name: "\(name).forward", inputCount: n, outputCount: m + r) { inputs in
            try context.call(forward, "forward", inputs, outputCount: m + r)
        }
        let batchRule = v1.batch.map { batch -> CustomFunction.FixedBatchRule in
            { values, dims, batchSize in try context.callBatch(batch, values, dims, batchSize: batchSize, outputCount: m + r) }
        }
        let custom = try CustomFunction(name: name, inputCount: n, outputCount: m, residualCount: r, forward: forwardFunction,
                                        vjp: vjpRule(counts), jvp: jvpRule(counts), batch: batchRule,
                                        rulesAreHostKernels: hostKernels)
        return custom.function()
    }
}
