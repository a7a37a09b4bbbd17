/// Random primitives: one table entry per primitive with its type rule, kernel and transform rules.
enum Random {
    static func rules(for primitive: Primitive) -> PrimitiveRules {
        let name = primitiveStubName(primitive)
        return PrimitiveRules(
            name: name,
            type: { _, _ in throw SwiftFuncError.unsupported(name, "not implemented yet") },
            eval: { _, _, _ in throw SwiftFuncError.unsupported(name, "not implemented yet") })
    }
}
