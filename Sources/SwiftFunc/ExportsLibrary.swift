// Library-level exports: versions, errors, threads, handle lifetime, inspection and raw data in/out.
import CSwiftFuncHeader
import SwiftFuncCore
#if canImport(Glibc)
import Glibc
#endif

// Both versions come from include/swiftfunc.h (SF_ABI_VERSION, SF_VERSION_MAJOR/MINOR/PATCH).

@_cdecl("sf_abi_version")
public func sf_abi_version() -> UInt32 { UInt32(SF_ABI_VERSION) }

@_cdecl("sf_version")
public func sf_version() -> UnsafePointer<CChar> { swiftfunc_header_version_string() }

@_cdecl("sf_last_error")
public func sf_last_error() -> UnsafePointer<CChar> { LastError.current }

@_cdecl("sf_set_error")
public func sf_set_error(_ message: UnsafePointer<CChar>?) {
    LastError.set(message.map { String(cString: $0) } ?? "")
}

@_cdecl("sf_set_num_threads")
public func sf_set_num_threads(_ n: Int32) -> Int32 {
    Boundary.run("set_num_threads") { try Parallel.setNumThreads(Int(n), op: "set_num_threads") }
}

@_cdecl("sf_get_num_threads")
public func sf_get_num_threads(_ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    Boundary.run("get_num_threads") {
        guard let out else { throw SwiftFuncError.invalidArgument("get_num_threads", "out is NULL") }
        out.pointee = Int32(clamping: Parallel.threadCount)
    }
}

@_cdecl("sf_tensor_retain")
public func sf_tensor_retain(_ t: TensorHandle?) {
    guard let t else { return }
    _ = Unmanaged<Value>.fromOpaque(UnsafeRawPointer(t)).retain()
}

@_cdecl("sf_tensor_release")
public func sf_tensor_release(_ t: TensorHandle?) {
    guard let t else { return }
    Unmanaged<Value>.fromOpaque(UnsafeRawPointer(t)).release()
}

@_cdecl("sf_tensor_ndim")
public func sf_tensor_ndim(_ t: TensorHandle?, _ out: UnsafeMutablePointer<Int>?) -> Int32 {
    Boundary.run("tensor_ndim") {
        let value = try Boundary.value(t, "tensor_ndim", "t")
        guard let out else { throw SwiftFuncError.invalidArgument("tensor_ndim", "out_ndim is NULL") }
        out.pointee = value.rank
    }
}

@_cdecl("sf_tensor_shape")
public func sf_tensor_shape(_ t: TensorHandle?, _ out: UnsafeMutablePointer<Int64>?, _ capacity: Int) -> Int32 {
    Boundary.run("tensor_shape") {
        let value = try Boundary.value(t, "tensor_shape", "t")
        guard capacity >= value.rank else {
            throw SwiftFuncError.invalidArgument("tensor_shape", "capacity \(capacity) is less than the rank \(value.rank)")
        }
        guard value.rank == 0 || out != nil else { throw SwiftFuncError.invalidArgument("tensor_shape", "out_shape is NULL") }
        for (i, size) in value.shape.enumerated() { out?[i] = Int64(size) }
    }
}

@_cdecl("sf_tensor_dtype")
public func sf_tensor_dtype(_ t: TensorHandle?, _ out: UnsafeMutablePointer<Int32>?) -> Int32 {
    Boundary.run("tensor_dtype") {
        let value = try Boundary.value(t, "tensor_dtype", "t")
        guard let out else { throw SwiftFuncError.invalidArgument("tensor_dtype", "out_dtype is NULL") }
        out.pointee = value.dtype.rawValue
    }
}

@_cdecl("sf_tensor_numel")
public func sf_tensor_numel(_ t: TensorHandle?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    Boundary.run("tensor_numel") {
        let value = try Boundary.value(t, "tensor_numel", "t")
        guard let out else { throw SwiftFuncError.invalidArgument("tensor_numel", "out_numel is NULL") }
        out.pointee = Int64(value.count)
    }
}

@_cdecl("sf_tensor_copy_to")
public func sf_tensor_copy_to(_ t: TensorHandle?, _ dst: UnsafeMutableRawPointer?, _ dstBytes: Int) -> Int32 {
    Boundary.run("tensor_copy_to") {
        let value = try Boundary.value(t, "tensor_copy_to", "t")
        try Ops.copyValues(of: value, to: dst, byteCount: dstBytes)
    }
}

@_cdecl("sf_tensor_from_data")
public func sf_tensor_from_data(_ data: UnsafeRawPointer?, _ dtype: Int32, _ shape: UnsafePointer<Int64>?, _ ndim: Int,
                                _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    Boundary.run("tensor_from_data", out) {
        try Ops.tensor(copying: data, dtype: Boundary.dtype(dtype, "tensor_from_data"),
                       shape: Boundary.shape(shape, ndim, "tensor_from_data"))
    }
}
