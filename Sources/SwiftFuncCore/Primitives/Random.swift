#if canImport(Glibc)
import Glibc
#endif

/// Random-number primitives: `uniform` (torch.rand) and `normal` (torch.randn).
///
/// The generator is counter-based (Philox-4x32-10): block `i` of a draw is the Philox bijection of
/// the counter `counter + i` under `key`. The kernels are pure functions of their params; only the
/// public ops touch the process-wide state, reserving a fresh range of counters per draw. That is
/// what lets a transform (vmap's randomness modes) decide keys and counters itself.
enum Random {
    static let table: [PrimitiveRules] = [
        // A random draw does not depend on any input: zero tangent, no cotangents. Under vmap it
        // follows the vmap's randomness (drawBatch).
        PrimitiveRules(.uniform, name: "rand", type: drawType("rand"), eval: drawEval("rand", normal: false),
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: drawBatch(.uniform)),
        PrimitiveRules(.normal, name: "randn", type: drawType("randn"), eval: drawEval("randn", normal: true),
                       jvp: Differentiation.noTangent, vjp: Differentiation.noCotangents, batch: drawBatch(.normal)),
    ]

    /// The type rule of a draw: its params' shape and float dtype.
    static func drawType(_ name: String) -> TypeRule {
        { args, params in
            guard args.isEmpty else { throw SwiftFuncError.invalidArgument(name, "expects no tensor arguments, got \(args.count)") }
            guard case .random(let shape, let dtype, _, _) = params else { throw SwiftFuncError.internal(name, "expects random params") }
            try checkDType(dtype, op: name)
            try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: name)
            return TensorType(shape: shape, dtype: dtype)
        }
    }

    /// The kernel of a draw: Philox blocks from the params' key and counter, as uniforms in [0, 1)
    /// or (`normal`) standard normals by Box–Muller.
    static func drawEval(_ name: String, normal: Bool) -> EvalRule {
        { _, params, type in
            guard case .random(_, _, let key, let counter) = params else { throw SwiftFuncError.internal(name, "expects random params") }
            let result = try Tensor(uninitialized: type, op: name)
            if type.dtype == .float32 {
                fill(result.elements(as: Float.self), count: result.count, key: key, counter: counter, normal: normal)
            } else {
                fill(result.elements(as: Double.self), count: result.count, key: key, counter: counter, normal: normal)
            }
            return result
        }
    }

    /// vmap of a draw (it has no arguments, so vmap always asks this rule): the vmap's randomness
    /// decides. 'error' refuses; 'same' draws once, unbatched, for the whole batch; 'different'
    /// draws the whole batch at once from a fresh block of counters (the op reserved counters for
    /// one sample only).
    static func drawBatch(_ primitive: Primitive) -> BatchRule {
        { _, _, batch, params in
            guard case let .random(shape, dtype, _, _) = params else { throw SwiftFuncError.internal(primitive.name, "bad params") }
            switch batch.randomness {
            case .error:
                throw SwiftFuncError.transform(primitive.name, "random operations under vmap need randomness 'different' or 'same' (it is 'error')")
            case .same:
                return (try emit(primitive, [], params), nil)
            case .different:
                let batchedShape = [batch.size] + shape
                let count = try ShapeChecks.validate(batchedShape, itemSize: dtype.itemSize, op: primitive.name)
                let (key, counter) = generator.reserve(blocks(count: count, dtype: dtype))
                return (try emit(primitive, [], .random(shape: batchedShape, dtype: dtype, key: key, counter: counter)), 0)
            }
        }
    }

    static func checkDType(_ dtype: DType, op: String) throws {
        guard dtype.isFloatingPoint else {
            throw SwiftFuncError.dtype(op, "dtype must be float32 or float64, got \(dtype)")
        }
    }

    /// Elements produced per Philox block (four 32-bit words): a float32 takes one word, a float64
    /// two (53 random bits); Box–Muller takes two uniforms per pair of normals, so the rate is the same.
    static func elementsPerBlock(_ dtype: DType) -> Int { dtype == .float32 ? 4 : 2 }

    /// The params of a draw with a fresh key and counter from the generator, as the public op
    /// reserves them (a staged graph replays a draw this way); other params unchanged.
    static func redrawn(_ params: Params) -> Params {
        guard case let .random(shape, dtype, _, _) = params else { return params }
        let (key, counter) = generator.reserve(blocks(count: shape.reduce(1, &*), dtype: dtype))
        return .random(shape: shape, dtype: dtype, key: key, counter: counter)
    }

    /// Counters a draw of `count` elements of `dtype` uses.
    static func blocks(count: Int, dtype: DType) -> UInt64 {
        let per = elementsPerBlock(dtype)
        return UInt64(count / per + (count % per == 0 ? 0 : 1))
    }

    // MARK: Philox-4x32-10

    /// The Philox-4x32-10 bijection (Salmon et al., SC'11; the Random123 reference): ten rounds
    /// of two 32x32->64 multiplications, with the key bumped by the Weyl constants between rounds.
    @inline(__always)
    static func philox(_ counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var (c0, c1, c2, c3) = counter
        var (k0, k1) = key
        for round in 0..<10 {
            if round > 0 {
                k0 &+= 0x9E37_79B9
                k1 &+= 0xBB67_AE85
            }
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        }
        return (c0, c1, c2, c3)
    }

    /// The four words of block `index` of a draw: the 64-bit counter goes in the low two words.
    @inline(__always)
    static func block(key: UInt64, counter: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        philox((UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32), 0, 0),
               key: (UInt32(truncatingIfNeeded: key), UInt32(truncatingIfNeeded: key >> 32)))
    }

    // MARK: Word to number conversions

    /// A float32 in [0, 1) from the top 24 bits: every value is a multiple of 2^-24 below 1, so
    /// rounding can never produce 1.0.
    @inline(__always)
    static func unitFloat(_ w: UInt32) -> Float { Float(w >> 8) * 0x1p-24 }

    /// A float64 in [0, 1) from 53 bits of two words.
    @inline(__always)
    static func unitDouble(_ hi: UInt32, _ lo: UInt32) -> Double {
        Double((UInt64(hi) << 32 | UInt64(lo)) >> 11) * 0x1p-53
    }

    /// Box–Muller on u1 in (0, 1] and u2 in [0, 1): two independent standard normals.
    @inline(__always)
    static func boxMuller(_ u1: Double, _ u2: Double) -> (Double, Double) {
        let radius = (-2 * log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        return (radius * cos(angle), radius * sin(angle))
    }

    static func fill(_ p: UnsafeMutablePointer<Float>, count: Int, key: UInt64, counter: UInt64, normal: Bool) {
        var i = 0
        var c = counter
        var values: (Float, Float, Float, Float) = (0, 0, 0, 0)
        while i < count {
            let (w0, w1, w2, w3) = block(key: key, counter: c)
            c &+= 1
            if normal {
                // u1 = (w >> 8 + 1) * 2^-24 lies in (0, 1], so log(u1) is finite.
                let (a, b) = boxMuller(Double((w0 >> 8) + 1) * 0x1p-24, Double(unitFloat(w1)))
                let (d, e) = boxMuller(Double((w2 >> 8) + 1) * 0x1p-24, Double(unitFloat(w3)))
                values = (Float(a), Float(b), Float(d), Float(e))
            } else {
                values = (unitFloat(w0), unitFloat(w1), unitFloat(w2), unitFloat(w3))
            }
            let n = Swift.min(4, count &- i)
            withUnsafeBytes(of: values) { raw in
                let v = raw.bindMemory(to: Float.self)
                for j in 0..<n { p[i &+ j] = v[j] }
            }
            i &+= n
        }
    }

    static func fill(_ p: UnsafeMutablePointer<Double>, count: Int, key: UInt64, counter: UInt64, normal: Bool) {
        var i = 0
        var c = counter
        while i < count {
            let (w0, w1, w2, w3) = block(key: key, counter: c)
            c &+= 1
            let a: Double, b: Double
            if normal {
                // 1 - u maps [0, 1) onto (0, 1].
                (a, b) = boxMuller(1 - unitDouble(w0, w1), unitDouble(w2, w3))
            } else {
                (a, b) = (unitDouble(w0, w1), unitDouble(w2, w3))
            }
            p[i] = a
            if i &+ 1 < count { p[i &+ 1] = b }
            i &+= 2
        }
    }

    // MARK: Process-wide generator state

    /// torch's default seed, so that an unseeded process is still deterministic.
    static let defaultSeed: UInt64 = 67_280_421_310_721

    /// The key and the next free counter, guarded by a mutex (any thread may draw).
    final class Generator: @unchecked Sendable {
        private let mutex: UnsafeMutablePointer<pthread_mutex_t>
        private var key: UInt64 = Random.defaultSeed
        private var counter: UInt64 = 0

        init() {
            mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
            mutex.initialize(to: pthread_mutex_t())
            pthread_mutex_init(mutex, nil)
        }

        /// Sets the key and restarts the counter.
        func seed(_ seed: UInt64) {
            pthread_mutex_lock(mutex)
            key = seed
            counter = 0
            pthread_mutex_unlock(mutex)
        }

        /// Reserves `blocks` counters; returns the key and the first of them.
        func reserve(_ blocks: UInt64) -> (key: UInt64, counter: UInt64) {
            let tally = Self.threadTally
            tally.pointee.beforeLatest = tally.pointee.total
            tally.pointee.total &+= blocks
            pthread_mutex_lock(mutex)
            let result = (key, counter)
            // Wrapping after 2^64 blocks (2^70 bytes) cannot happen in practice and must not trap.
            counter &+= blocks
            pthread_mutex_unlock(mutex)
            return result
        }

        /// The counters the calling thread has reserved: in all, and before its latest reservation.
        /// A jit trace plans its replays' reservations from its own thread's tally (the generator's
        /// position would also count other threads' draws made meanwhile).
        struct ThreadTally {
            var total: UInt64 = 0
            var beforeLatest: UInt64 = 0
        }

        /// This thread's tally (created on first use, freed when the thread exits).
        static var threadTally: UnsafeMutablePointer<ThreadTally> {
            if let raw = pthread_getspecific(tallyKey) { return raw.assumingMemoryBound(to: ThreadTally.self) }
            let tally = UnsafeMutablePointer<ThreadTally>.allocate(capacity: 1)
            tally.initialize(to: ThreadTally())
            pthread_setspecific(tallyKey, tally)
            return tally
        }

        private static let tallyKey: pthread_key_t = {
            var key = pthread_key_t()
            pthread_key_create(&key) { raw in raw?.deallocate() }
            return key
        }()
    }

    /// The one generator of the process (sf_manual_seed, sf_rand, sf_randn).
    static let generator = Generator()
}

extension Ops {
    /// Reseeds the process-wide generator and restarts its counter (torch.manual_seed).
    public static func manualSeed(_ seed: UInt64) {
        Random.generator.seed(seed)
    }

    /// Uniform values in [0, 1) of `shape` (torch.rand); `dtype` must be float32 or float64.
    public static func rand(shape: [Int], dtype: DType = .float32) throws -> Value {
        try draw(.uniform, "rand", shape: shape, dtype: dtype)
    }

    /// Standard normal values of `shape` (torch.randn), by Box–Muller; `dtype` must be a float dtype.
    public static func randn(shape: [Int], dtype: DType = .float32) throws -> Value {
        try draw(.normal, "randn", shape: shape, dtype: dtype)
    }

    /// Validates first (a failed call must not advance the generator), then reserves the counters.
    private static func draw(_ primitive: Primitive, _ op: String, shape: [Int], dtype: DType) throws -> Value {
        try Random.checkDType(dtype, op: op)
        let count = try ShapeChecks.validate(shape, itemSize: dtype.itemSize, op: op)
        let (key, counter) = Random.generator.reserve(Random.blocks(count: count, dtype: dtype))
        return try emit(primitive, [], .random(shape: shape, dtype: dtype, key: key, counter: counter))
    }
}
