import XCTest
@testable import SwiftFuncCore

/// Independent checks of an op's transform rules, in float64:
/// - JVP against central finite differences (order 1), and the JVP of the JVP (order 2);
/// - VJP against JVP by the inner-product identity <ct, J t> == <J^T ct, t> (order 1), and the
///   derivative of the VJP against finite differences of the VJP (order 2);
/// - vmap against a loop over the batch, for in_dims 0, 1, -1 and not-mapped, and nested vmap.
struct RuleCheck {
    let name: String
    /// The op under test; every input is a float64 tensor unless `integerInputs` marks it.
    let body: ([Value]) throws -> Value
    /// Row-major values and shapes of the inputs at which to check.
    let inputs: [Tensor]
    /// Inputs that are not differentiated (indices, conditions).
    var constantInputs: Set<Int> = []
    var tolerance: Double = 1e-6
    /// Range of the random values checkBatching stacks after the inputs (keep it inside the op's
    /// domain, e.g. positive for log, or the loop and vmap both give NaN).
    var batchRange: (Double, Double) = (-2, 2)

    var function: Function { Function(name: name, inputCount: inputs.count, outputCount: 1) { [body] in [try body($0)] } }

    var differentiable: [Int] { inputs.indices.filter { !constantInputs.contains($0) && inputs[$0].dtype.isFloatingPoint } }
}

private let epsilon = 1e-5

/// x + scale * t for every differentiable input.
private func shifted(_ check: RuleCheck, _ direction: [Tensor], _ scale: Double) throws -> [Value] {
    try check.inputs.indices.map { i in
        guard check.differentiable.contains(i) else { return check.inputs[i] }
        let x = try Ops.doubles(check.inputs[i]), t = try Ops.doubles(direction[i])
        return try Ops.tensor(zip(x, t).map { $0 + scale * $1 }, shape: check.inputs[i].shape, dtype: .float64)
    }
}

private func randomLike(_ tensor: Tensor, in range: (Double, Double) = (-2, 2), _ rng: inout TestRandom) throws -> Tensor {
    try Ops.tensor(randomValues(tensor.shape, in: range, rng: &rng), shape: tensor.shape, dtype: .float64)
}

private func dot(_ a: Value, _ b: Value) throws -> Double {
    zip(try Ops.doubles(a), try Ops.doubles(b)).reduce(0) { $0 + $1.0 * $1.1 }
}

private func assertClose(_ actual: [Double], _ expected: [Double], tolerance: Double, _ what: String,
                         file: StaticString, line: UInt) {
    XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
    for (i, (a, e)) in zip(actual, expected).enumerated() where !(Swift.abs(a - e) <= tolerance * Swift.max(1, Swift.abs(e))) {
        XCTFail("\(what): element \(i) is \(a), expected \(e)", file: file, line: line)
        return
    }
}

/// The tangent of f at the check's inputs along `direction` by central differences.
private func finiteDifference(_ f: ([Value]) throws -> Value, _ check: RuleCheck, _ direction: [Tensor]) throws -> [Double] {
    let plus = try Ops.doubles(try f(try shifted(check, direction, epsilon)))
    let minus = try Ops.doubles(try f(try shifted(check, direction, -epsilon)))
    return zip(plus, minus).map { ($0 - $1) / (2 * epsilon) }
}

