/// Movement primitives: reshape, permute, expand, slice, flip, pad, cat and stopGradient (torch's
/// detach), with the composites squeeze, unsqueeze, transpose and stack.
///
/// reshape (when the strides allow), permute, expand, slice, flip and stopGradient return views of
/// their input's storage; a view only ever reaches elements its input reaches, so it stays inside
/// the storage. pad and cat (and reshapes that cannot be views) make new contiguous tensors.
enum Movement {
    static let table: [PrimitiveRules] = [
        PrimitiveRules(.reshape, name: "reshape", type: reshapeType, eval: reshapeEval,
                       jvp: linearJVP(.reshape), vjp: reshapeVJP, batch: reshapeBatch),
        PrimitiveRules(.permute, name: "permute", type: permuteType, eval: permuteEval,
                       jvp: linearJVP(.permute), vjp: permuteVJP, batch: permuteBatch),
        PrimitiveRules(.expand, name: "expand", type: expandType, eval: expandEval,
                       jvp: linearJVP(.expand), vjp: expandVJP, batch: expandBatch),
        PrimitiveRules(.slice, name: "slice", type: sliceType, eval: sliceEval,
                       jvp: linearJVP(.slice), vjp: sliceVJP, batch: sliceBatch),
        PrimitiveRules(.flip, name: "flip", type: flipType, eval: flipEval,
                       jvp: linearJVP(.flip), vjp: flipVJP, batch: flipBatch),
        PrimitiveRules(.pad, name: "pad", type: padType, eval: padEval,
                       jvp: padJVP, vjp: padVJP, batch: padBatch),
        PrimitiveRules(.cat, name: "cat", type: catType, eval: catEval,
                       jvp: catJVP, vjp: catVJP, batch: catBatch),
        // detach: no tangent flows through, no cotangent flows back.
        PrimitiveRules(.stopGradient, name: "detach", type: detachType, eval: detachEval,
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: Batching.vectorized(.stopGradient)),
    ]

    private static func single(_ args: [TensorType], _ name: String) throws -> TensorType {
        guard args.count == 1 else { throw SwiftFuncError.internal(name, "expects one tensor, got \(args.count)") }
        return args[0]
    }

    // MARK: reshape

