// Exports of function export and import: bytes and files holding a traced graph (docs/export.md).
import CSwiftFuncHeader
import SwiftFuncCore
#if canImport(Glibc)
import Glibc
#endif

extension Boundary {
    /// The largest exported file sf_function_load reads (1 GiB).
    static let maxExportFileSize = 1 << 30

    /// The bytes of f exported at `inputs` with `metadata`.
    static func export(_ f: FunctionHandle?, _ inputs: UnsafePointer<TensorHandle?>?, _ n: Int, metadata: [UInt8],
                       _ op: String) throws -> [UInt8] {
        let function = try Boundary.function(f, op)
        // Checked before reading the array, which holds n handles.
        guard n == function.inputCount else {
            throw SwiftFuncError.invalidArgument(op, "\(function.name) takes \(function.inputCount) inputs, given \(UInt(bitPattern: n))")
        }
        let examples = try Boundary.values(inputs, n, op, "example_inputs")
        let version = String(cString: swiftfunc_header_version_string())
        return try Exported.serialize(function, examples: examples, metadata: metadata, libraryVersion: version)
    }

    /// Runs `body` and hands its bytes to the host as malloc'd memory (freed with sf_bytes_free);
    /// on failure `*out` is NULL and `*outSize` 0.
    static func runBytes(_ op: String, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                         _ outSize: UnsafeMutablePointer<Int>?, _ body: () throws -> [UInt8]) -> Int32 {
        out?.pointee = nil
        outSize?.pointee = 0
        return run(op) {
            guard let out, let outSize else { throw SwiftFuncError.invalidArgument(op, "an out pointer is NULL") }
            let bytes = try body()
            guard let memory = malloc(Swift.max(bytes.count, 1)) else {
                throw SwiftFuncError.outOfMemory(op, "cannot allocate \(bytes.count) bytes")
            }
            bytes.withUnsafeBytes { if let base = $0.baseAddress { memory.copyMemory(from: base, byteCount: bytes.count) } }
            out.pointee = memory
            outSize.pointee = bytes.count
        }
    }

    /// A host byte range; NULL is allowed only with size 0.
    static func byteRange(_ bytes: UnsafeRawPointer?, _ size: Int, _ op: String) throws -> UnsafeRawBufferPointer {
        guard size >= 0 else { throw SwiftFuncError.invalidArgument(op, "size \(UInt(bitPattern: size)) is too large") }
        guard let bytes else {
            guard size == 0 else { throw SwiftFuncError.invalidArgument(op, "bytes is NULL but size is \(size)") }
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeRawBufferPointer(start: bytes, count: size)
    }
}

@_cdecl("sf_function_export")
public func sf_function_export(_ f: FunctionHandle?, _ inputs: UnsafePointer<TensorHandle?>?, _ n: Int,
                               _ outBytes: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                               _ outSize: UnsafeMutablePointer<Int>?) -> Int32 {
    sf_function_export_with_metadata(f, inputs, n, nil, 0, outBytes, outSize)
}

@_cdecl("sf_function_export_with_metadata")
public func sf_function_export_with_metadata(_ f: FunctionHandle?, _ inputs: UnsafePointer<TensorHandle?>?, _ n: Int,
                                             _ metadata: UnsafeRawPointer?, _ metadataSize: Int,
                                             _ outBytes: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                             _ outSize: UnsafeMutablePointer<Int>?) -> Int32 {
    let op = "function_export"
    return Boundary.runBytes(op, outBytes, outSize) {
        try Boundary.export(f, inputs, n, metadata: Array(try Boundary.byteRange(metadata, metadataSize, op)), op)
    }
}

@_cdecl("sf_bytes_free")
public func sf_bytes_free(_ bytes: UnsafeMutableRawPointer?) {
    free(bytes)
}

@_cdecl("sf_function_import")
public func sf_function_import(_ bytes: UnsafeRawPointer?, _ size: Int, _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    Boundary.runFunction("function_import", out) {
        try Exported.function(from: try Boundary.byteRange(bytes, size, "function_import"))
    }
}

@_cdecl("sf_function_metadata")
public func sf_function_metadata(_ bytes: UnsafeRawPointer?, _ size: Int,
                                 _ outMetadata: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                                 _ outSize: UnsafeMutablePointer<Int>?) -> Int32 {
    let op = "function_metadata"
    return Boundary.runBytes(op, outMetadata, outSize) { try Exported.metadata(try Boundary.byteRange(bytes, size, op)) }
}

@_cdecl("sf_function_save")
public func sf_function_save(_ f: FunctionHandle?, _ inputs: UnsafePointer<TensorHandle?>?, _ n: Int,
                             _ path: UnsafePointer<CChar>?) -> Int32 {
    let op = "function_save"
    return Boundary.run(op) {
        guard let path else { throw SwiftFuncError.invalidArgument(op, "path is NULL") }
        let bytes = try Boundary.export(f, inputs, n, metadata: [], op)
        let name = String(cString: path)
        guard let file = fopen(path, "wb") else { throw SwiftFuncError.invalidArgument(op, "cannot open \(name) for writing") }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        let closed = fclose(file)
        guard written == bytes.count, closed == 0 else { throw SwiftFuncError.invalidArgument(op, "cannot write \(name)") }
    }
}

@_cdecl("sf_function_load")
public func sf_function_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<FunctionHandle?>?) -> Int32 {
    let op = "function_load"
    return Boundary.runFunction(op, out) {
        guard let path else { throw SwiftFuncError.invalidArgument(op, "path is NULL") }
        let name = String(cString: path)
        guard let file = fopen(path, "rb") else { throw SwiftFuncError.invalidArgument(op, "cannot open \(name)") }
        defer { fclose(file) }
        // Read in chunks up to the bound rather than trusting a size reported up front.
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= Boundary.maxExportFileSize else {
                throw SwiftFuncError.invalidArgument(op, "\(name) is larger than \(Boundary.maxExportFileSize) bytes")
            }
            if count < chunk.count { break }
        }
        guard ferror(file) == 0 else { throw SwiftFuncError.invalidArgument(op, "cannot read \(name)") }
        return try bytes.withUnsafeBytes { try Exported.function(from: $0) }
    }
}
