// DLPack exchange: import (zero-copy views of a producer's memory) and export (zero-copy views of
// swiftfunc storage), in the legacy and the 1.x versioned struct. Only conversion lives here; the
// range checks of foreign memory are in SwiftFuncCore's `Tensor.foreign`.
import CDLPack
import SwiftFuncCore
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("sf_from_dlpack")
public func sf_from_dlpack(_ managed: UnsafeMutablePointer<DLManagedTensor>?,
                           _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "from_dlpack"
    return Boundary.run(op, out) {
        guard let managed else { throw SwiftFuncError.invalidArgument(op, "managed is NULL") }
        let deleter = managed.pointee.deleter
        return try DLPack.importTensor(managed.pointee.dl_tensor, isReadOnly: false, op: op) {
            deleter?(managed)
        }
    }
}

@_cdecl("sf_from_dlpack_versioned")
public func sf_from_dlpack_versioned(_ managed: UnsafeMutablePointer<DLManagedTensorVersioned>?,
                                     _ out: UnsafeMutablePointer<TensorHandle?>?) -> Int32 {
    let op = "from_dlpack_versioned"
    return Boundary.run(op, out) {
        guard let managed else { throw SwiftFuncError.invalidArgument(op, "managed is NULL") }
        // A different major version may have a different layout after `flags`: read nothing else.
        let version = managed.pointee.version
        guard version.major == 1 else {
            throw SwiftFuncError.unsupported(op, "DLPack version \(version.major).\(version.minor) is not supported (major must be 1)")
        }
        let deleter = managed.pointee.deleter
        let readOnly = managed.pointee.flags & UInt64(SF_DLPACK_FLAG_READ_ONLY) != 0
        return try DLPack.importTensor(managed.pointee.dl_tensor, isReadOnly: readOnly, op: op) {
            deleter?(managed)
        }
    }
}

@_cdecl("sf_to_dlpack")
public func sf_to_dlpack(_ t: TensorHandle?, _ out: UnsafeMutablePointer<UnsafeMutablePointer<DLManagedTensor>?>?) -> Int32 {
    let op = "to_dlpack"
    return Boundary.run(op) {
        guard let out else { throw SwiftFuncError.invalidArgument(op, "out is NULL") }
        out.pointee = nil
        let export = try DLPack.Export(tensor: DLPack.concrete(Boundary.value(t, op, "t"), op), op: op)
        guard let raw = malloc(MemoryLayout<DLManagedTensor>.size) else {
            throw SwiftFuncError.outOfMemory(op, "cannot allocate a DLManagedTensor")
        }
        let managed = raw.bindMemory(to: DLManagedTensor.self, capacity: 1)
        managed.initialize(to: DLManagedTensor(
            dl_tensor: export.dlTensor,
            manager_ctx: Unmanaged.passRetained(export).toOpaque(),
            deleter: { managed in
                guard let managed else { return }
                if let context = managed.pointee.manager_ctx { Unmanaged<DLPack.Export>.fromOpaque(context).release() }
                free(managed)
            }))
        out.pointee = managed
    }
}

@_cdecl("sf_to_dlpack_versioned")
public func sf_to_dlpack_versioned(_ t: TensorHandle?,
                                   _ out: UnsafeMutablePointer<UnsafeMutablePointer<DLManagedTensorVersioned>?>?) -> Int32 {
    let op = "to_dlpack_versioned"
    return Boundary.run(op) {
        guard let out else { throw SwiftFuncError.invalidArgument(op, "out is NULL") }
        out.pointee = nil
        let tensor = try DLPack.concrete(Boundary.value(t, op, "t"), op)
        let export = try DLPack.Export(tensor: tensor, op: op)
        guard let raw = malloc(MemoryLayout<DLManagedTensorVersioned>.size) else {
            throw SwiftFuncError.outOfMemory(op, "cannot allocate a DLManagedTensorVersioned")
        }
        let managed = raw.bindMemory(to: DLManagedTensorVersioned.self, capacity: 1)
        managed.initialize(to: DLManagedTensorVersioned(
            version: DLPackVersion(major: 1, minor: 0),
            manager_ctx: Unmanaged.passRetained(export).toOpaque(),
            deleter: { managed in
                guard let managed else { return }
                if let context = managed.pointee.manager_ctx { Unmanaged<DLPack.Export>.fromOpaque(context).release() }
                free(managed)
            },
            // Imported memory belongs to its producer, who may have lent it read-only; swiftfunc's own
            // storage may be written by the consumer (no swiftfunc op ever writes into a tensor).
            flags: tensor.storage.isForeign ? UInt64(SF_DLPACK_FLAG_READ_ONLY) : 0,
            dl_tensor: export.dlTensor))
        out.pointee = managed
    }
}