    static func reshapeType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let x = try single(args, "reshape")
        guard case let .shape(shape) = params else { throw SwiftFuncError.internal("reshape", "expects a shape") }
        let count = try ShapeChecks.validate(shape, itemSize: x.dtype.itemSize, op: "reshape")
        guard count == x.count else {
            throw SwiftFuncError.shape("reshape", "shape \(formatShape(shape)) is invalid for input of size \(x.count) (shape \(formatShape(x.shape)))")
        }
        return TensorType(shape: shape, dtype: x.dtype)
    }

    static func reshapeEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let x = args[0]
        if let strides = viewStrides(shape: x.shape, strides: x.strides, newShape: type.shape) {
            return x.view(type: type, strides: strides, offset: x.offset)
        }
        // Only non-contiguous layouts get here: copy to row-major, which any shape can view.
        let dense = try x.contiguous(op: "reshape")
        return dense.view(type: type, strides: ShapeChecks.contiguousStrides(type.shape), offset: dense.offset)
    }

    /// Strides that show the elements of a `shape`/`strides` tensor in row-major order as `newShape`
    /// (same element count), or nil when no strides can (torch's view rule: each run of new dims
    /// must split or merge a chunk of old dims that is itself contiguous).
    static func viewStrides(shape: [Int], strides: [Int], newShape: [Int]) -> [Int]? {
        if shape.contains(0) || newShape.contains(0) || shape.isEmpty {
            // Nothing (or one element) is reachable; row-major strides are as good as any.
            return ShapeChecks.contiguousStrides(newShape)
        }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var viewD = newShape.count - 1
        var chunkBaseStride = strides[strides.count - 1]
        var tensorCount = 1, viewCount = 1
        for tensorD in stride(from: shape.count - 1, through: 0, by: -1) {
            tensorCount &*= shape[tensorD]
            // A chunk ends where the dim before is not laid out right outside this one.
            if tensorD == 0 || (shape[tensorD - 1] != 1 && strides[tensorD - 1] != tensorCount &* chunkBaseStride) {
                while viewD >= 0 && (viewCount < tensorCount || newShape[viewD] == 1) {
                    let (stride, overflow) = viewCount.multipliedReportingOverflow(by: chunkBaseStride)
                    if overflow { return nil }
                    newStrides[viewD] = stride
                    viewCount &*= newShape[viewD]
                    viewD -= 1
                }
                if viewCount != tensorCount { return nil }
                if tensorD > 0 {
                    chunkBaseStride = strides[tensorD - 1]
                    tensorCount = 1
                    viewCount = 1
                }
            }
        }
        return viewD == -1 ? newStrides : nil
    }

    // MARK: permute

    static func permuteType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let x = try single(args, "permute")
        guard case let .permutation(permutation) = params else { throw SwiftFuncError.internal("permute", "expects a permutation") }
        guard permutation.count == x.rank, permutation.sorted() == Array(0..<x.rank) else {
            throw SwiftFuncError.invalidArgument("permute", "\(permutation) is not a permutation of the \(x.rank) dims of shape \(formatShape(x.shape))")
        }
        return TensorType(shape: permutation.map { x.shape[$0] }, dtype: x.dtype)
    }

    static func permuteEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        guard case let .permutation(permutation) = params else { throw SwiftFuncError.internal("permute", "expects a permutation") }
        let x = args[0]
        return x.view(type: type, strides: permutation.map { x.strides[$0] }, offset: x.offset)
    }

    // MARK: expand

    static func expandType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let x = try single(args, "expand")
        guard case let .shape(shape) = params else { throw SwiftFuncError.internal("expand", "expects a shape") }
        try ShapeChecks.validate(shape, itemSize: x.dtype.itemSize, op: "expand")
        guard shape.count >= x.rank else {
            throw SwiftFuncError.shape("expand", "cannot expand shape \(formatShape(x.shape)) to fewer dims \(formatShape(shape))")
        }
        let lead = shape.count - x.rank
        for d in 0..<x.rank where x.shape[d] != shape[lead + d] && x.shape[d] != 1 {
            throw SwiftFuncError.shape("expand", "the size \(x.shape[d]) of dim \(d) cannot be expanded to \(shape[lead + d]) (only size-1 dims grow); shape \(formatShape(x.shape)) to \(formatShape(shape))")
        }
        return TensorType(shape: shape, dtype: x.dtype)
    }

    static func expandEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let x = args[0]
        let strides = ShapeChecks.broadcastStrides(shape: x.shape, strides: x.strides, to: type.shape)
        return x.view(type: type, strides: strides, offset: x.offset)
    }

    // MARK: slice

    static func sliceType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let x = try single(args, "slice")
        guard case let .slice(dim, start, count, step) = params else { throw SwiftFuncError.internal("slice", "expects slice parameters") }
        guard dim >= 0 && dim < x.rank else {
            throw SwiftFuncError.invalidArgument("slice", "dim \(dim) is out of range for a tensor of rank \(x.rank)")
        }
        guard step > 0 else { throw SwiftFuncError.invalidArgument("slice", "step \(step) must be positive") }
        let size = x.shape[dim]
        // The last element taken, start + (count - 1) * step, must lie inside the dim.
        let inside: Bool
        if count == 0 {
            inside = start >= 0 && start <= size
        } else {
            let (span, o1) = (count - 1).multipliedReportingOverflow(by: step)
            let (last, o2) = start.addingReportingOverflow(span)
            inside = count > 0 && start >= 0 && !o1 && !o2 && last < size
        }
        guard inside else {
            throw SwiftFuncError.shape("slice", "\(count) elements from \(start) by \(step) do not fit dim \(dim) of size \(size)")
        }
        var shape = x.shape
        shape[dim] = count
        return TensorType(shape: shape, dtype: x.dtype)
    }

    static func sliceEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        guard case let .slice(dim, start, count, step) = params else { throw SwiftFuncError.internal("slice", "expects slice parameters") }
        let x = args[0]
        guard count > 0 && type.count > 0 else { return x.view(type: type, strides: x.strides, offset: x.offset) }
        var strides = x.strides
        // With one element the stride is never used (and step may be huge).
        if count > 1 { strides[dim] = x.strides[dim] &* step }
        return x.view(type: type, strides: strides, offset: x.offset &+ start &* x.strides[dim])
    }

    // MARK: flip

    static func flipType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let x = try single(args, "flip")
        guard case let .dims(dims) = params else { throw SwiftFuncError.internal("flip", "expects dims") }
        try Reductions.checkSortedDims(dims, rank: x.rank, op: "flip")
        return TensorType(shape: x.shape, dtype: x.dtype)
    }

    static func flipEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        guard case let .dims(dims) = params else { throw SwiftFuncError.internal("flip", "expects dims") }
        let x = args[0]
        guard x.count > 0 else { return x.view(type: type, strides: x.strides, offset: x.offset) }
        var strides = x.strides, offset = x.offset
        for d in dims {
            // Start at the last element of the dim and walk backwards.
            offset &+= (x.shape[d] &- 1) &* strides[d]
            strides[d] = 0 &- strides[d]
        }
        return x.view(type: type, strides: strides, offset: offset)
    }

    // MARK: pad

    static func padType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        let x = try single(args, "pad")
        guard case let .pad(before, after, _) = params else { throw SwiftFuncError.internal("pad", "expects pad parameters") }
        guard before.count == x.rank && after.count == x.rank else {
            throw SwiftFuncError.internal("pad", "has \(before.count)/\(after.count) pads for rank \(x.rank)")
        }
        var shape = x.shape
        for d in 0..<x.rank {
            // Cropping more than the whole dim has no meaning (and would overflow when negated).
            guard before[d] >= -x.shape[d] && after[d] >= -x.shape[d] else {
                throw SwiftFuncError.shape("pad", "padding (\(before[d]), \(after[d])) crops more than the size \(x.shape[d]) of dim \(d)")
            }
            let (a, o1) = x.shape[d].addingReportingOverflow(before[d])
            let (size, o2) = a.addingReportingOverflow(after[d])
            guard !o1 && !o2 && size >= 0 else {
                throw SwiftFuncError.shape("pad", "padding (\(before[d]), \(after[d])) gives dim \(d) of size \(x.shape[d]) a negative or overflowing size")
            }
            shape[d] = size
        }
        try ShapeChecks.validate(shape, itemSize: x.dtype.itemSize, op: "pad")
        return TensorType(shape: shape, dtype: x.dtype)
    }

    static func padEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        guard case let .pad(before, after, value) = params else { throw SwiftFuncError.internal("pad", "expects pad parameters") }
        let x = args[0]
        let result = try Tensor(uninitialized: type, op: "pad")
        try type.dtype.dispatch(Fill(tensor: result, value: value))
        // The part of x that survives cropping, and where it lands in the result.
        var overlap = x.shape
        var sourceOffset = x.offset, targetOffset = 0
        for d in 0..<x.rank {
            let cropBefore = Swift.max(0, -before[d]), cropAfter = Swift.max(0, -after[d])
            overlap[d] = Swift.max(0, x.shape[d] - cropBefore - cropAfter)
            sourceOffset &+= cropBefore &* x.strides[d]
            targetOffset &+= Swift.max(0, before[d]) &* result.strides[d]
        }
        if overlap.contains(0) { return result }
        let overlapType = TensorType(shape: overlap, dtype: x.dtype)
        let source = x.view(type: overlapType, strides: x.strides, offset: sourceOffset)
        try source.copyElements(into: result.view(type: overlapType, strides: result.strides, offset: targetOffset))
        return result
    }

    /// Fills a contiguous tensor with one value converted to its dtype.
    private struct Fill: DTypeVisitor {
        let tensor: Tensor, value: Double
        func visit<T: Element>(_: T.Type) {
            let p = tensor.elements(as: T.self), v = T(fromDouble: value)
            for i in 0..<tensor.count { p[i] = v }
        }
    }

    // MARK: cat

    /// torch's legacy rule: 1-D empty tensors take part in cat whatever the other shapes are.
    static func isSkippedInCat(_ type: TensorType) -> Bool { type.shape == [0] }

    static func catType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        guard case let .dim(dim) = params else { throw SwiftFuncError.internal("cat", "expects a dim") }
        guard let first = args.first else { throw SwiftFuncError.invalidArgument("cat", "needs at least one tensor") }
        var dtype = first.dtype
        for arg in args.dropFirst() { dtype = DType.promoteStrong(dtype, arg.dtype) }
        for (i, arg) in args.enumerated() where arg.rank == 0 {
            throw SwiftFuncError.shape("cat", "zero-dimensional tensor (at position \(i)) cannot be concatenated")
        }
        guard let referenceIndex = args.firstIndex(where: { !isSkippedInCat($0) }) else {
            guard dim == 0 else { throw SwiftFuncError.invalidArgument("cat", "dim \(dim) is out of range for rank 1") }
            return TensorType(shape: [0], dtype: dtype)
        }
        let reference = args[referenceIndex]
        guard dim >= 0 && dim < reference.rank else {
            throw SwiftFuncError.invalidArgument("cat", "dim \(dim) is out of range for a tensor of rank \(reference.rank)")
        }
        var shape = reference.shape
        shape[dim] = 0
        for (i, arg) in args.enumerated() where !isSkippedInCat(arg) {
            let matches = arg.rank == reference.rank && (0..<arg.rank).allSatisfy { $0 == dim || arg.shape[$0] == reference.shape[$0] }
            guard matches else {
                throw SwiftFuncError.shape("cat", "shapes \(formatShape(reference.shape)) (tensor \(referenceIndex)) and \(formatShape(arg.shape)) (tensor \(i)) must match except in dim \(dim)")
            }
            let (size, overflow) = shape[dim].addingReportingOverflow(arg.shape[dim])
            guard !overflow else { throw SwiftFuncError.shape("cat", "the result's dim \(dim) is too large") }
            shape[dim] = size
        }
        try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: "cat")
        return TensorType(shape: shape, dtype: dtype)
    }

    static func catEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        guard case let .dim(dim) = params else { throw SwiftFuncError.internal("cat", "expects a dim") }
        let result = try Tensor(uninitialized: type, op: "cat")
        guard type.count > 0 else { return result }
        var position = 0
        for arg in args where !isSkippedInCat(arg.type) && arg.count > 0 {
            let part = TensorType(shape: arg.shape, dtype: type.dtype)
            let target = result.view(type: part, strides: result.strides, offset: position &* result.strides[dim])
            try arg.copyElements(into: target)
            position &+= arg.shape[dim]
        }
        return result
    }

    // MARK: detach

    static func detachType(_ args: [TensorType], _ params: Params) throws -> TensorType {
        try single(args, "detach")
    }

    static func detachEval(_ args: [Tensor], _ params: Params, _ type: TensorType) throws -> Tensor {
        let x = args[0]
        return x.view(type: type, strides: x.strides, offset: x.offset)
    }
}

