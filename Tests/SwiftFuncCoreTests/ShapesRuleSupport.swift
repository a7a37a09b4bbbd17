import XCTest
@testable import SwiftFuncCore

// Helpers for the rule tests of the reduction, movement and indexing families and the composites
// built on them.

/// A float64 tensor of random values in `range`.
func randomTensor(_ shape: [Int], seed: UInt64, in range: (Double, Double) = (-2, 2)) throws -> Tensor {
    var rng = TestRandom(seed: seed)
    return try Ops.tensor(randomValues(shape, in: range, rng: &rng), shape: shape, dtype: .float64)
}

/// An int64 tensor of the given values.
func indexTensor(_ values: [Int], shape: [Int], dtype: DType = .int64) throws -> Tensor {
    try Ops.tensor(values.map(Double.init), shape: shape, dtype: dtype)
}

/// checkDerivatives and checkBatching of `body` at `inputs`.
func checkRules(_ name: String, _ inputs: [Tensor], constant: Set<Int> = [], tolerance: Double = 1e-6,
                file: StaticString = #filePath, line: UInt = #line, _ body: @escaping ([Value]) throws -> Value) throws {
    let check = RuleCheck(name: name, body: body, inputs: inputs, constantInputs: constant, tolerance: tolerance)
    try checkDerivatives(check, file: file, line: line)
    try checkBatching(check, file: file, line: line)
}

/// vmap of `body` over the inputs of `examples` (example b's inputs, stacked at `inDims`; nil:
/// example 0's input, unmapped) against a loop over the examples. Unlike checkBatching, every
/// input, indices included, may differ between examples.
func assertVmapMatchesLoop(_ name: String, _ examples: [[Tensor]], inDims: [Int?], tolerance: Double = 1e-12,
                           file: StaticString = #filePath, line: UInt = #line,
                           _ body: @escaping ([Value]) throws -> Value) throws {
    let count = examples[0].count
    let function = Function(name: name, inputCount: count, outputCount: 1) { [try body($0)] }
    let args: [Value] = try (0..<count).map { i in
        guard let dim = inDims[i] else { return examples[0][i] }
        let stacked = try stack(examples.map { $0[i] })
        return try Batching.moveDim(stacked, from: 0, to: dim < 0 ? dim + stacked.rank : dim)
    }
    let before = BatchingStatistics.fallbackCount
    let result = try Transforms.vmap(function, inDims: inDims, outDims: [0])(args)[0]
    XCTAssertEqual(BatchingStatistics.fallbackCount, before, "\(name): fell back to the loop", file: file, line: line)
    var reference: [Double] = []
    var exampleShape: [Int] = []
    for example in examples {
        let inputs = (0..<count).map { inDims[$0] == nil ? examples[0][$0] : example[$0] }
        let output = try body(inputs)
        exampleShape = output.shape
        reference += try Ops.doubles(output)
    }
    try assertValues(result, reference, shape: [examples.count] + exampleShape, dtype: result.dtype, tolerance: tolerance,
                     "\(name): vmap in_dims \(inDims)", file: file, line: line)
}

/// jacrev and jacfwd of `body` (w.r.t. input `wrt`) against a central-difference Jacobian. jacrev
/// runs the VJP rules under vmap with a batched cotangent and unbatched primals.
func assertJacobians(_ name: String, _ inputs: [Tensor], wrt: Int, tolerance: Double = 1e-6,
                     file: StaticString = #filePath, line: UInt = #line, _ body: @escaping ([Value]) throws -> Value) throws {
    let function = Function(name: name, inputCount: inputs.count, outputCount: 1) { [try body($0)] }
    let x = inputs[wrt]
    let base = try Ops.doubles(x)
    let outputShape = try body(inputs).shape
    let outputCount = outputShape.reduce(1, *)
    // columns[k]: d output / d x_k by central differences.
    var jacobian = [Double](repeating: 0, count: outputCount * base.count)
    let h = 1e-6
    for k in base.indices {
        func evaluate(_ shift: Double) throws -> [Double] {
            var shifted = base
            shifted[k] += shift
            var args: [Value] = inputs
            args[wrt] = try Ops.tensor(shifted, shape: x.shape, dtype: .float64)
            return try Ops.doubles(try body(args))
        }
        let plus = try evaluate(h), minus = try evaluate(-h)
        for o in 0..<outputCount { jacobian[o * base.count + k] = (plus[o] - minus[o]) / (2 * h) }
    }
    let before = BatchingStatistics.fallbackCount
    let reverse = try Transforms.jacrev(function, argnums: [wrt], hasAux: false)(inputs)[0]
    let forward = try Transforms.jacfwd(function, argnums: [wrt], hasAux: false)(inputs)[0]
    XCTAssertEqual(BatchingStatistics.fallbackCount, before, "\(name): fell back to the loop", file: file, line: line)
    try assertValues(reverse, jacobian, shape: outputShape + x.shape, dtype: .float64, tolerance: tolerance, "\(name): jacrev", file: file, line: line)
    try assertValues(forward, jacobian, shape: outputShape + x.shape, dtype: .float64, tolerance: tolerance, "\(name): jacfwd", file: file, line: line)
}

/// The gradient of sum(body(inputs) * cotangent) w.r.t. each input in `wrt`, through `Transforms.vjp`.
func pullback(_ body: @escaping ([Value]) throws -> Value, _ inputs: [Value], wrt: [Int], cotangent: Value) throws -> [Value] {
    let function = Function(name: "f", inputCount: inputs.count, outputCount: 1) { [try body($0)] }
    let (_, pullback) = try Transforms.vjp(function, inputs, wrt: wrt)
    return try pullback([cotangent])
}

/// The output tangent of body at inputs along tangents.
func pushforward(_ body: @escaping ([Value]) throws -> Value, _ inputs: [Value], _ tangents: [Value?]) throws -> Value {
    let function = Function(name: "f", inputCount: inputs.count, outputCount: 1) { [try body($0)] }
    return try Transforms.jvp(function, inputs, tangents).tangents[0]
}
