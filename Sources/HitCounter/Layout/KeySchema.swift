/// Every Redis key HitCounter uses is spelled here, and only here (see docs/data-model.md).
///
/// A counter's keys are `<prefix>:{<escaped key>}:<role>`. The escaping (`%` as `%25`, `}` as `%7D`)
/// keeps the braces around exactly the whole key, whatever bytes a client sends:
///
/// - Redis Cluster's hash tag (from the first `{` to the next `}`) is the escaped key, so all of a
///   counter's keys share one slot;
/// - no key or id can spell another counter's name: the escaped key ends at the first `}`, and each
///   role after it starts with its own token (`s:`, `m:`, `h:`, `u:`, `id:`, `cb:`).
///
/// The roll-up's keys live under `<prefix>:rollup:` and the top sets under `<prefix>:top:`, which no
/// counter's name can start with (those start `<prefix>:{`).
///
/// In a Redis Cluster (`inCluster`), the keys of one script call must share a hash slot: a minute's
/// roll-up index and top sets are kept per slot, each tagged with the slot's tag (`SlotTags`), and the
/// roll-up's lock and positions share the tag `{rollup}` (docs/cluster.md).
public struct KeySchema: Sendable, Hashable {
    public let prefix: [UInt8]
    /// Whether keys that belong to no counter are spelled for a Redis Cluster.
    public private(set) var isClustered = false

    /// - Parameter prefix: the start of every key, so several services can share a Redis. It may not
    ///   contain braces: they would move the hash tag.
    public init(prefix: String = "hc") {
        precondition(!prefix.isEmpty && !prefix.contains("{") && !prefix.contains("}"), "the key prefix must be non-empty, without braces")
        self.prefix = Array(prefix.utf8)
    }

    /// The same schema, spelled for a Redis Cluster.
    public func inCluster() -> KeySchema {
        var schema = self
        schema.isClustered = true
        return schema
    }

    /// The keys of one counter.
    public func counter(_ key: CounterKey) -> CounterKeys {
        var base = self.prefix
        base.reserveCapacity(self.prefix.count + key.bytes.count + 4)
        base += Self.open
        Self.escape(key.bytes, into: &base)
        base.append(UInt8(ascii: "}"))
        return CounterKeys(base: base)
    }

