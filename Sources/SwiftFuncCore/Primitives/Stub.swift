// TEMPORARY: removed once every family has its real table.
func primitiveStubName(_ p: Primitive) -> String { "\(p)" }
