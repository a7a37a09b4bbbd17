/// Outcome categories of every C ABI call. Raw values are the C ABI's `sf_status` values.
public enum Status: Int32, Sendable {
    case ok = 0
    case invalidArgument = 1
    case shape = 2
    case dtype = 3
    case device = 4
    case outOfMemory = 5
    case transform = 6
    case callback = 7
    case unsupported = 8
    case `internal` = 9
}

/// The one error type of the engine: a status and a message that names the op and the problem,
/// e.g. "sf_matmul: shapes [3, 4] and [5, 6] are not compatible".
public struct SwiftFuncError: Error, CustomStringConvertible, Sendable {
    /// The status the C boundary returns for this error.
    public let status: Status
    /// The full message, starting with the op's C name.
    public let message: String

    /// An error of `op` (its torch/C name without the `sf_` prefix) with a detail message.
    public init(_ status: Status, _ op: String, _ detail: String) {
        self.status = status
        self.message = "sf_\(op): \(detail)"
    }

    /// An error whose message is already complete (host callbacks, pass-through).
    public init(status: Status, message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }

    public static func invalidArgument(_ op: String, _ detail: String) -> SwiftFuncError { .init(.invalidArgument, op, detail) }
    public static func shape(_ op: String, _ detail: String) -> SwiftFuncError { .init(.shape, op, detail) }
    public static func dtype(_ op: String, _ detail: String) -> SwiftFuncError { .init(.dtype, op, detail) }
    public static func unsupported(_ op: String, _ detail: String) -> SwiftFuncError { .init(.unsupported, op, detail) }
    public static func outOfMemory(_ op: String, _ detail: String) -> SwiftFuncError { .init(.outOfMemory, op, detail) }
    public static func transform(_ op: String, _ detail: String) -> SwiftFuncError { .init(.transform, op, detail) }
    public static func `internal`(_ op: String, _ detail: String) -> SwiftFuncError { .init(.internal, op, detail) }
}
