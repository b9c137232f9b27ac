import Foundation

/// Which operations a run sends, and how often: `hit=80,hits=20`.
struct RequestMix: Sendable, Equatable, CustomStringConvertible {
    struct Entry: Sendable, Equatable {
        let operation: Operation
        let weight: Int
    }

    /// Only entries with a weight above zero, in the order given.
    let entries: [Entry]
    let totalWeight: Int

    static let `default` = try! RequestMix(parsing: "hit=80,hits=20")

    init(parsing text: String) throws(LoadOptionsError) {
        var entries: [Entry] = []
        var seen: Set<Operation> = []
        let names = Operation.allCases.map(\.rawValue).joined(separator: ", ")
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let operation = Operation(rawValue: pair[0]) else {
                throw LoadOptionsError("--mix \(text): each entry must be NAME=WEIGHT with NAME one of \(names), such as hit=80,hits=20")
            }
            guard let weight = Int(pair[1]), (0...1_000_000).contains(weight) else {
                throw LoadOptionsError("--mix \(text): the weight of \(operation.rawValue) must be an integer from 0 to 1000000")
            }
            guard seen.insert(operation).inserted else {
                throw LoadOptionsError("--mix \(text): \(operation.rawValue) is given twice")
            }
            if weight > 0 { entries.append(Entry(operation: operation, weight: weight)) }
        }
        guard !entries.isEmpty else { throw LoadOptionsError("--mix \(text): at least one weight must be above zero") }
        self.entries = entries
        self.totalWeight = entries.reduce(0) { $0 + $1.weight }
    }

    /// The entry (an index into `entries`) for a uniform random number.
    @inline(__always)
    func pick(_ random: UInt64) -> Int {
        var point = Int(random % UInt64(self.totalWeight))
        for (index, entry) in self.entries.enumerated() {
            if point < entry.weight { return index }
            point -= entry.weight
        }
        return self.entries.count - 1
    }

    var description: String {
        self.entries.map { "\($0.operation.rawValue)=\($0.weight)" }.joined(separator: ",")
    }
}