// MARK: - Transform rules

extension Movement {
    /// JVP of a one-operand op that is linear in its input: the op applied to the tangent.
    static func linearJVP(_ primitive: Primitive) -> JVPRule {
        { _, tangents, output, params in
            guard let tangent = tangents[0] else { return nil }
            return try Differentiation.cast(try emit(primitive, [tangent], params), to: output.dtype)
        }
    }

    /// The batched dim that holds per-example dim `d` when the batch sits at `batchDim`.
    static func shifted(_ d: Int, around batchDim: Int) -> Int { d < batchDim ? d : d + 1 }

    /// The operand's batch dim, or an internal error (the interpreter calls one-operand rules only
    /// with a batched operand).
    private static func batchDim(_ dims: [Int?], _ op: String) throws -> Int {
        guard let dim = dims.first ?? nil else { throw SwiftFuncError.internal(op, "batching rule called without a batched operand") }
        return dim
    }

    // reshape: reshape back; batched, the batch goes in front of the new shape.

    static func reshapeVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        [try emit(.reshape, [cotangent], .shape(primals[0].shape))]
    }

    static func reshapeBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        guard case let .shape(shape) = params else { throw SwiftFuncError.internal("reshape", "expects a shape") }
        let front = try Batching.moveDim(args[0], from: try batchDim(dims, "reshape"), to: 0)
        return (try emit(.reshape, [front], .shape([batch.size] + shape)), 0)
    }

    // permute: the inverse permutation; batched, the batch dim stays in front of the permuted dims.

    static func permuteVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        guard case let .permutation(permutation) = params else { throw SwiftFuncError.internal("permute", "expects a permutation") }
        var inverse = [Int](repeating: 0, count: permutation.count)
        for (i, d) in permutation.enumerated() { inverse[d] = i }
        return [try emit(.permute, [cotangent], .permutation(inverse))]
    }

    static func permuteBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        guard case let .permutation(permutation) = params else { throw SwiftFuncError.internal("permute", "expects a permutation") }
        let b = try batchDim(dims, "permute")
        // One permute does both: the batch dim to the front, the example's dims permuted behind it.
        return (try emit(.permute, [args[0]], .permutation([b] + permutation.map { shifted($0, around: b) })), 0)
    }

    // expand: the cotangent summed over the expanded dims; batched, the example's dims are aligned
    // to the right of the target shape behind the batch dim.

    static func expandVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        [try Differentiation.unbroadcast(cotangent, to: primals[0].shape)]
    }

    static func expandBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        guard case let .shape(shape) = params else { throw SwiftFuncError.internal("expand", "expects a shape") }
        var front = try Batching.moveDim(args[0], from: try batchDim(dims, "expand"), to: 0)
        let missing = shape.count - (front.rank - 1)
        if missing > 0 {
            var aligned = front.shape
            aligned.insert(contentsOf: [Int](repeating: 1, count: missing), at: 1)
            front = try emit(.reshape, [front], .shape(aligned))
        }
        return (try emit(.expand, [front], .shape([batch.size] + shape)), 0)
    }

    // slice: the cotangent placed back among zeros; batched, the dim shifts past the batch dim.

    static func sliceVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        guard case let .slice(dim, start, count, step) = params else { throw SwiftFuncError.internal("slice", "expects slice parameters") }
        let shape = primals[0].shape
        let size = shape[dim]
        var before = [Int](repeating: 0, count: shape.count), after = before
        var spread = cotangent
        var covered = count
        if step > 1 && count > 1 {
            // Interleave step - 1 zeros after each element: [.., count, ..] -> [.., count, step, ..]
            // -> [.., count * step, ..]; the trailing zeros past the last element are cropped below.
            var lifted = cotangent.shape
            lifted.insert(1, at: dim + 1)
            var gapBefore = [Int](repeating: 0, count: lifted.count), gapAfter = gapBefore
            gapAfter[dim + 1] = step - 1
            let gapped = try emit(.pad, [try emit(.reshape, [cotangent], .shape(lifted))],
                                  .pad(before: gapBefore, after: gapAfter, value: 0))
            var merged = cotangent.shape
            merged[dim] = count * step
            spread = try emit(.reshape, [gapped], .shape(merged))
            covered = count * step
        }
        before[dim] = start
        // Negative when the interleaved zeros run past the end of the dim: pad crops them.
        after[dim] = size - start - covered
        return [try emit(.pad, [spread], .pad(before: before, after: after, value: 0))]
    }

    static func sliceBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        guard case let .slice(dim, start, count, step) = params else { throw SwiftFuncError.internal("slice", "expects slice parameters") }
        let b = try batchDim(dims, "slice")
        return (try emit(.slice, [args[0]], .slice(dim: shifted(dim, around: b), start: start, count: count, step: step)), b)
    }

    // flip: flip the cotangent; batched, the dims shift past the batch dim.

    static func flipVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        [try emit(.flip, [cotangent], params)]
    }

    static func flipBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        guard case let .dims(flipped) = params else { throw SwiftFuncError.internal("flip", "expects dims") }
        let b = try batchDim(dims, "flip")
        return (try emit(.flip, [args[0]], .dims(flipped.map { shifted($0, around: b) })), b)
    }

    // pad: the padding value is a constant, so the tangent is padded with zeros; the cotangent is
    // cut back by the opposite padding (which also puts zeros where the pad cropped x).

    static func padJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard let tangent = tangents[0], case let .pad(before, after, _) = params else { return nil }
        return try Differentiation.cast(try emit(.pad, [tangent], .pad(before: before, after: after, value: 0)), to: output.dtype)
    }

    static func padVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        guard case let .pad(before, after, _) = params else { throw SwiftFuncError.internal("pad", "expects pad parameters") }
        return [try emit(.pad, [cotangent], .pad(before: before.map { -$0 }, after: after.map { -$0 }, value: 0))]
    }

    static func padBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        guard case let .pad(before, after, value) = params else { throw SwiftFuncError.internal("pad", "expects pad parameters") }
        let b = try batchDim(dims, "pad")
        var batchedBefore = before, batchedAfter = after
        batchedBefore.insert(0, at: b)
        batchedAfter.insert(0, at: b)
        return (try emit(.pad, [args[0]], .pad(before: batchedBefore, after: batchedAfter, value: value)), b)
    }

    // cat: tangents concatenated (zeros for inputs without one); the cotangent sliced into the
    // inputs' pieces; batched, every input goes batch-first and the dim shifts by one.

    static func catJVP(_ primals: [Value], _ tangents: [Value?], _ output: Value, _ params: Params) throws -> Value? {
        guard tangents.contains(where: { $0 != nil }) else { return nil }
        let parts = try zip(primals, tangents).map { primal, tangent in
            try tangent ?? Differentiation.full(0, shape: primal.shape, dtype: output.dtype)
        }
        return try Differentiation.cast(try emit(.cat, parts, params), to: output.dtype)
    }

    static func catVJP(_ cotangent: Value, _ primals: [Value], _ output: Value, _ params: Params, _ needed: [Bool]) throws -> [Value?] {
        guard case let .dim(dim) = params else { throw SwiftFuncError.internal("cat", "expects a dim") }
        var position = 0
        return try primals.map { primal -> Value? in
            // 1-D empty inputs took no part; integer inputs get no cotangent.
            if isSkippedInCat(primal.type) { return nil }
            let count = primal.shape[dim]
            defer { position += count }
            guard primal.dtype.isFloatingPoint else { return nil }
            let piece = try emit(.slice, [cotangent], .slice(dim: dim, start: position, count: count, step: 1))
            return try Differentiation.cast(piece, to: primal.dtype)
        }
    }

    static func catBatch(_ args: [Value], _ dims: [Int?], _ batch: BatchContext, _ params: Params) throws -> (Value, Int?) {
        guard case let .dim(dim) = params, let first = args.first else { throw SwiftFuncError.internal("cat", "expects a dim") }
        var dtype = first.dtype
        for arg in args.dropFirst() { dtype = DType.promoteStrong(dtype, arg.dtype) }
        var members: [Value] = []
        for (arg, batchDim) in zip(args, dims) {
            var example = arg.shape
            if let batchDim { example.remove(at: batchDim) }
            // A 1-D empty example takes no part in the per-example cat, so it takes none here
            // (batched, it would have rank 2 and no longer be skipped).
            if example == [0] { continue }
            // cat cannot broadcast: unbatched members are expanded along the batch (a view).
            members.append(try Batching.materialize(arg, batchDim: batchDim, size: batch.size))
        }
        guard !members.isEmpty else {
            return (try Differentiation.full(0, shape: [batch.size, 0], dtype: dtype), 0)
        }
        // The dropped members still count for the result's dtype.
        return (try Differentiation.cast(try emit(.cat, members, .dim(dim + 1)), to: dtype), 0)
    }
}