    private static func escape(_ bytes: [UInt8], into base: inout [UInt8]) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "%"): base += Self.escapedPercent
            case UInt8(ascii: "}"): base += Self.escapedBrace
            default: base.append(byte)
            }
        }
    }

    // MARK: Finding counters (`SCAN` patterns, docs/data-model.md)

    /// A `SCAN MATCH` pattern for the keys with `role` (a glob, such as `:h:*`) of every counter whose
    /// key starts with `prefix`.
    func counterPattern(prefix: CounterKey, role: String) -> [UInt8] {
        var escaped: [UInt8] = []
        Self.escape(prefix.bytes, into: &escaped)
        return Self.globEscaped(self.prefix + Self.open + escaped) + Array("*}".utf8) + Array(role.utf8)
    }

    /// A `SCAN MATCH` pattern for every key of one counter.
    func allKeysPattern(of key: CounterKey) -> [UInt8] {
        Self.globEscaped(self.counter(key).base) + Array(":*".utf8)
    }

    /// The counter and day of an hour-level hits bucket's name (`<prefix>:{<escaped key>}:h:<day>`);
    /// nil for any other key.
    func hourBucket(_ name: [UInt8]) -> (key: CounterKey, day: Int64)? {
        let start = self.prefix + Self.open
        guard name.starts(with: start), let close = name[start.count...].firstIndex(of: UInt8(ascii: "}")) else { return nil }
        let role = Array(":\(BucketLevel.hours.token):".utf8)
        let rest = name[(close + 1)...]
        guard rest.starts(with: role), let day = Int64(String(decoding: rest.dropFirst(role.count), as: UTF8.self)) else { return nil }
        var key: [UInt8] = []
        var index = start.count
        while index < close {
            if name[index...].starts(with: Self.escapedPercent) {
                key.append(UInt8(ascii: "%"))
                index += 3
            } else if name[index...].starts(with: Self.escapedBrace) {
                key.append(UInt8(ascii: "}"))
                index += 3
            } else {
                key.append(name[index])
                index += 1
            }
        }
        return (CounterKey(bytes: key), day)
    }

    /// `bytes` with the bytes `SCAN`'s glob gives a meaning (`*?[]\`) taken literally.
    private static func globEscaped(_ bytes: [UInt8]) -> [UInt8] {
        var escaped: [UInt8] = []
        escaped.reserveCapacity(bytes.count + 4)
        for byte in bytes {
            if Self.globSpecial.contains(byte) { escaped.append(UInt8(ascii: "\\")) }
            escaped.append(byte)
        }
        return escaped
    }

    // MARK: Roll-up (docs/exactly-once.md)

    /// The roll-up lock: the holder's token, with a lease.
    public var rollupLock: [UInt8] { self.rollup("lock") }

    /// The next minute a sink is owed.
    public func rollupCursor(sink: String) -> [UInt8] { self.rollup("next:" + sink) }

    /// Where a sink stopped inside a minute it is part-way through: `<minute> <last key delivered>`.
    public func rollupPage(sink: String) -> [UInt8] { self.rollup("after:" + sink) }

    /// The counters hit in a minute, as a sorted set (all scores 0, so ordered by their bytes); in a
    /// cluster, those of the minute whose keys are in `slot`.
    public func rollupIndex(minute: Int64, slot: Int = 0) -> [UInt8] {
        self.isClustered ? self.prefix + Array(":rollup:keys:{\(SlotTags.tag(forSlot: slot))}:\(minute)".utf8) : self.rollup("keys:\(minute)")
    }

    // MARK: Top keys (docs/top-keys.md)

    /// The hits of every counter hit in one minute or one hour (`level` is `.minutes` or `.hours`), as a
    /// sorted set: member the counter's key, score its hits in that unit.
    /// In a cluster, the top sets are not kept (docs/cluster.md), and these name the slot's, so the
    /// hit script's keys share a slot.
    public func topKeys(_ level: BucketLevel, unitStart: Int64, slot: Int = 0) -> [UInt8] {
        precondition(level != .seconds, "top sets are kept per minute and per hour")
        let tag = self.isClustered ? "{\(SlotTags.tag(forSlot: slot))}:" : ""
        return self.prefix + Array(":top:\(level.token):\(tag)\(unitStart)".utf8)
    }

    private func rollup(_ name: String) -> [UInt8] {
        self.prefix + Array((self.isClustered ? ":rollup:{rollup}:\(name)" : ":rollup:\(name)").utf8)
    }

    private static let open = Array(":{".utf8)
    private static let globSpecial = Array("*?[]\\".utf8)
    private static let escapedPercent = Array("%25".utf8)
    private static let escapedBrace = Array("%7D".utf8)
}

/// The keys of one counter, each `<base>:<role>` where `<base>` is `<prefix>:{<escaped key>}`.
public struct CounterKeys: Sendable, Hashable {
    public let base: [UInt8]

    /// The bucket of `series` at `level` that starts at `sliceStart`: `<base>:s:<minute>` (seconds),
    /// `<base>:m:<hour>` (minutes), `<base>:h:<day>` (hours) for hits, and the same under `<base>:u:`
    /// for the distinct ids counted.
    public func bucket(_ series: Series, _ level: BucketLevel, sliceStart: Int64) -> [UInt8] {
        // Built in place: three of these per counter per hit.
        var key = self.base
        key.reserveCapacity(self.base.count + 24)
        key += series.infix.utf8
        key.append(UInt8(ascii: ":"))
        key += level.token.utf8
        key.append(UInt8(ascii: ":"))
        key += String(sliceStart).utf8
        return key
    }

    /// Remembers that `id` was counted: `<base>:id:<id bytes>`. The id comes last, so any bytes do.
    public func id(_ id: HitID) -> [UInt8] {
        self.base + Self.idInfix + id.bytes
    }

    /// The callbacks named by the minute's hits: `<base>:cb:<minute>`.
    public func callbacks(minute: Int64) -> [UInt8] {
        self.base + Array(":cb:\(minute)".utf8)
    }

    private static let idInfix = Array(":id:".utf8)

    /// What a bucket counts.
    public enum Series: Sendable, CaseIterable {
        /// Hits.
        case hits
        /// Distinct ids counted (`unique` reads).
        case unique

        var infix: String {
            switch self {
            case .hits: ""
            case .unique: ":u"
            }
        }
    }
}
