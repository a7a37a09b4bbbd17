// The C boundary: converts handles and C arrays to engine values, validates what the engine cannot
// check itself (NULL pointers, counts), runs the engine, and maps thrown errors to a status plus
// the thread's last-error message. It holds no logic of its own; nothing here may trap.
import CSwiftFuncHeader
import SwiftFuncCore
#if canImport(Glibc)
import Glibc
#endif

/// `sf_tensor *` on the Swift side.
public typealias TensorHandle = OpaquePointer

enum Boundary {
    /// The Value behind a borrowed handle; `argument` names it in the error.
    /// (`argument` is an autoclosure: names like "inputs[3]" are built only for the error.)
    static func value(_ handle: TensorHandle?, _ function: String, _ argument: @autoclosure () -> String) throws -> Value {
        guard let handle else { throw SwiftFuncError.invalidArgument(function, "\(argument()) is NULL") }
        return Unmanaged<Value>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// The Value behind an optional handle (NULL gives nil).
    static func optionalValue(_ handle: TensorHandle?) -> Value? {
        guard let handle else { return nil }
        return Unmanaged<Value>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// A new owned handle for `value`.
    static func handle(_ value: Value) -> TensorHandle {
        TensorHandle(Unmanaged.passRetained(value).toOpaque())
    }

    /// Runs `body`, stores its result as a new handle in `out`, and returns the status.
    static func run(_ function: String, _ out: UnsafeMutablePointer<TensorHandle?>?, _ body: () throws -> Value) -> Int32 {
        guard let out else { return fail(SwiftFuncError.invalidArgument(function, "out is NULL")) }
        out.pointee = nil
        do {
            out.pointee = handle(try body())
            return Status.ok.rawValue
        } catch {
            return fail(error, in: function)
        }
    }

    /// Runs `body`, which makes two results, and stores them as new handles in `first` and `second`
    /// (both or, on failure, neither); `names` are the two out arguments' names for messages.
    static func run(_ function: String, _ first: UnsafeMutablePointer<TensorHandle?>?, _ second: UnsafeMutablePointer<TensorHandle?>?,
                    names: (String, String), _ body: () throws -> (Value, Value)) -> Int32 {
        first?.pointee = nil
        second?.pointee = nil
        guard let first else { return fail(SwiftFuncError.invalidArgument(function, "\(names.0) is NULL")) }
        guard let second else { return fail(SwiftFuncError.invalidArgument(function, "\(names.1) is NULL")) }
        do {
            let (a, b) = try body()
            first.pointee = handle(a)
            second.pointee = handle(b)
            return Status.ok.rawValue
        } catch {
            return fail(error, in: function)
        }
    }

    /// Runs `body`, which makes three results, and stores them as new handles in `outs` (all or, on
    /// failure, none); `names` are the out arguments' names for messages.
    static func run(_ function: String, _ outs: [UnsafeMutablePointer<TensorHandle?>?], names: [String],
                    _ body: () throws -> (Value, Value, Value)) -> Int32 {
        for (out, name) in zip(outs, names) where out == nil {
            return fail(SwiftFuncError.invalidArgument(function, "\(name) is NULL"))
        }
        for out in outs { out?.pointee = nil }
        do {
            let (a, b, c) = try body()
            outs[0]?.pointee = handle(a)
            outs[1]?.pointee = handle(b)
            outs[2]?.pointee = handle(c)
            return Status.ok.rawValue
        } catch {
            return fail(error, in: function)
        }
    }

    /// Runs `body` and returns the status (for calls whose results are written by `body` itself).
    static func run(_ function: String, _ body: () throws -> Void) -> Int32 {
        do {
            try body()
            return Status.ok.rawValue
        } catch {
            return fail(error, in: function)
        }
    }

    /// Records `error` as this thread's last error and returns its status. With `function`, a
    /// message from an op that a composite called ("sf_matmul: ..." inside sf_linear) is prefixed
    /// with the function the host called, so the message names both.
    static func fail(_ error: any Error, in function: String? = nil) -> Int32 {
        if let error = error as? SwiftFuncError {
            if let function, !error.message.hasPrefix("sf_\(function):") {
                LastError.set("sf_\(function): \(error.message)")
            } else {
                LastError.set(error.message)
            }
            return error.status.rawValue
        }
        LastError.set("swiftfunc: unexpected error \(error)")
        return Status.internal.rawValue
    }

    /// The most inputs or outputs a function may have.
    static let maxArity = Int(SF_MAX_ARITY)

    /// A host array of `count` int64 values as [Int]; NULL is allowed only with count 0.
    static func ints(_ pointer: UnsafePointer<Int64>?, _ count: Int, _ function: String, _ argument: String) throws -> [Int] {
        // A size_t count past Int.max arrives negative.
        guard count >= 0 else { throw SwiftFuncError.invalidArgument(function, "\(argument) has \(UInt(bitPattern: count)) entries, too many") }
        guard count > 0 else { return [] }
        guard let pointer else { throw SwiftFuncError.invalidArgument(function, "\(argument) is NULL but its count is \(count)") }
        guard count <= Int(SF_MAX_ARRAY_LEN) else { throw SwiftFuncError.invalidArgument(function, "\(argument) has \(count) entries, too many") }
        return (0..<count).map { Int(pointer[$0]) }
    }

    /// A host shape: at most SF_MAX_NDIM sizes, checked by the engine for sign and overflow.
    static func shape(_ pointer: UnsafePointer<Int64>?, _ count: Int, _ function: String) throws -> [Int] {
        guard count >= 0, count <= ShapeChecks.maxRank else {
            throw SwiftFuncError.shape(function, "rank \(UInt(bitPattern: count)) exceeds the maximum of \(ShapeChecks.maxRank)")
        }
        return try ints(pointer, count, function, "shape")
    }

    /// An `sf_dtype` value from the host.
    static func dtype(_ raw: Int32, _ function: String) throws -> DType {
        guard let dtype = DType(rawValue: raw) else { throw SwiftFuncError.dtype(function, "\(raw) is not an sf_dtype") }
        return dtype
    }

    /// An `sf_reduction` value from the host.
    static func reduction(_ raw: Int32, _ function: String) throws -> Reduction {
        guard let reduction = Reduction(rawValue: raw) else { throw SwiftFuncError.invalidArgument(function, "\(raw) is not an sf_reduction") }
        return reduction
    }

    /// A host array of `count` tensor handles; NULL entries are errors.
    static func values(_ pointer: UnsafePointer<TensorHandle?>?, _ count: Int, _ function: String, _ argument: String) throws -> [Value] {
        guard count >= 0, count <= Int(SF_MAX_ARRAY_LEN) else {
            throw SwiftFuncError.invalidArgument(function, "\(argument) has \(UInt(bitPattern: count)) entries, too many")
        }
        guard count > 0 else { return [] }
        guard let pointer else { throw SwiftFuncError.invalidArgument(function, "\(argument) is NULL but its count is \(count)") }
        return try (0..<count).map { try value(pointer[$0], function, "\(argument)[\($0)]") }
    }
}

/// The thread-local message behind `sf_last_error`, kept as a C string owned by the thread.
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { free($0) }
        return key
    }()

    private static let empty: StaticString = ""

    /// Replaces this thread's message (the previous string is freed).
    static func set(_ message: String) {
        let copy = strdup(message)
        free(pthread_getspecific(key))
        pthread_setspecific(key, copy)
    }

    /// This thread's message as a Swift string.
    static var text: String { String(cString: current) }

    /// This thread's message, never NULL.
    static var current: UnsafePointer<CChar> {
        if let pointer = pthread_getspecific(key) { return UnsafePointer(pointer.assumingMemoryBound(to: CChar.self)) }
        return UnsafeRawPointer(empty.utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