// MARK: - Public ops

extension Ops {
    /// x with a new shape of the same element count (torch.reshape); one entry may be -1. A view
    /// when the strides allow, else a contiguous copy.
    public static func reshape(_ x: Value, shape: [Int]) throws -> Value {
        guard shape.count <= ShapeChecks.maxRank else {
            throw SwiftFuncError.shape("reshape", "rank \(shape.count) exceeds the maximum of \(ShapeChecks.maxRank)")
        }
        var inferred: Int?
        var known = 1
        for (i, size) in shape.enumerated() {
            if size == -1 {
                guard inferred == nil else { throw SwiftFuncError.shape("reshape", "only one dim can be -1 in \(formatShape(shape))") }
                inferred = i
            } else {
                guard size >= 0 else { throw SwiftFuncError.shape("reshape", "negative size \(size) in shape \(formatShape(shape))") }
                let (product, overflow) = known.multipliedReportingOverflow(by: size)
                guard !overflow else { throw SwiftFuncError.shape("reshape", "shape \(formatShape(shape)) has more elements than int64 can count") }
                known = product
            }
        }
        var target = shape
        if let i = inferred {
            guard known != 0 else {
                throw SwiftFuncError.shape("reshape", "cannot infer the -1 in shape \(formatShape(shape)): the other sizes have no elements, so any size fits")
            }
            guard x.count % known == 0 else {
                throw SwiftFuncError.shape("reshape", "shape \(formatShape(shape)) is invalid for input of size \(x.count) (shape \(formatShape(x.shape)))")
            }
            target[i] = x.count / known
        }
        return try emit(.reshape, [x], .shape(target))
    }

