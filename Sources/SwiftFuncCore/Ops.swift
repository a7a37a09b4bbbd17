/// The public, torch-named ops of the engine. Each family file extends `Ops` beside the primitives
/// it uses; every op validates its arguments, then calls `emit`, so it works the same on concrete
/// tensors and on traced values.
public enum Ops {}

extension Ops {
    /// Throws SF_ERR_DTYPE unless `x` is a float tensor: torch's float-only ops refuse integers and bools.
    static func requireFloat(_ x: Value, _ op: String) throws {
        guard x.dtype.isFloatingPoint else {
            throw SwiftFuncError.dtype(op, "expected a float tensor, got \(x.dtype)")
        }
    }
}
