import XCTest
@testable import SwiftFuncCore

/// The staging layer: tracing into a graph, the passes (each leaves results unchanged), replay, and
/// jit's cache.
final class StagingTests: XCTestCase {
    private func trace(_ types: [TensorType], random: Bool = true, _ body: ([Value]) throws -> [Value]) throws -> Graph {
        let stager = StagingInterpreter(below: Interpreter.current, inputTypes: types, recordsRandomDraws: random)
        let outputs = try Interpreter.with(stager) { try body(stager.inputs) }
        return stager.finish(outputs: outputs)
    }

    private let vector3 = TensorType(shape: [3], dtype: .float64)

    private func operations(_ graph: Graph) -> [String] {
        graph.equations.map { equation -> String in
            switch equation.operation {
            case let .primitive(primitive, _): return primitive.name
            case let .custom(custom, _): return "custom:\(custom.name)"
            case let .fused(kernel): return "fused:" + kernel.instructions.map(\.primitive.name).joined(separator: ",")
            }
        }
    }

    func testTracingRecordsOpsOnInputsAndFoldsConstants() throws {
        let c = try Ops.tensor([1, 2, 3], shape: [3])
        let graph = try trace([vector3]) { x in
            let folded = try Ops.exp(c)  // known: computed now, a constant of the graph
            return [try Ops.add(Ops.sin(x[0]), folded)]
        }
        XCTAssertEqual(operations(graph), ["sin", "add"])
        let x = try Ops.tensor([0.1, 0.2, 0.3], shape: [3])
        let expected = try Ops.add(Ops.sin(x), Ops.exp(c))
        try assertValues(graph.evaluate([x])[0], Ops.doubles(expected), shape: [3], dtype: .float64)
    }

    func testDeadCodeEliminationKeepsEffectsAndResults() throws {
        let graph = try trace([vector3]) { x in
            _ = try Ops.exp(x[0])  // dead
            _ = try Ops.rand(shape: [2], dtype: .float64)  // dead but a draw: kept
            return [try Ops.cos(x[0])]
        }
        XCTAssertEqual(operations(graph), ["exp", "rand", "cos"])
        let pruned = graph.eliminatingDeadCode()
        XCTAssertEqual(operations(pruned), ["rand", "cos"])
        let x = try Ops.tensor([0.5, -1, 2], shape: [3])
        try assertValues(pruned.evaluate([x])[0], Ops.doubles(Ops.cos(x)), shape: [3], dtype: .float64)
    }

    func testCommonSubexpressionsAreMergedButDrawsAreNot() throws {
        let graph = try trace([vector3]) { x in
            let a = try Ops.mul(Ops.sin(x[0]), Ops.sin(x[0]))
            let r1 = try Ops.rand(shape: [3], dtype: .float64)
            let r2 = try Ops.rand(shape: [3], dtype: .float64)
            return [try Ops.add(a, Ops.sub(r1, r2))]
        }
        let merged = graph.eliminatingCommonSubexpressions()
        XCTAssertEqual(operations(merged).filter { $0 == "sin" }.count, 1)
        XCTAssertEqual(operations(merged).filter { $0 == "rand" }.count, 2)
        XCTAssertEqual(operations(graph.optimized()), ["rand", "rand", "fused:sin,mul,sub,add"])
    }

    func testJitCachesPerSignatureAndMatchesEager() throws {
        var calls = 0
        let f = Function(name: "f", inputCount: 2, outputCount: 1) { args in
            calls += 1
            return [try Ops.sum(Ops.mul(Ops.tanh(args[0]), args[1]))]
        }
        let jitted = Transforms.jit(f)
        let a = try Ops.tensor([0.3, -0.2, 1.5], shape: [3]), b = try Ops.tensor([1, 2, 3], shape: [3])
        let eager = try Ops.doubles(f([a, b])[0])
        for _ in 0..<3 { try assertValues(jitted([a, b])[0], eager, shape: [], dtype: .float64) }
        XCTAssertEqual(calls, 2)  // the eager call and one trace
        XCTAssertEqual(jitted.jitCache?.traceCount, 1)
        _ = try jitted([try Ops.tensor([1, 2], shape: [2]), try Ops.tensor([1, 2], shape: [2])])
        XCTAssertEqual(jitted.jitCache?.traceCount, 2)
        // Transforms of the jitted function replay the graph through their rules.
        let g = try Transforms.grad(jitted, argnums: [0], hasAux: false)([a, b])[0]
        let expected = try Transforms.grad(f, argnums: [0], hasAux: false)([a, b])[0]
        try assertValues(g, Ops.doubles(expected), shape: [3], dtype: .float64)
    }