    /// x with its dims reordered (torch.permute): result dim i is x's dim `dims[i]`; a view.
    public static func permute(_ x: Value, dims: [Int]) throws -> Value {
        guard dims.count == x.rank else {
            throw SwiftFuncError.invalidArgument("permute", "dims \(dims) has \(dims.count) entries for a tensor of rank \(x.rank)")
        }
        var seen = [Bool](repeating: false, count: x.rank)
        var permutation: [Int] = []
        for dim in dims {
            let d = try ShapeChecks.normalize(dim: dim, rank: x.rank, op: "permute")
            guard !seen[d] else { throw SwiftFuncError.invalidArgument("permute", "dim \(dim) appears more than once in \(dims)") }
            seen[d] = true
            permutation.append(d)
        }
        return try emit(.permute, [x], .permutation(permutation))
    }

    /// x with dims `dim0` and `dim1` swapped (torch.transpose); a view.
    public static func transpose(_ x: Value, _ dim0: Int, _ dim1: Int) throws -> Value {
        // A 0-d tensor accepts dims 0 and -1 as torch does.
        let rank = Swift.max(x.rank, 1)
        let a = try ShapeChecks.normalize(dim: dim0, rank: rank, op: "transpose")
        let b = try ShapeChecks.normalize(dim: dim1, rank: rank, op: "transpose")
        var permutation = Array(0..<x.rank)
        if x.rank > 0 { permutation.swapAt(a, b) }
        return try emit(.permute, [x], .permutation(permutation))
    }

