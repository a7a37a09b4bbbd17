import XCTest
@testable import SwiftFuncCore

/// Evaluates like EvalInterpreter and records every primitive that reaches it with its argument
/// shapes: installed below a vmap, it shows what the batching rules emitted.
final class RecordingInterpreter: Interpreter, @unchecked Sendable {
    private(set) var calls: [(primitive: Primitive, shapes: [[Int]], params: Params)] = []

    init() { super.init(parent: nil) }

    override func process(_ primitive: Primitive, _ args: [Value], _ params: Params) throws -> Value {
        calls.append((primitive, args.map(\.shape), params))
        return try EvalInterpreter.shared.process(primitive, args, params)
    }

    func count(_ primitive: Primitive) -> Int { calls.filter { $0.primitive == primitive }.count }

    /// Runs `body` with this interpreter current.
    func run<R>(_ body: () throws -> R) rethrows -> R { try Interpreter.with(self, body) }
}

func randomTensor(_ shape: [Int], dtype: DType = .float64, in range: (Double, Double) = (-2, 2), rng: inout TestRandom) throws -> Tensor {
    try Ops.tensor(randomValues(shape, dtype: dtype, in: range, rng: &rng), shape: shape, dtype: dtype)
}

func makeFunction(_ name: String, inputs: Int, outputs: Int = 1, _ body: @escaping ([Value]) throws -> [Value]) -> Function {
    Function(name: name, inputCount: inputs, outputCount: outputs, body: body)
}