    func testSimplificationRemovesWhatRulesLeaveBehind() throws {
        let matrix = TensorType(shape: [2, 3], dtype: .float64)
        let graph = try trace([matrix]) { x in
            let zero = try Ops.full(shape: [2, 3], value: 0, dtype: .float64)
            let back = try Ops.permute(Ops.permute(x[0], dims: [1, 0]), dims: [1, 0])  // identity
            let a = try Ops.add(Ops.mul(back, Ops.scalar(1)), zero)  // (x * 1) + 0
            let b = try Ops.neg(Ops.neg(Ops.reshape(Ops.reshape(a, shape: [3, 2]), shape: [6])))
            let c = try Ops.sub(Ops.div(b, Ops.scalar(1)), Ops.scalar(0))
            return [try Ops.exp(c)]
        }
        let simplified = graph.simplified().eliminatingDeadCode()
        XCTAssertEqual(operations(simplified), ["reshape", "exp"])
        let x = try Ops.tensor([0.1, -0.2, 0.3, 1.5, -2, 0], shape: [2, 3])
        try assertValues(simplified.evaluate([x])[0], Ops.doubles(graph.evaluate([x])[0]), shape: [6], dtype: .float64,
                         tolerance: 0)
        // What must stay: a multiply by a value that is not all ones, a cast that loses precision.
        let kept = try trace([vector3]) { x in
            let narrow = try Ops.cast(Ops.cast(x[0], to: .float32), to: .float64)
            return [try Ops.mul(narrow, Ops.tensor([1, 1, 2], shape: [3]))]
        }.simplified().eliminatingDeadCode()
        XCTAssertEqual(operations(kept), ["cast", "cast", "mul"])
    }

    func testMovementChainsThroughSizeOneDimsCollapse() throws {
        // What vmap and jacrev leave around a transpose: size-1 dims added, moved and dropped.
        let matrix = TensorType(shape: [2, 3], dtype: .float64)
        let graph = try trace([matrix]) { x in
            let padded = try Ops.permute(Ops.reshape(x[0], shape: [2, 1, 3, 1]), dims: [0, 2, 1, 3])  // moves only size-1 dims
            let transposed = try Ops.reshape(Ops.permute(Ops.reshape(padded, shape: [2, 3, 1]), dims: [1, 0, 2]), shape: [3, 2])
            let whole = try Ops.slice(transposed, dim: 0, start: 0)  // everything
            let back = try Ops.permute(whole, dims: [1, 0])  // x again
            return [try Ops.exp(back), try Ops.mul(transposed, Ops.scalar(2))]
        }
        let simplified = graph.simplified().eliminatingDeadCode()
        XCTAssertEqual(operations(simplified), ["permute", "exp", "mul"])
        let x = try Ops.tensor([0.1, -0.2, 0.3, 1.5, -2, 0], shape: [2, 3])
        for (got, want) in zip(try simplified.evaluate([x]), try graph.evaluate([x])) {
            XCTAssertEqual(got.shape, want.shape)
            XCTAssertEqual(try Ops.doubles(got), try Ops.doubles(want))
        }
        // What must stay: a permute that reorders dims larger than 1, a change of rank around one,
        // a slice that drops elements.
        let kept = try trace([matrix]) { x in
            let moved = try Ops.permute(Ops.reshape(x[0], shape: [2, 3, 1]), dims: [2, 1, 0])
            return [try Ops.reshape(moved, shape: [3, 2, 1]), try Ops.slice(x[0], dim: 1, start: 1)]
        }
        let left = kept.simplified().eliminatingDeadCode()
        XCTAssertEqual(operations(left), ["reshape", "permute", "reshape", "slice"])
        for (got, want) in zip(try left.evaluate([x]), try kept.evaluate([x])) { XCTAssertEqual(try Ops.doubles(got), try Ops.doubles(want)) }
    }

    func testProductsWithAnIdentityMatrixGo() throws {
        let types = [TensorType(shape: [3, 3], dtype: .float64), TensorType(shape: [3], dtype: .float64)]
        let graph = try trace(types) { x in
            let identity = try Ops.tensor([1, 0, 0, 0, 1, 0, 0, 0, 1], shape: [3, 3])
            let almost = try Ops.tensor([1, 0, 0, 0, 1, 0, 0, 0.5, 1], shape: [3, 3])
            let strided = try Ops.transpose(identity, 0, 1)  // a view, as transforms leave their bases
            let diagonal = try Ops.mul(identity, Ops.cos(x[1]))  // jacrev's basis times a derivative
            return [try Ops.matmul(x[0], identity), try Ops.matmul(identity, Ops.sin(x[0])), try Ops.matmul(x[0], almost),
                    try Ops.matmul(x[0], strided), try Ops.matmul(x[0], Ops.transpose(almost, 0, 1)),
                    try Ops.matmul(x[0], diagonal), try Ops.matmul(x[0], Ops.transpose(diagonal, 0, 1)),
                    try Ops.matmul(x[0], Ops.mul(almost, x[1]))]  // not diagonal: stays a product
        }
        let simplified = graph.simplified().eliminatingDeadCode()
        XCTAssertEqual(operations(simplified), ["cos", "sin", "matmul", "matmul", "mul", "mul", "mul", "matmul"])
        let x = try Ops.tensor([0.1, -0.2, 0.3, 1.5, -2, 0, 4, 0.25, -1], shape: [3, 3]), v = try Ops.tensor([0.5, -1, 2], shape: [3])
        for (got, want) in zip(try simplified.evaluate([x, v]), try graph.evaluate([x, v])) {
            XCTAssertEqual(got.shape, want.shape)
            XCTAssertEqual(try Ops.doubles(got), try Ops.doubles(want))
        }
    }

