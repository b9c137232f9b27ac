/// Where hits are kept: the in-process store or Redis. Both count the same way.
///
/// A store trusts its arguments: `HitCounter` checks them first.
public protocol HitStore: Sendable {
    /// The longest window a read may ask for; buckets older than this are dropped.
    var maxRange: Int { get }

    /// Adds `count` hits to `key` at `second` (epoch seconds), or at the store's clock's current second
    /// when nil. Returns the second the hits were counted at.
    func hit(key: CounterKey, count: Int, at second: Int64?) async throws -> Int64

    /// The number of hits on `key` in the seconds `t` with `now - range < t <= now`, where `now` is
    /// `second`, or the store's clock's current second when nil.
    func hits(key: CounterKey, range: Int, at second: Int64?) async throws -> Int64

    /// Succeeds when the store can serve requests.
    func ping() async throws
}

extension HitStore {
    /// Releases what the store holds (its Redis connection); later calls fail. Nothing, by default.
    public func shutdown() {}
}