    /// x broadcast to `shape` (torch.expand): new leading dims may be added, size-1 dims grow, and
    /// -1 keeps an existing dim's size. A view with stride 0 on the grown dims.
    public static func expand(_ x: Value, shape: [Int]) throws -> Value {
        guard shape.count <= ShapeChecks.maxRank else {
            throw SwiftFuncError.shape("expand", "rank \(shape.count) exceeds the maximum of \(ShapeChecks.maxRank)")
        }
        guard shape.count >= x.rank else {
            throw SwiftFuncError.shape("expand", "cannot expand shape \(formatShape(x.shape)) to fewer dims \(formatShape(shape))")
        }
        let lead = shape.count - x.rank
        var target = shape
        for (i, size) in shape.enumerated() where size < 0 {
            guard size == -1 else { throw SwiftFuncError.shape("expand", "negative size \(size) in shape \(formatShape(shape))") }
            guard i >= lead else { throw SwiftFuncError.shape("expand", "-1 is not allowed for the new leading dim \(i) in \(formatShape(shape))") }
            target[i] = x.shape[i - lead]
        }
        return try emit(.expand, [x], .shape(target))
    }

    /// x without the given size-1 dims (torch.squeeze); nil or empty `dims` removes every size-1
    /// dim, and listed dims whose size is not 1 stay. A view.
    public static func squeeze(_ x: Value, dims: [Int]? = nil) throws -> Value {
        var remove = [Bool](repeating: false, count: x.rank)
        if let dims, !dims.isEmpty {
            for d in try ShapeChecks.normalize(dims: dims, rank: x.rank, op: "squeeze") where x.shape[d] == 1 { remove[d] = true }
        } else {
            for d in 0..<x.rank where x.shape[d] == 1 { remove[d] = true }
        }
        let shape = (0..<x.rank).filter { !remove[$0] }.map { x.shape[$0] }
        return try reshape(x, shape: shape)
    }