/// JVP and VJP of `check` at orders 1 and 2.
func checkDerivatives(_ check: RuleCheck, seed: UInt64 = 1, file: StaticString = #filePath, line: UInt = #line) throws {
    var rng = TestRandom(seed: seed)
    let direction = try check.inputs.map { try randomLike($0, &rng) }
    let tangents: [Value?] = check.inputs.indices.map { check.differentiable.contains($0) ? direction[$0] : nil }

    // Order 1, forward: J t against central differences.
    let jvpOf: ([Value]) throws -> Value = { x in try Transforms.jvp(check.function, x, tangents).tangents[0] }
    let forward = try jvpOf(check.inputs)
    try assertClose(Ops.doubles(forward), finiteDifference(check.body, check, direction), tolerance: check.tolerance,
                    "\(check.name): JVP vs finite differences", file: file, line: line)

    // Order 1, reverse: <ct, J t> == <J^T ct, t>.
    let output = try check.body(check.inputs)
    let cotangent = try Ops.tensor(randomValues(output.shape, rng: &rng), shape: output.shape, dtype: .float64)
    let (_, pullback) = try Transforms.vjp(check.function, check.inputs, wrt: check.differentiable)
    let inputCotangents = try pullback([cotangent])
    let lhs = try dot(cotangent, forward)
    var rhs = 0.0
    for (k, i) in check.differentiable.enumerated() {
        XCTAssertEqual(inputCotangents[k].shape, check.inputs[i].shape, "\(check.name): cotangent shape of input \(i)", file: file, line: line)
        rhs += try dot(inputCotangents[k], direction[i])
    }
    // A NaN on either side is a failure (pick a test point where the rule is defined).
    XCTAssertFalse(lhs.isNaN || rhs.isNaN, "\(check.name): NaN in the inner-product identity (<ct, J t> = \(lhs), <J^T ct, t> = \(rhs))",
                   file: file, line: line)
    XCTAssertEqual(lhs, rhs, accuracy: check.tolerance * Swift.max(1, Swift.abs(lhs)),
                   "\(check.name): VJP vs JVP inner-product identity", file: file, line: line)

    // Order 2, forward: the JVP of the JVP against differences of the JVP.
    let secondDirection = try check.inputs.map { try randomLike($0, &rng) }
    let secondTangents: [Value?] = check.inputs.indices.map { check.differentiable.contains($0) ? secondDirection[$0] : nil }
    let jvpFunction = Function(name: "jvp(\(check.name))", inputCount: check.inputs.count, outputCount: 1) { [jvpOf] in [try jvpOf($0)] }
    let secondForward = try Transforms.jvp(jvpFunction, check.inputs, secondTangents).tangents[0]
    try assertClose(Ops.doubles(secondForward), finiteDifference(jvpOf, check, secondDirection), tolerance: 1e3 * check.tolerance,
                    "\(check.name): JVP of JVP vs finite differences", file: file, line: line)

    // Order 2, reverse: the JVP of x -> J(x)^T ct against differences of it, which exercises the
    // VJP rules' own derivatives (the backward pass is built from differentiable ops).
    let vjpOf: ([Value]) throws -> Value = { x in
        let (_, pullback) = try Transforms.vjp(check.function, x, wrt: check.differentiable)
        let cotangents = try pullback([cotangent])
        // Flatten all input cotangents into one vector to compare at once.
        let flat = try cotangents.map { try emit(.reshape, [$0], .shape([$0.count])) }
        return flat.count == 1 ? flat[0] : try emit(.cat, flat, .dim(0))
    }
    let vjpFunction = Function(name: "vjp(\(check.name))", inputCount: check.inputs.count, outputCount: 1) { [vjpOf] in [try vjpOf($0)] }
    let secondReverse = try Transforms.jvp(vjpFunction, check.inputs, secondTangents).tangents[0]
    try assertClose(Ops.doubles(secondReverse), finiteDifference(vjpOf, check, secondDirection), tolerance: 1e3 * check.tolerance,
                    "\(check.name): derivative of the VJP vs finite differences", file: file, line: line)
}

