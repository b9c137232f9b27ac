/// A request issued by the schedule and not yet finished.
struct PendingRequest {
    /// When it was meant to be sent (`NIODeadline.uptimeNanoseconds`): its latency counts from here,
    /// so time spent waiting for a free connection is not hidden.
    var intended: UInt64
    /// Which mix entry it is (index into `RequestMix.entries`).
    var entry: Int
    /// The numbered key to use (`--sequential-keys`); nil for one chosen at random.
    var key: UInt64?
}
