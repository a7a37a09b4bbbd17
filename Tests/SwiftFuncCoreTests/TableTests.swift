import XCTest
@testable import SwiftFuncCore

final class TableTests: XCTestCase {
    func testEveryPrimitiveHasRules() {
        XCTAssertEqual(Primitive.rules.count, Primitive.allCases.count)
        for p in Primitive.allCases {
            XCTAssertFalse(Primitive.rules[p.rawValue].name.isEmpty, "\(p)")
        }
    }
}
