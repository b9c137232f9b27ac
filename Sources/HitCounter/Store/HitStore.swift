import NIOCore
import NIOPosix

/// Where hits are kept: the in-process store or Redis. Both count the same way.
///
/// A store trusts its arguments: `HitCounter` checks them first. Its calls return futures completed on
/// the given event loop, so a caller on that loop (the service's hot routes) needs no task and no
/// change of thread; async callers use the wrappers below.
public protocol HitStore: Sendable {
    /// The longest window a read may ask for; buckets older than this are dropped.
    var maxRange: Int { get }

    /// How long an id is remembered: a `(key, id)` seen again within it is not counted again.
    var dedupPeriod: Int { get }

    /// Adds `count` hits to `key` at `second` (epoch seconds), or at the store's clock's current second
    /// when nil. With an `id`, only if that id has not been counted on `key` within the dedup period,
    /// checked and counted in one atomic step. `callback` names where the minute's roll-up event for
    /// `key` should also go (stores without roll-ups ignore it).
    func hit(key: CounterKey, count: Int, id: HitID?, callback: String?, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<HitReceipt>

    /// The number of hits on `key` in the seconds `t` with `now - range < t <= now`, where `now` is
    /// `second`, or the store's clock's current second when nil. With `unique`, the number of distinct
    /// ids counted on `key` in those seconds instead (exact: see docs/exactly-once.md).
    func hits(key: CounterKey, range: Int, unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<Int64>

    /// The hits (or with `unique`, the distinct ids) on `key` in several windows ending at the same
    /// second: each of `ranges`. One read, one clock.
    func counts(key: CounterKey, ranges: [Int], unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<WindowCounts>

    /// The window of `range` seconds in steps of `step` seconds (`SeriesPlan`), in one read at one
    /// clock: its total is what `hits` answers for the same window.
    func series(key: CounterKey, range: Int, step: Int, unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<HitSeries>

    /// Counts `hits` (a batch), all at `second` or the store's clock's second, as one call for each
    /// the store would make for one hit: for Redis, one script call for the whole batch (unless a flight
    /// is out, when the batch is the next one). Exactly-once by id holds inside the batch too. Answers
    /// each hit's receipt, in order.
    func hit(_ hits: [Hit], at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<[HitReceipt]>

    /// A page of the counters hit within the max range whose keys start with `prefix`, from `cursor`
    /// (nil for the first page): about `limit` of them, each once over the whole listing if it was
    /// hit before the listing started and not reset during it.
    func keys(prefix: String, cursor: String?, limit: Int) async throws -> KeyPage

    /// Removes everything of `key`: its buckets, its unique series and its ids, in one atomic step, then
    /// its scores in the top sets. A counter reset starts again from zero; roll-ups already emitted stay.
    func reset(key: CounterKey) async throws

    /// Whether the store keeps what `top` reads (a Redis store can be told not to, to save work per hit).
    var keepsTopKeys: Bool { get }

    /// The `limit` counters with the most hits in the window of `range` seconds, with their exact counts.
    func top(range: Int, limit: Int, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<TopKeys>

    /// Succeeds when the store can serve requests.
    func ping() async throws

    /// Releases what the store holds (its Redis connection); later calls fail.
    func shutdown()
}

extension HitStore {
    /// The calls above, untraced.
    public func hit(key: CounterKey, count: Int, id: HitID?, callback: String?, at second: Int64?, on eventLoop: any EventLoop) -> EventLoopFuture<HitReceipt> {
        self.hit(key: key, count: count, id: id, callback: callback, at: second, trace: nil, on: eventLoop)
    }

    public func hits(key: CounterKey, range: Int, unique: Bool, at second: Int64?, on eventLoop: any EventLoop) -> EventLoopFuture<Int64> {
        self.hits(key: key, range: range, unique: unique, at: second, trace: nil, on: eventLoop)
    }

    public func counts(key: CounterKey, ranges: [Int], unique: Bool, at second: Int64?, on eventLoop: any EventLoop) -> EventLoopFuture<WindowCounts> {
        self.counts(key: key, ranges: ranges, unique: unique, at: second, trace: nil, on: eventLoop)
    }

    public func series(key: CounterKey, range: Int, step: Int, unique: Bool, at second: Int64?, on eventLoop: any EventLoop) -> EventLoopFuture<HitSeries> {
        self.series(key: key, range: range, step: step, unique: unique, at: second, trace: nil, on: eventLoop)
    }

    public func top(range: Int, limit: Int, at second: Int64?, on eventLoop: any EventLoop) -> EventLoopFuture<TopKeys> {
        self.top(range: range, limit: limit, at: second, trace: nil, on: eventLoop)
    }

    public func hit(key: CounterKey, count: Int, id: HitID?, callback: String?, at second: Int64?) async throws -> HitReceipt {
        try await self.hit(key: key, count: count, id: id, callback: callback, at: second, on: currentEventLoop).get()
    }

    public func hits(key: CounterKey, range: Int, unique: Bool, at second: Int64?) async throws -> Int64 {
        try await self.hits(key: key, range: range, unique: unique, at: second, on: currentEventLoop).get()
    }

    /// Adds `count` hits without an id. Returns the second they were counted at.
    @discardableResult
    public func hit(key: CounterKey, count: Int, at second: Int64?) async throws -> Int64 {
        try await self.hit(key: key, count: count, id: nil, callback: nil, at: second).second
    }

    /// The number of hits on `key` in the last `range` seconds.
    public func hits(key: CounterKey, range: Int, at second: Int64?) async throws -> Int64 {
        try await self.hits(key: key, range: range, unique: false, at: second)
    }
}

/// The event loop this runs on (Swift concurrency runs on NIO's loops in the service); for a caller
/// on no loop (a test, a tool), always the same one, so its calls share one connection.
var currentEventLoop: any EventLoop {
    MultiThreadedEventLoopGroup.currentEventLoop ?? firstEventLoop
}

private let firstEventLoop: any EventLoop = {
    var loops = MultiThreadedEventLoopGroup.singleton.makeIterator()
    return loops.next()!
}()
