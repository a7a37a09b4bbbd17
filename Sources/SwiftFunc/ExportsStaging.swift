// Exports of staged execution: sf_jit, its trace count, and the listing of a function's graph.
import SwiftFuncCore
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("sf_jit")
public func sf_jit(_ f: FunctionHandle?, _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.runFunction("jit", out) { Transforms.jit(try Boundary.function(f, "jit")) }
}

@_cdecl("sf_jit_trace_count")
public func sf_jit_trace_count(_ f: FunctionHandle?, _ out: UnsafeMutablePointer<UInt64>?) -> Int32 {
    Boundary.run("jit_trace_count") {
        let function = try Boundary.function(f, "jit_trace_count")
        guard let out else { throw SwiftFuncError.invalidArgument("jit_trace_count", "out_count is NULL") }
        guard let cache = function.jitCache else {
            throw SwiftFuncError.invalidArgument("jit_trace_count", "\(function.name) was not made by sf_jit")
        }
        out.pointee = cache.traceCount
    }
}

@_cdecl("sf_function_graph")
public func sf_function_graph(_ f: FunctionHandle?, _ inputs: UnsafePointer<TensorHandle?>?, _ nInputs: Int,
                              _ outText: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    let op = "function_graph"
    outText?.pointee = nil
    return Boundary.run(op) {
        let function = try Boundary.function(f, op)
        guard let outText else { throw SwiftFuncError.invalidArgument(op, "out_text is NULL") }
        guard nInputs == function.inputCount else {
            throw SwiftFuncError.invalidArgument(op, "\(function.name) takes \(function.inputCount) inputs, given \(nInputs)")
        }
        let values = try Boundary.values(inputs, nInputs, op, "inputs")
        // A jitted function shows its own graph; any other is traced afresh for the listing.
        let cache = function.jitCache ?? Transforms.jit(function).jitCache
        guard let listing = try cache?.graph(for: values).listing, let text = strdup(listing) else {
            throw SwiftFuncError.outOfMemory(op, "cannot allocate the listing")
        }
        outText.pointee = text
    }
}

@_cdecl("sf_string_free")
public func sf_string_free(_ text: UnsafeMutablePointer<CChar>?) {
    free(text)
}
