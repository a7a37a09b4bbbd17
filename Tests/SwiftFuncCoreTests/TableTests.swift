import XCTest
@testable import SwiftFuncCore

final class TableTests: XCTestCase {
    /// One entry per primitive, each with a name and every transform rule: a primitive without a
    /// JVP, VJP or batching rule would make some transform fail (or loop) on it.
    func testEveryPrimitiveHasEveryRule() {
        XCTAssertEqual(Primitive.rules.count, Primitive.allCases.count)
        // Each primitive is listed by exactly one family table (a missing one gets an entry
        // without rules, never another primitive's).
        XCTAssertEqual(Primitive.index(Primitive.familyTables.flatMap { $0 }).problems, [])
        for primitive in Primitive.allCases {
            let rules = Primitive.rules[primitive.rawValue]
            XCTAssertEqual(rules.primitive, primitive, "\(primitive) is indexed with the entry of \(rules.primitive)")
            XCTAssertFalse(rules.name.isEmpty, "\(primitive) has no name")
            XCTAssertNotNil(rules.jvp, "\(primitive) has no JVP rule")
            XCTAssertNotNil(rules.vjp, "\(primitive) has no VJP rule")
            XCTAssertNotNil(rules.batch, "\(primitive) has no batching rule")
        }
        let names = Primitive.rules.map(\.name)
        XCTAssertEqual(Set(names).count, names.count, "two primitives share a name: \(names)")
    }

    /// The check above catches a table that forgets a primitive or lists one twice: the gap gets
    /// an entry without rules (whose use is an error, not a crash), never a neighbour's rules.
    func testTheCompletenessCheckCatchesAGap() throws {
        let entries = Primitive.familyTables.flatMap { $0 }
        let withoutProd = entries.filter { $0.primitive != .prod }
        let (rules, problems) = Primitive.index(withoutProd)
        XCTAssertEqual(problems, ["prod has no table entry"])
        let gap = rules[Primitive.prod.rawValue]
        XCTAssertEqual(gap.primitive, .prod)
        XCTAssertNil(gap.jvp)
        XCTAssertNil(gap.vjp)
        XCTAssertNil(gap.batch)
        XCTAssertThrowsError(try gap.type([TensorType(shape: [2], dtype: .float32)], .reduction(dims: [0], keepdim: false)))
        let twice = Primitive.index(entries + entries.filter { $0.primitive == .sum }).problems
        XCTAssertEqual(twice, ["sum has 2 table entries"])
    }
}