    /// x with a new size-1 dim at `dim`, in [-rank-1, rank] (torch.unsqueeze). A view.
    public static func unsqueeze(_ x: Value, dim: Int) throws -> Value {
        let d = try ShapeChecks.normalize(dim: dim, rank: x.rank + 1, op: "unsqueeze")
        var shape = x.shape
        shape.insert(1, at: d)
        return try reshape(x, shape: shape)
    }

    /// x[start:stop:step] along `dim` with Python's slice rules: negative bounds count from the
    /// end and out-of-range bounds are clamped; `step` must be positive. A view.
    public static func slice(_ x: Value, dim: Int, start: Int = 0, stop: Int = .max, step: Int = 1) throws -> Value {
        let d = try ShapeChecks.normalize(dim: dim, rank: x.rank, op: "slice")
        guard step > 0 else { throw SwiftFuncError.invalidArgument("slice", "step \(step) must be positive") }
        let size = x.shape[d]
        func clamp(_ bound: Int) -> Int { bound < 0 ? Swift.max(bound &+ size, 0) : Swift.min(bound, size) }
        let first = clamp(start), end = clamp(stop)
        // (end - first - 1) / step + 1 elements, written so that a huge step cannot overflow.
        let count = end > first ? (end - first - 1) / step + 1 : 0
        return try emit(.slice, [x], .slice(dim: d, start: count > 0 ? first : Swift.min(first, size), count: count, step: step))
    }

