/// A function from tensors to tensors: the unit that transforms consume and produce. It is what an
/// `sf_function` handle holds — a host callback, or the result of a transform.
public final class Function: @unchecked Sendable {
    /// How many inputs the function takes.
    public let inputCount: Int
    /// How many outputs it returns, or nil when that is known only when it returns (a host function
    /// that reports its outputs as it returns, as JAX learns an output structure from its one
    /// trace, and the transforms of such a function whose count depends on it).
    public let outputCount: Int?
    /// A name for messages ("callback", "grad(callback)", ...).
    public let name: String
    /// For a function made by `Transforms.jit`: its graph cache (trace count, graphs).
    public let jitCache: JitCache?
    private let body: ([Value]) throws -> [Value]

    /// A function of `inputCount` inputs and `outputCount` outputs (nil: known at return) computed
    /// by `body`.
    public init(name: String, inputCount: Int, outputCount: Int?, jitCache: JitCache? = nil,
                body: @escaping ([Value]) throws -> [Value]) {
        self.name = name
        self.jitCache = jitCache
        self.inputCount = inputCount
        self.outputCount = outputCount
        self.body = body
    }

    /// Applies the function, checking the number of inputs and outputs.
    public func callAsFunction(_ inputs: [Value]) throws -> [Value] {
        guard inputs.count == inputCount else {
            throw SwiftFuncError.invalidArgument("call", "\(name) takes \(inputCount) inputs but was given \(inputs.count)")
        }
        let outputs = try body(inputs)
        if let outputCount, outputs.count != outputCount {
            throw SwiftFuncError.internal("call", "\(name) returned \(outputs.count) outputs instead of \(outputCount)")
        }
        return outputs
    }

    /// "N outputs", or "outputs known at return", for messages.
    public var outputsDescription: String {
        outputCount.map { "\($0) outputs" } ?? "a number of outputs known when it returns"
    }
}
