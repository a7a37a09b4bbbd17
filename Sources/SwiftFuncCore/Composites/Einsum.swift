/// torch.einsum, planned as ops that already have every rule: repeated subscripts within an
/// operand become diagonals, subscripts nobody else needs are summed early, and operands are
/// contracted left to right, each pair as one batched matmul (permute, reshape, GEMM through
/// BLAS), so derivatives of any order and vmap come from those ops.
extension Ops {
    /// One operand during planning: its value and the subscript of each of its dims (letters are
    /// 0..<52, A-Z before a-z as torch orders them; ellipsis dims are 52 + their position).
    private struct Labeled {
        var value: Value
        var labels: [Int]
    }

    private static let ellipsisBase = 52

    private static func labelName(_ label: Int) -> String {
        if label >= ellipsisBase { return "..." }
        let scalar = label < 26 ? 65 + label : 97 + label - 26
        return String(Character(Unicode.Scalar(UInt8(scalar))))
    }

    /// Parses one term ("ij", "b...k") into letters and the position of the ellipsis, if any.
    private static func parseTerm(_ term: Substring, equation: String) throws -> (letters: [Int], ellipsisAt: Int?) {
        var letters: [Int] = []
        var ellipsisAt: Int?
        var chars = Array(term.unicodeScalars)[...]
        while let c = chars.first {
            if c == "." {
                guard chars.count >= 3, chars.prefix(3).allSatisfy({ $0 == "." }), ellipsisAt == nil else {
                    throw SwiftFuncError.invalidArgument("einsum", "invalid ellipsis in '\(term)' of equation '\(equation)': at most one '...' per term")
                }
                ellipsisAt = letters.count
                chars = chars.dropFirst(3)
                continue
            }
            switch c.value {
            case 65...90: letters.append(Int(c.value) - 65)
            case 97...122: letters.append(Int(c.value) - 97 + 26)
            default:
                throw SwiftFuncError.invalidArgument("einsum", "invalid subscript '\(c)' in equation '\(equation)': subscripts are letters a-z, A-Z and '...'")
            }
            chars = chars.dropFirst()
        }
        return (letters, ellipsisAt)
    }

