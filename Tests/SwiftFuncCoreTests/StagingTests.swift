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
        XCTAssertEqual(operations(graph.optimized()).count, operations(graph).count - 1)
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

    func testReadingATracedValueIsAConcretizationError() throws {
        let f = Function(name: "f", inputCount: 1, outputCount: 1) { x in
            _ = try Ops.readableTensor(x[0], op: "tensor_copy_to")
            return x
        }
        assertThrows(.transform, "depends on the inputs") { try Transforms.jit(f)([try Ops.tensor([1], shape: [1])]) }
    }
}