    /// x reversed along each of `dims` (torch.flip); a view with negative strides.
    public static func flip(_ x: Value, dims: [Int]) throws -> Value {
        let normalized = dims.isEmpty ? [] : try ShapeChecks.normalize(dims: dims, rank: x.rank, op: "flip")
        return try emit(.flip, [x], .dims(normalized))
    }

    /// Constant padding as torch.nn.functional.pad: `pad` holds (before, after) pairs for the last
    /// dim first, then the one before it, ...; negative pads crop.
    public static func pad(_ x: Value, pad: [Int], value: Double = 0) throws -> Value {
        guard pad.count % 2 == 0 else { throw SwiftFuncError.invalidArgument("pad", "padding length \(pad.count) must be even") }
        guard pad.count / 2 <= x.rank else {
            throw SwiftFuncError.invalidArgument("pad", "padding length \(pad.count) is more than twice the rank \(x.rank)")
        }
        var before = [Int](repeating: 0, count: x.rank), after = before
        for i in 0..<pad.count / 2 {
            before[x.rank - 1 - i] = pad[2 * i]
            after[x.rank - 1 - i] = pad[2 * i + 1]
        }
        return try emit(.pad, [x], .pad(before: before, after: after, value: value))
    }

    /// Concatenation along `dim` (torch.cat): shapes agree except in `dim` (1-D empty tensors are
    /// allowed with any shape, as in torch), dtypes promote.
    public static func cat(_ tensors: [Value], dim: Int) throws -> Value {
        guard !tensors.isEmpty else { throw SwiftFuncError.invalidArgument("cat", "needs at least one tensor") }
        for (i, t) in tensors.enumerated() where t.rank == 0 {
            throw SwiftFuncError.shape("cat", "zero-dimensional tensor (at position \(i)) cannot be concatenated")
        }
        let rank = tensors.first(where: { !Movement.isSkippedInCat($0.type) })?.rank ?? 1
        let d = try ShapeChecks.normalize(dim: dim, rank: rank, op: "cat")
        return try emit(.cat, tensors, .dim(d))
    }

    /// Stacking of equally shaped tensors along a new dim `dim` in [-rank-1, rank] (torch.stack).
    public static func stack(_ tensors: [Value], dim: Int) throws -> Value {
        guard let first = tensors.first else { throw SwiftFuncError.invalidArgument("stack", "needs at least one tensor") }
        for (i, t) in tensors.enumerated() where t.shape != first.shape {
            throw SwiftFuncError.shape("stack", "expects equally shaped tensors, but got \(formatShape(first.shape)) at entry 0 and \(formatShape(t.shape)) at entry \(i)")
        }
        let d = try ShapeChecks.normalize(dim: dim, rank: first.rank + 1, op: "stack")
        return try cat(tensors.map { try unsqueeze($0, dim: d) }, dim: d)
    }

    /// x cut off from differentiation (torch.detach, JAX's stop_gradient); a view.
    public static func detach(_ x: Value) throws -> Value {
        try emit(.stopGradient, [x])
    }
}