    func testFusionRunsElementwiseChainsAsOneLoopWithEagerResults() throws {
        // Broadcast ([4, 1] with [1, 5] and a scalar), a transposed input, a comparison and select,
        // an int input converted on load, a value used outside the group (an output), and a
        // reduction that ends the group.
        let types = [TensorType(shape: [4, 1], dtype: .float32), TensorType(shape: [1, 5], dtype: .float32),
                     TensorType(shape: [5, 4], dtype: .float32), TensorType(shape: [4, 5], dtype: .int64)]
        let body: ([Value]) throws -> [Value] = { x in
            let s = try Ops.add(Ops.sin(x[0]), x[1])
            let t = try Ops.mul(s, Ops.transpose(x[2], 0, 1))
            let r = try Ops.where(Ops.gt(t, Ops.scalar(0)), t, Ops.mul(t, Ops.scalar(0.1)))
            let u = try Ops.add(r, x[3])
            return [u, try Ops.sum(Ops.tanh(u)), s]
        }
        let graph = try trace(types, body)
        let fused = graph.optimized()
        let groups = fused.equations.compactMap { equation -> FusedKernel? in
            if case let .fused(kernel) = equation.operation { return kernel }
            return nil
        }
        XCTAssertEqual(groups.count, 1)
        XCTAssertGreaterThanOrEqual(groups.first?.memberCount ?? 0, 7)
        func values(_ count: Int, _ scale: Double) -> [Double] { (0..<count).map { sin(Double($0) * scale) * 2 } }
        let inputs: [Value] = [try Ops.cast(Ops.tensor(values(4, 0.7), shape: [4, 1]), to: .float32),
                               try Ops.cast(Ops.tensor(values(5, 1.3), shape: [1, 5]), to: .float32),
                               try Ops.cast(Ops.tensor(values(20, 0.4), shape: [5, 4]), to: .float32),
                               try Ops.cast(Ops.tensor((0..<20).map { Double($0 % 3 - 1) }, shape: [4, 5]), to: .int64)]
        let eager = try body(inputs)
        let executable = Executable(fused)
        let replayed = try executable.run(inputs.map { $0 as! Tensor })
        XCTAssertEqual(replayed.count, 3)
        for (got, want) in zip(replayed, eager) {
            XCTAssertEqual(got.type, want.type)
            XCTAssertEqual(try Ops.doubles(got), try Ops.doubles(want))  // bitwise: the same per-element functions
        }
        // Through emit (as under a transform) the fused equation replays its members.
        for (got, want) in zip(try fused.evaluate(inputs), eager) { XCTAssertEqual(try Ops.doubles(got), try Ops.doubles(want)) }
    }

    func testFusedLoopsSplitIntoBlocksAndThreadsMatchEager() throws {
        // Larger than a block and than a thread's grain, with a ragged last block.
        let n = FusedKernel.blockSize * 70 + 3
        let type = TensorType(shape: [n], dtype: .float64)
        let body: ([Value]) throws -> [Value] = { x in [try Ops.mul(Ops.exp(Ops.neg(Ops.mul(x[0], x[0]))), Ops.cos(x[0]))] }
        let fused = try trace([type], body).optimized()
        XCTAssertEqual(operations(fused), ["fused:mul,neg,exp,cos,mul"])
        let x = try Ops.tensor((0..<n).map { Double($0) / Double(n) * 6 - 3 }, shape: [n])
        let want = try Ops.doubles(body([x])[0])
        let previous = Parallel.threadCount
        defer { try? Parallel.setNumThreads(previous, op: "test") }
        for threads in [1, 2] {
            try Parallel.setNumThreads(threads, op: "test")
            XCTAssertEqual(try Ops.doubles(Executable(fused).run([x])[0]), want)
        }
    }

    func testReadingATracedValueIsAConcretizationError() throws {
        let f = Function(name: "f", inputCount: 1, outputCount: 1) { x in
            _ = try Ops.readableTensor(x[0], op: "tensor_copy_to")
            return x
        }
        assertThrows(.transform, "depends on the inputs") { try Transforms.jit(f)([try Ops.tensor([1], shape: [1])]) }
    }
}
