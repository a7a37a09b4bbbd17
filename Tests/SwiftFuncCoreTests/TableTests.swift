import XCTest
@testable import SwiftFuncCore

final class TableTests: XCTestCase {
    /// One entry per primitive, each with a name and every transform rule: a primitive without a
    /// JVP, VJP or batching rule would make some transform fail (or loop) on it.
    func testEveryPrimitiveHasEveryRule() {
        XCTAssertEqual(Primitive.rules.count, Primitive.allCases.count)
        for primitive in Primitive.allCases {
            let rules = Primitive.rules[primitive.rawValue]
            XCTAssertFalse(rules.name.isEmpty, "\(primitive) has no name")
            XCTAssertNotNil(rules.jvp, "\(primitive) has no JVP rule")
            XCTAssertNotNil(rules.vjp, "\(primitive) has no VJP rule")
            XCTAssertNotNil(rules.batch, "\(primitive) has no batching rule")
        }
    }
}