    /// torch.einsum(equation, operands): any valid equation, with repeated subscripts (diagonals,
    /// traces), '...' (broadcast batch dims), implicit output (the subscripts that appear once, in
    /// alphabetical order, after the ellipsis dims), and size-1 dims broadcasting. Float operands
    /// are contracted through matmul; integer and bool ones by multiply and sum.
    public static func einsum(_ equation: String, _ operands: [Value]) throws -> Value {
        let sides = splitArrow(equation.unicodeScalars.filter { $0 != " " })
        guard sides.count <= 2 else {
            throw SwiftFuncError.invalidArgument("einsum", "equation '\(equation)' has more than one '->'")
        }
        let terms = sides[0].split(separator: ",", omittingEmptySubsequences: false)
        guard terms.count == operands.count else {
            throw SwiftFuncError.invalidArgument("einsum", "equation '\(equation)' has \(terms.count) operand subscripts but \(operands.count) operands were given")
        }
        guard !operands.isEmpty else { throw SwiftFuncError.invalidArgument("einsum", "needs at least one operand") }

        // Subscripts of each operand, with the ellipsis expanded (aligned from the right).
        let parsed = try terms.map { try parseTerm($0, equation: equation) }
        var ellipsisRank = 0
        for (k, (term, operand)) in zip(parsed, operands).enumerated() {
            let letters = term.letters.count
            if term.ellipsisAt != nil {
                guard operand.rank >= letters else {
                    throw SwiftFuncError.shape("einsum", "operand \(k) has \(operand.rank) dims but its subscripts '\(terms[k])' name \(letters)")
                }
                ellipsisRank = Swift.max(ellipsisRank, operand.rank - letters)
            } else if operand.rank != letters {
                throw SwiftFuncError.shape("einsum", "operand \(k) has \(operand.rank) dims but its subscripts '\(terms[k])' name \(letters)")
            }
        }
        var labeled: [Labeled] = zip(parsed, operands).map { term, operand in
            var labels = term.letters
            if let at = term.ellipsisAt {
                let count = operand.rank - term.letters.count
                labels.insert(contentsOf: (ellipsisRank - count..<ellipsisRank).map { ellipsisBase + $0 }, at: at)
            }
            return Labeled(value: operand, labels: labels)
        }
        let ellipsisLabels = (0..<ellipsisRank).map { ellipsisBase + $0 }

        // The output's subscripts.
        var occurrences = [Int: Int]()
        for operand in labeled { for label in operand.labels { occurrences[label, default: 0] += 1 } }
        let output: [Int]
        if sides.count == 2 {
            let term = try parseTerm(sides[1], equation: equation)
            var labels = term.letters
            if let at = term.ellipsisAt { labels.insert(contentsOf: ellipsisLabels, at: at) }
            var seen = Set<Int>()
            for label in labels {
                guard seen.insert(label).inserted else {
                    throw SwiftFuncError.invalidArgument("einsum", "output subscript '\(labelName(label))' appears more than once in equation '\(equation)'")
                }
                guard occurrences[label] != nil else {
                    throw SwiftFuncError.invalidArgument("einsum", "output subscript '\(labelName(label))' does not appear in the operands of equation '\(equation)'")
                }
            }
            output = labels
        } else {
            output = ellipsisLabels + occurrences.keys.filter { $0 < ellipsisBase && occurrences[$0] == 1 }.sorted()
        }

        // Repeated subscripts within an operand: their diagonal.
        for k in labeled.indices {
            while let (p, q) = repeatedPair(labeled[k].labels) {
                let shape = labeled[k].value.shape
                guard shape[p] == shape[q] else {
                    throw SwiftFuncError.shape("einsum", "subscript '\(labelName(labeled[k].labels[p]))' is repeated in operand \(k) for dims of sizes \(shape[p]) and \(shape[q])")
                }
                let label = labeled[k].labels[p]
                labeled[k].value = try diagonal(labeled[k].value, offset: 0, dim1: p, dim2: q, op: "einsum")
                labeled[k].labels.remove(at: q)
                labeled[k].labels.remove(at: p)
                labeled[k].labels.append(label)
            }
        }

        // Sizes: equal across operands, or 1 (broadcast).
        var sizes = [Int: Int]()
        for (k, operand) in labeled.enumerated() {
            for (label, size) in zip(operand.labels, operand.value.shape) {
                guard let known = sizes[label] else { sizes[label] = size; continue }
                if known == size || size == 1 { continue }
                guard known == 1 else {
                    throw SwiftFuncError.shape("einsum", "subscript '\(labelName(label))' has size \(size) in operand \(k) but \(known) in an earlier operand (equation '\(equation)')")
                }
                sizes[label] = size
            }
        }

        // Contract left to right; a subscript is summed as soon as nothing later needs it.
        let outputSet = Set(output)
        func neededAfter(_ k: Int) -> Set<Int> {
            var needed = outputSet
            for later in labeled[(k + 1)...] { needed.formUnion(later.labels) }
            return needed
        }
        var current = try sumOut(labeled[0], keeping: neededAfter(0))
        for k in 1..<labeled.count {
            let keep = neededAfter(k)
            let other = try sumOut(labeled[k], keeping: keep.union(current.labels))
            current = try contract(current, other, keeping: keep, sizes: sizes)
        }
        current = try sumOut(current, keeping: outputSet)
        // Output dims of size 1 in every operand that another broadcast: expand them.
        let order = output.map { label in current.labels.firstIndex(of: label)! }
        let permuted = try permute(current.value, dims: order)
        let target = output.map { sizes[$0]! }
        return permuted.shape == target ? permuted : try expand(permuted, shape: target)
    }

