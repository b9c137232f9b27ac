/// The sliding-window hit counter: the library's front door.
///
/// It checks every argument, then asks its store. One clock for all replicas: unless a caller passes
/// a second explicitly (tests do, to drive time), the store's clock decides, and for Redis that is
/// Redis's `TIME`, the same for every replica.
public struct HitCounter: Sendable {
    public let store: any HitStore

    /// Bounds for one call's count: large enough for batched clients, small enough that a counter
    /// cannot be pushed past exact floating-point integers in Redis (2^53) by any realistic client.
    public static let maxCount = 1_000_000_000
    /// Keys longer than this are refused: every bucket key repeats the counter key.
    public static let maxKeyBytes = 1024
    /// Ids longer than this are refused: each one is kept for the dedup period.
    public static let maxIDBytes = 200

    public init(store: any HitStore) {
        self.store = store
    }

    public var maxRange: Int { self.store.maxRange }

    /// Adds `count` hits to `key` now (or at `second`, for tests). Returns the second they were counted at.
    @discardableResult
    public func hit(key: CounterKey = .default, count: Int = 1, at second: Int64? = nil) async throws -> Int64 {
        try await self.hit(key: key, count: count, id: nil, callback: nil, at: second).second
    }

    /// Adds `count` hits to `key`, once per `id` within the store's dedup period; `callback` names a
    /// destination for the minute's roll-up event of `key`.
    public func hit(key: CounterKey = .default, count: Int = 1, id: HitID?, callback: String? = nil, at second: Int64? = nil) async throws -> HitReceipt {
        try Self.check(key: key)
        guard (1...Self.maxCount).contains(count) else {
            throw HitCounterError(.count, "count must be an integer from 1 to \(Self.maxCount)")
        }
        if let id {
            guard (1...Self.maxIDBytes).contains(id.bytes.count) else {
                throw HitCounterError(.id, "id must be 1 to \(Self.maxIDBytes) bytes")
            }
        }
        try Self.check(second: second)
        return try await self.store.hit(key: key, count: count, id: id, callback: callback, at: second)
    }

    /// The number of hits on `key` in the last `range` seconds, the current second included; with
    /// `unique`, the number of distinct ids counted on `key` in them.
    public func hits(key: CounterKey = .default, range: Int, unique: Bool = false, at second: Int64? = nil) async throws -> Int64 {
        try Self.check(key: key)
        guard (1...self.maxRange).contains(range) else {
            throw HitCounterError(.range, "range must be an integer from 1 to \(self.maxRange)")
        }
        try Self.check(second: second)
        return try await self.store.hits(key: key, range: range, unique: unique, at: second)
    }

    /// Succeeds when the store can serve requests.
    public func ping() async throws {
        try await self.store.ping()
    }

    private static func check(key: CounterKey) throws {
        guard !key.bytes.isEmpty, key.bytes.count <= Self.maxKeyBytes else {
            throw HitCounterError(.key, "key must be 1 to \(Self.maxKeyBytes) bytes")
        }
    }

    private static func check(second: Int64?) throws {
        // Up to the year 9999: well inside exact doubles, which Lua uses for numbers.
        guard let second else { return }
        guard (0...253_402_300_799).contains(second) else {
            throw HitCounterError(.timestamp, "timestamp must be epoch seconds from 0 to 253402300799")
        }
    }
}