/// vmap of the op against a loop, for in_dims 0, 1, -1 and not-mapped on each input (others 0),
/// and a vmap nested in a vmap.
func checkBatching(_ check: RuleCheck, batchSize: Int = 3, seed: UInt64 = 2, file: StaticString = #filePath, line: UInt = #line) throws {
    var rng = TestRandom(seed: seed)
    // Stacked inputs: element b of input i is a random tensor of the input's shape (integer and
    // constant inputs keep their value: they are only ever mapped as copies of themselves).
    let examples: [[Tensor]] = try (0..<batchSize).map { b in
        try check.inputs.indices.map { i in
            let input = check.inputs[i]
            if b == 0 || !check.differentiable.contains(i) { return input }
            return try randomLike(input, in: check.batchRange, &rng)
        }
    }
    let before = BatchingStatistics.fallbackCount

    var configurations: [[Int?]] = []
    for mappedInput in check.inputs.indices {
        for inDim in [0, 1, -1, nil] as [Int?] {
            let rank = check.inputs[mappedInput].rank
            if let inDim, (inDim >= rank + 1 || inDim < -(rank + 1)) { continue }
            var inDims = [Int?](repeating: nil, count: check.inputs.count)
            inDims[mappedInput] = inDim
            // Every other input is mapped at 0 too when this one is not mapped, so that something is.
            if inDim == nil { for i in check.inputs.indices where i != mappedInput { inDims[i] = 0 } }
            if inDims.allSatisfy({ $0 == nil }) { continue }
            configurations.append(inDims)
        }
    }
    // Every input mapped at once, at different places (the loop above maps them one at a time or
    // all at 0): all at their last dim, and one at its last dim with the others at 0.
    if check.inputs.count > 1 {
        configurations.append([Int?](repeating: -1, count: check.inputs.count))
        configurations.append([-1] + [Int?](repeating: 0, count: check.inputs.count - 1))
    }
    for inDims in configurations {
        let args = try check.inputs.indices.map { i -> Value in
            guard let dim = inDims[i] else { return check.inputs[i] }
            let stacked = try stack(examples.map { $0[i] })
            return try Batching.moveDim(stacked, from: 0, to: dim < 0 ? dim + check.inputs[i].rank + 1 : dim)
        }
        let mapped = try Transforms.vmap(check.function, inDims: inDims, outDims: [0])
        let result = try Ops.doubles(try mapped(args)[0])
        // Unmapped inputs are example 0's everywhere.
        let reference = try (0..<batchSize).flatMap { b -> [Double] in
            let inputs = check.inputs.indices.map { inDims[$0] == nil ? check.inputs[$0] : examples[b][$0] }
            return try Ops.doubles(try check.body(inputs))
        }
        assertClose(result, reference, tolerance: 1e-12, "\(check.name): vmap in_dims \(inDims.map { $0.map(String.init) ?? "None" })",
                    file: file, line: line)
    }

    // Nested: vmap(vmap(f)) over a [2, B] stack of the first input.
    let inner = try Transforms.vmap(check.function, inDims: [0] + Array(repeating: nil, count: check.inputs.count - 1), outDims: [0])
    let outer = try Transforms.vmap(inner, inDims: [1] + Array(repeating: nil, count: check.inputs.count - 1), outDims: [0])
    let first = try stack(examples.map { $0[0] })
    let pair = try stack([first, first])  // [2, B, ...]
    let nested = try Ops.doubles(try outer([pair] + check.inputs.dropFirst().map { $0 as Value })[0])
    let flatReference = try (0..<batchSize).flatMap { b in
        try Ops.doubles(try check.body([examples[b][0]] + check.inputs.dropFirst().map { $0 as Value }))
    }
    // Outer maps dim 1 (the B dim), inner maps the remaining leading dim of size 2: result [B, 2, ...].
    let perExample = flatReference.count / batchSize
    var nestedReference: [Double] = []
    for b in 0..<batchSize {
        let slice = Array(flatReference[(b * perExample)..<((b + 1) * perExample)])
        nestedReference += slice + slice
    }
    assertClose(nested, nestedReference, tolerance: 1e-12, "\(check.name): nested vmap", file: file, line: line)
    XCTAssertEqual(BatchingStatistics.fallbackCount, before, "\(check.name): a batching rule fell back to the loop", file: file, line: line)
}

/// Stacks equally shaped tensors along a new dim 0 (test-side, built from primitives).
func stack(_ values: [Value]) throws -> Value {
    let lifted = try values.map { try Batching.unsqueeze($0, dim: 0) }
    return try emit(.cat, lifted, .dim(0))
}