/// Conversions between DLPack's C structs and tensors.
enum DLPack {
    /// The DLPack dtype code for bool (kDLBool, DLPack >= 0.8; absent from Debian's 0.6 header).
    static let boolCode = UInt8(SF_DLPACK_CODE_BOOL)

    /// The dtype a DLPack tensor holds, if swiftfunc supports it.
    static func dtype(_ type: DLDataType, op: String) throws -> DType {
        guard type.lanes == 1 else { throw SwiftFuncError.dtype(op, "lanes \(type.lanes) is not supported (only 1)") }
        switch (UInt32(type.code), type.bits) {
        case (kDLFloat.rawValue, 32): return .float32
        case (kDLFloat.rawValue, 64): return .float64
        case (kDLInt.rawValue, 32): return .int32
        case (kDLInt.rawValue, 64): return .int64
        case (UInt32(boolCode), 8): return .bool
        default:
            throw SwiftFuncError.dtype(op, "DLPack dtype code \(type.code) with \(type.bits) bits is not supported "
                + "(float32, float64, int32, int64 and bool are)")
        }
    }

    /// The DLPack description of a dtype.
    static func dataType(_ dtype: DType) -> DLDataType {
        switch dtype {
        case .float32: return DLDataType(code: UInt8(kDLFloat.rawValue), bits: 32, lanes: 1)
        case .float64: return DLDataType(code: UInt8(kDLFloat.rawValue), bits: 64, lanes: 1)
        case .int32: return DLDataType(code: UInt8(kDLInt.rawValue), bits: 32, lanes: 1)
        case .int64: return DLDataType(code: UInt8(kDLInt.rawValue), bits: 64, lanes: 1)
        case .bool: return DLDataType(code: boolCode, bits: 8, lanes: 1)
        }
    }

    /// A tensor viewing a DLTensor's memory; `release` calls the producer's deleter (see
    /// `Tensor.foreign` for when it runs, and that it never runs when this throws).
    static func importTensor(_ t: DLTensor, isReadOnly: Bool, op: String, release: @escaping () -> Void) throws -> Tensor {
        guard t.device.device_type.rawValue == kDLCPU.rawValue else {
            throw SwiftFuncError(.device, op, "device type \(t.device.device_type.rawValue) is not the CPU (\(kDLCPU.rawValue))")
        }
        let dtype = try dtype(t.dtype, op: op)
        let rank = Int(t.ndim)
        guard rank >= 0 && rank <= ShapeChecks.maxRank else {
            throw SwiftFuncError.shape(op, "ndim \(t.ndim) is outside [0, \(ShapeChecks.maxRank)]")
        }
        var shape: [Int] = []
        var strides: [Int]?
        if rank > 0 {
            guard let sizes = t.shape else { throw SwiftFuncError.invalidArgument(op, "shape is NULL for ndim \(rank)") }
            shape = (0..<rank).map { Int(sizes[$0]) }
            strides = t.strides.map { pointer in (0..<rank).map { Int(pointer[$0]) } }
        }
        return try Tensor.foreign(data: t.data, byteOffset: t.byte_offset, shape: shape, strides: strides, dtype: dtype,
                                  isReadOnly: isReadOnly, op: op, release: release)
    }

    /// The concrete tensor behind a value; traced values cannot be exported.
    static func concrete(_ value: Value, _ op: String) throws -> Tensor {
        guard let tensor = value as? Tensor else {
            throw SwiftFuncError.transform(op, "a traced value cannot be exported; only concrete tensors can")
        }
        return tensor
    }

    /// The `manager_ctx` of an exported tensor: keeps the tensor (hence its storage) alive and owns
    /// the shape and strides arrays the DLTensor points to, until the consumer calls the deleter.
    final class Export {
        let tensor: Tensor
        /// `rank` sizes followed by `rank` strides (at least one slot so the pointers are never NULL).
        let sizes: UnsafeMutablePointer<Int64>

        init(tensor: Tensor, op: String) throws {
            let rank = tensor.rank
            guard let raw = malloc(MemoryLayout<Int64>.stride * Swift.max(2 * rank, 1)) else {
                throw SwiftFuncError.outOfMemory(op, "cannot allocate the shape and strides")
            }
            sizes = raw.bindMemory(to: Int64.self, capacity: Swift.max(2 * rank, 1))
            for d in 0..<rank {
                sizes[d] = Int64(tensor.shape[d])
                sizes[rank + d] = Int64(tensor.strides[d])
            }
            self.tensor = tensor
        }

        deinit { free(sizes) }

        /// The DLTensor view: data is element [0, 0, ...] (NULL without elements), byte_offset 0.
        var dlTensor: DLTensor {
            let rank = tensor.rank
            return DLTensor(
                data: tensor.baseAddress,
                device: DLDevice(device_type: kDLCPU, device_id: 0),
                ndim: Int32(rank),
                dtype: DLPack.dataType(tensor.dtype),
                shape: sizes,
                strides: sizes + rank,
                byte_offset: 0)
        }
    }
}