    /// The equation's sides around each "->".
    private static func splitArrow(_ scalars: [Unicode.Scalar]) -> [Substring] {
        var sides: [Substring] = []
        var current = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            if scalars[i] == "-" && i + 1 < scalars.count && scalars[i + 1] == ">" {
                sides.append(Substring(String(current)))
                current = String.UnicodeScalarView()
                i += 2
            } else {
                current.append(scalars[i])
                i += 1
            }
        }
        sides.append(Substring(String(current)))
        return sides
    }

    /// The first pair of positions holding the same subscript.
    private static func repeatedPair(_ labels: [Int]) -> (Int, Int)? {
        for q in labels.indices {
            if let p = labels[..<q].firstIndex(of: labels[q]) { return (p, q) }
        }
        return nil
    }

    /// The operand with every subscript outside `keeping` summed out.
    private static func sumOut(_ operand: Labeled, keeping: Set<Int>) throws -> Labeled {
        let dims = operand.labels.indices.filter { !keeping.contains(operand.labels[$0]) }
        guard !dims.isEmpty else { return operand }
        let value = try sum(operand.value, dims: dims)
        return Labeled(value: value, labels: operand.labels.enumerated().filter { !dims.contains($0.offset) }.map(\.element))
    }

    /// a and b contracted over their shared subscripts not in `keeping`: one batched matmul of
    /// [batch, left, shared] by [batch, shared, right].
    private static func contract(_ a: Labeled, _ b: Labeled, keeping: Set<Int>, sizes: [Int: Int]) throws -> Labeled {
        var a = a, b = b
        let shared = a.labels.filter { b.labels.contains($0) }
        let batch = shared.filter { keeping.contains($0) }
        let summed = shared.filter { !keeping.contains($0) }
        // A summed subscript of size 1 on one side only: sum the other side over it first.
        for label in summed {
            let i = a.labels.firstIndex(of: label)!, j = b.labels.firstIndex(of: label)!
            let sa = a.value.shape[i], sb = b.value.shape[j]
            if sa == sb { continue }
            if sa == 1 {
                b.value = try sum(b.value, dims: [j], keepdim: true)
            } else {
                a.value = try sum(a.value, dims: [i], keepdim: true)
            }
        }
        let left = a.labels.filter { !b.labels.contains($0) }
        let right = b.labels.filter { !a.labels.contains($0) }
        func size(_ operands: [Labeled], _ label: Int) -> Int {
            operands.map { operand in operand.labels.firstIndex(of: label).map { operand.value.shape[$0] } ?? 1 }.max() ?? 1
        }
        let batchSizes = batch.map { size([a, b], $0) }
        let leftSizes = left.map { size([a], $0) }
        let rightSizes = right.map { size([b], $0) }
        let summedSizes = summed.map { size([a], $0) }
        let (m, n, k) = (leftSizes.reduce(1, *), rightSizes.reduce(1, *), summedSizes.reduce(1, *))
        let batchCount = batchSizes.reduce(1, *)

        func arranged(_ x: Labeled, _ labels: [Int], _ shape: [Int], _ matrix: [Int]) throws -> Value {
            let moved = try permute(x.value, dims: labels.map { x.labels.firstIndex(of: $0)! })
            let grown = moved.shape == shape ? moved : try expand(moved, shape: shape)
            return try reshape(grown, shape: matrix)
        }
        let dtype = DType.promote(a.value.type, b.value.type)
        let lhs = try Differentiation.cast(arranged(a, batch + left + summed, batchSizes + leftSizes + summedSizes, [batchCount, m, k]), to: dtype)
        let rhs = try Differentiation.cast(arranged(b, batch + summed + right, batchSizes + summedSizes + rightSizes, [batchCount, k, n]), to: dtype)
        let product: Value
        if dtype.isFloatingPoint {
            product = try matmul(lhs, rhs)
        } else {
            // Integer and bool operands (matmul is float-only): broadcast multiply and sum.
            let l4 = try reshape(lhs, shape: [batchCount, m, 1, k])
            let r4 = try reshape(permute(rhs, dims: [0, 2, 1]), shape: [batchCount, 1, n, k])
            product = try Differentiation.cast(sum(mul(l4, r4), dims: [3]), to: dtype)
        }
        return Labeled(value: try reshape(product, shape: batchSizes + leftSizes + rightSizes), labels: batch + left + right)
    }
}
