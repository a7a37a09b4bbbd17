#if canImport(Glibc)
import Glibc
#endif

/// float32 transcendental functions in plain Swift, for the elementwise kernels and the fused
/// loops (issue 11). libm's expf, logf, ... are opaque calls, so a loop over them runs one element
/// at a time; these are straight-line arithmetic on the value and its bit pattern, with selects
/// instead of branches, so that the optimizer inlines them and vectorizes the loops around them.
/// Eager kernels and fused blocks call the same functions, so jit results stay bitwise equal to
/// eager ones. float64 stays on libm.
///
/// Accuracy (FloatMathTests measures it against float64 libm over dense sweeps): within 2 ulp
/// for exp, expm1, log, log1p, tanh, sigmoid, and for sin and cos up to |x| = `trigBound`;
/// special values as libm (NaN propagates, exp(-inf) = 0, log(0) = -inf, log(-1) = NaN,
/// tanh(-0) = -0, ...). Beyond `trigBound` sin and cos need Payne–Hanek reduction: the rows
/// (`sinRow`, `cosRow`) check each block and run libm's sinf/cosf on blocks that hold such an
/// argument, so the common loop stays vectorized.
///
/// Written without fused multiply-add: a library built for baseline x86-64 (SSE2, `make lib
/// TARGET_CPU=x86-64`) would make `addingProduct` a libm call, and results are the same on every
/// CPU level only without it; the polynomials are accurate enough with separate roundings.
enum FloatMath {
    // MARK: exp, expm1

    /// Rounds to the nearest integer by adding and subtracting 1.5 * 2^23 (no roundps in SSE2);
    /// the sum's low bits hold the integer. Valid for |v| < 2^22.
    private static let roundingMagic: Float = 12_582_912  // 0x1.8p23
    private static let roundingMagicBits: UInt32 = 0x4B40_0000

    /// ln 2 in two parts (Cephes): n * ln2Hi is exact for the |n| <= 160 used here.
    private static let ln2Hi: Float = 0.693359375
    private static let ln2Lo: Float = -2.12194440e-4

    /// n = round(x / ln 2) as a float and as an integer, and r = x - n ln 2, |r| <= ln 2 / 2.
    @inline(__always)
    private static func reduceLn2(_ x: Float) -> (n: Int32, r: Float) {
        let t = x * 1.44269504088896341 + roundingMagic
        let nf = t - roundingMagic
        let n = Int32(bitPattern: t.bitPattern &- roundingMagicBits)
        return (n, (x - nf * ln2Hi) - nf * ln2Lo)
    }

    /// e^r - 1 on |r| <= ln 2 / 2: r + r^2 P(r), Cephes expf's minimax P.
    @inline(__always)
    private static func expm1Reduced(_ r: Float) -> Float {
        var p: Float = 1.9875691500e-4
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        return p * (r * r) + r
    }

    /// 2^n for -126 <= n <= 127, built from its exponent bits.
    @inline(__always)
    private static func power2(_ n: Int32) -> Float {
        Float(bitPattern: UInt32(bitPattern: (n &+ 127) &<< 23))
    }

    /// m * 2^n for n in [-160, 128] in two steps (2^n alone may be subnormal or overflow): the
    /// first product is exact, so results that overflow, underflow or are subnormal round once.
    @inline(__always)
    private static func scale(_ m: Float, _ n: Int32) -> Float {
        let half = n &>> 1
        return (m * power2(half)) * power2(n &- half)
    }

