/// The counter keys requests use, chosen uniformly: one fixed key, or `PREFIX0` to `PREFIX{N-1}`.
enum KeySet: Sendable, Equatable, CustomStringConvertible {
    case single(String)
    case numbered(prefix: String, count: Int)

    /// The key numbered `number` (modulo the count).
    func name(_ number: UInt64) -> String {
        switch self {
        case .single(let key): key
        case .numbered(let prefix, let count): prefix + String(number % UInt64(count))
        }
    }

    var count: Int {
        switch self {
        case .single: 1
        case .numbered(_, let count): count
        }
    }

    var description: String {
        switch self {
        case .single(let key): key
        case .numbered(let prefix, let count): count == 1 ? "\(prefix)0" : "\(prefix)0..\(prefix)\(count - 1)"
        }
    }
}