    /// e^x. Overflows to inf past ln(Float.greatestFiniteMagnitude); underflows through the
    /// subnormals to 0; NaN propagates.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        // Clamped (NaN passes: both comparisons are false) so that n stays in scale's range.
        let xc = x < -110 ? -110 : (x > 89 ? 89 : x)
        let (n, r) = reduceLn2(xc)
        return scale(1 + expm1Reduced(r), n)
    }

    /// e^x - 1, accurate near 0.
    @inline(__always)
    static func expm1(_ x: Float) -> Float {
        // Below -87 the result is -1 (e^-87 < 2^-125); -87 keeps 2^n normal.
        let xc = x < -87 ? -87 : (x > 89 ? 89 : x)
        let (n, r) = reduceLn2(xc)
        let p = expm1Reduced(r)
        // e^x - 1 = 2^n (e^r - 1) + (2^n - 1): both products exact, one rounding. From n = 25 on
        // the -1 is below half an ulp: 2^n e^r, scaled in two steps (2^128 overflows alone).
        let s = power2(n > 127 ? 127 : n)
        let moderate = s * p + (s - 1)
        let large = scale(p + 1, n)
        let result = n > 24 ? large : moderate
        // |x| < 2^-25: x itself (and the sign of -0).
        return (x.bitPattern & 0x7FFF_FFFF) < 0x3300_0000 ? x : result
    }

    // MARK: log, log1p

    /// log(1 + f) + k ln 2 + c for f in [sqrt(2)/2 - 1, sqrt(2) - 1] (fdlibm's logf/log1pf as in
    /// musl): s = f / (2 + f), log(1 + f) = 2 atanh(s), Lg1..Lg4 the minimax series in s^2.
    @inline(__always)
    private static func logReduced(_ f: Float, _ k: Int32, _ c: Float) -> Float {
        let ln2Hi: Float = 6.9313812256e-01, ln2Lo: Float = 9.0580006145e-06
        let s = f / (2 + f)
        let z = s * s, w = z * z
        let t1 = w * (0.40000972152 + w * 0.24279078841)
        let t2 = z * (0.66666662693 + w * 0.28498786688)
        let r = t2 + t1
        let hfsq = 0.5 * f * f
        let dk = Float(k)
        return s * (hfsq + r) + (dk * ln2Lo + c) - hfsq + f + dk * ln2Hi
    }

    /// The mantissa's offset that splits [sqrt(2)/2, sqrt(2)) at 1: bits + offset carry into the
    /// exponent exactly when the mantissa is >= sqrt(2).
    private static let sqrtHalfOffset: UInt32 = 0x3F80_0000 &- 0x3F35_04F3

    /// Splits u > 0 (normal) as (1 + f) 2^k with 1 + f in [sqrt(2)/2, sqrt(2)).
    @inline(__always)
    private static func split(_ bits: UInt32) -> (k: Int32, f: Float) {
        let shifted = bits &+ sqrtHalfOffset
        let k = Int32(bitPattern: shifted &>> 23) &- 0x7F
        let mantissa = (shifted & 0x007F_FFFF) &+ 0x3F35_04F3
        return (k, Float(bitPattern: mantissa) - 1)
    }

    /// Natural logarithm: log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN propagates.
    @inline(__always)
    static func log(_ x: Float) -> Float {
        // Subnormals are scaled into the normal range first.
        let isSubnormal = x.bitPattern < 0x0080_0000
        let v = isSubnormal ? x * 33_554_432 : x  // 2^25
        let (k, f) = split(v.bitPattern)
        let result = logReduced(f, k &+ (isSubnormal ? -25 : 0), 0)
        let special: Float = x == 0 ? -.infinity : (x < 0 ? .nan : x)
        return x > 0 && x < .infinity ? result : special
    }

    /// log(1 + x), accurate near 0: log1p(-1) = -inf, log1p(x < -1) = NaN.
    @inline(__always)
    static func log1p(_ x: Float) -> Float {
        let u = 1 + x
        let (k, reduced) = split(u.bitPattern)
        // The rounding error of 1 + x (exact two-sum, the larger operand first), relative to u:
        // log(1 + x) = log(u) + c / u. Past k = 25 it is below an ulp of the result.
        let error = k >= 2 ? 1 - (u - x) : x - (u - 1)
        let c = k < 25 ? error / u : 0
        // When 1 + x is already in [sqrt(2)/2, sqrt(2)), f = x exactly.
        let result = k == 0 ? logReduced(x, 0, 0) : logReduced(reduced, k, c)
        let special: Float = x == -1 ? -.infinity : (x < -1 ? .nan : x)
        let regular = x > -1 && x < .infinity
        // |x| < 2^-24: x itself (subnormals, and the sign of -0).
        return (x.bitPattern & 0x7FFF_FFFF) < 0x3380_0000 ? x : (regular ? result : special)
    }

    // MARK: tanh, sigmoid

    /// Hyperbolic tangent: odd (tanh(-0) = -0), +-1 from |x| > 9.01, NaN propagates.
    @inline(__always)
    static func tanh(_ x: Float) -> Float {
        let sign = x.bitPattern & 0x8000_0000
        let a = Float(bitPattern: x.bitPattern & 0x7FFF_FFFF)
        // |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf).
        let z = a * a
        var p: Float = -5.70498872745e-3
        p = p * z + 2.06390887954e-2
        p = p * z - 5.37397155531e-2
        p = p * z + 1.33314422036e-1
        p = p * z - 3.33332819422e-1
        let small = (p * z) * a + a
        // Else (e^2a - 1) / (e^2a + 1); from a = 10 the quotient is 1 (and e^2a stays finite).
        let t = expm1(2 * (a > 10 ? 10 : a))
        let large = t / (t + 2)
        let magnitude = a < 0.625 ? small : large
        return Float(bitPattern: magnitude.bitPattern | sign)
    }

    /// 1 / (1 + e^-x), with e^-|x| only, so nothing overflows: e^x / (1 + e^x) for x < 0.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        let e = exp(-Float(bitPattern: x.bitPattern & 0x7FFF_FFFF))
        let numerator: Float = x < 0 ? e : 1
        // d = 1 + e rounded, and its rounding error (exact: 1 >= e); a / (d + error) to first order.
        let d = 1 + e
        let error = (1 - d) + e
        let q = numerator / d
        return q - (q * error) / d
    }

    // MARK: sin, cos

    /// Largest |x| whose Cody–Waite reduction below stays within the accuracy bound (q < 2^12,
    /// so each q * P1..P4 is exact); beyond it, libm (Payne–Hanek).
    static let trigBound: Float = 6000
    private static let trigBoundBits: UInt32 = 0x45BB_8000  // 6000

    /// x - q pi/2 = r + lo with q = round(x 2/pi), pi/2 = P1 + P2 + P3 + P4 (12 significant bits
    /// each but the last; error 2^-69), and q's low bits (the quadrant). Each q * Pi is exact (q <
    /// 2^12); the subtractions of P2 and P3 keep their rounding errors (two-sum) in lo, so r + lo
    /// holds x - q pi/2 to about 2^-48 relative. Valid for |x| <= trigBound.
    @inline(__always)
    private static func reduceHalfPi(_ x: Float) -> (q: UInt32, r: Float, lo: Float) {
        let t = x * 0.636619772367581343 + roundingMagic
        let qf = t - roundingMagic
        let r1 = x - qf * 1.57080078125  // exact (Cody–Waite)
        let (r2, e2) = twoSum(r1, qf * 4.45358455181121826e-06)
        let (r3, e3) = twoSum(r2, qf * 8.70613803272135556e-10)
        return (t.bitPattern, r3, (e2 + e3) - qf * 6.22337196966998866e-14)
    }

    /// a + b = s + e exactly (Knuth's two-sum: no ordering of the magnitudes needed).
    @inline(__always)
    private static func twoSum(_ a: Float, _ b: Float) -> (s: Float, e: Float) {
        let s = a + b
        let bb = s - a
        return (s, (a - (s - bb)) + (b - bb))
    }

    /// sin(r + lo) on |r| <= pi/4 (Cephes sinf; lo enters to first order, lo cos r).
    @inline(__always)
    private static func sinReduced(_ r: Float, _ lo: Float, _ z: Float) -> Float {
        var p: Float = -1.9515295891e-4
        p = p * z + 8.3321608736e-3
        p = p * z - 1.6666654611e-1
        return r + ((p * z) * r + lo * (1 - 0.5 * z))
    }

    /// cos(r + lo) on |r| <= pi/4 (Cephes cosf; 1 - z/2 with its rounding error kept, as
    /// fdlibm's __cosdf; lo enters to first order, -lo sin r).
    @inline(__always)
    private static func cosReduced(_ r: Float, _ lo: Float, _ z: Float) -> Float {
        var p: Float = 2.443315711809948e-5
        p = p * z - 1.388731625493765e-3
        p = p * z + 4.166664568298827e-2
        let hz = 0.5 * z
        let w = 1 - hz
        return w + (((1 - w) - hz) + ((p * z) * z - r * lo))
    }

    /// sin (quadrant 0) or cos (quadrant 1) of x, for |x| <= trigBound: the reduced sine or cosine
    /// by the quadrant's parity, negated in quadrants 2 and 3.
    @inline(__always)
    private static func sinCosInRange(_ x: Float, quadrantOffset: UInt32) -> Float {
        let (q0, r, lo) = reduceHalfPi(x)
        let q = q0 &+ quadrantOffset
        let z = r * r
        let value = q & 1 == 0 ? sinReduced(r, lo, z) : cosReduced(r, lo, z)
        let result = Float(bitPattern: value.bitPattern ^ ((q & 2) &<< 30))
        // sin(-0) = -0 (the sum above gives +0).
        return quadrantOffset == 0 && x == 0 ? x : result
    }

    /// Whether sin and cos of x take the libm path (|x| > trigBound, inf, NaN).
    @inline(__always)
    private static func isOutsideTrigRange(_ x: Float) -> Bool {
        x.bitPattern & 0x7FFF_FFFF > trigBoundBits
    }

    /// Sine (one element; rows use `sinRow`, which vectorizes).
    @inline(__always)
    static func sin(_ x: Float) -> Float {
        isOutsideTrigRange(x) ? Glibc.sinf(x) : sinCosInRange(x, quadrantOffset: 0)
    }

    /// Cosine (one element; rows use `cosRow`, which vectorizes).
    @inline(__always)
    static func cos(_ x: Float) -> Float {
        isOutsideTrigRange(x) ? Glibc.cosf(x) : sinCosInRange(x, quadrantOffset: 1)
    }

    /// dst[i] = sin(src[i]) for i < n; equal to `sin` element by element.
    static func sinRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        trigRow(src, dst, n, quadrantOffset: 0)
    }

    /// dst[i] = cos(src[i]) for i < n; equal to `cos` element by element.
    static func cosRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        trigRow(src, dst, n, quadrantOffset: 1)
    }

    /// Blocks of 256: a vectorized check, then the vectorized loop, or the per-element one (with
    /// its libm calls) for a block that holds an argument outside the range.
    @inline(__always)
    private static func trigRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
                                quadrantOffset: UInt32) {
        var start = 0
        while start < n {
            let count = Swift.min(256, n &- start)
            let block = src + start, out = dst + start
            var largest: UInt32 = 0
            for i in 0..<count { largest = Swift.max(largest, block[i].bitPattern & 0x7FFF_FFFF) }
            if largest <= trigBoundBits {
                for i in 0..<count { out[i] = sinCosInRange(block[i], quadrantOffset: quadrantOffset) }
            } else {
                for i in 0..<count {
                    out[i] = quadrantOffset == 0 ? sin(block[i]) : cos(block[i])
                }
            }
            start &+= count
        }
    }
}
