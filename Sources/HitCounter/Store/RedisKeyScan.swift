import NIOCore

/// Lists counters with Redis's `SCAN`: a counter hit within the max range has an hour-level bucket
/// (`<base>:h:<day>`, docs/data-model.md), so the scan matches those keys. A counter whose hits span
/// several days has one per day: it is listed from its newest only (a later day's bucket is checked
/// with `EXISTS`), so each counter comes once. The cursor is `SCAN`'s own, so a listing holds
/// nothing in Redis or here between pages, and it pages through the whole keyspace (other keys
/// included), a few thousand keys per page.
///
/// In a Redis Cluster, each primary is scanned in turn (in the order of the slots they serve); the
/// cursor carries the primary's place in its top byte, and `SCAN`'s own cursor (far below 2^56)
/// in the rest.
struct RedisKeyScan: Sendable {
    let client: RedisClient
    let keys: KeySchema
    let maxRange: Int
    let clock: RedisClock

    /// Keys `SCAN` looks at per call, and calls per page at most (a page may come back short, even
    /// empty, with a cursor to go on from, as `SCAN` itself does).
    static let scanCount = 1000
    static let maxScansPerPage = 20

    func page(prefix: String, cursor: String?, limit: Int) async throws -> KeyPage {
        let pattern = self.keys.counterPattern(prefix: CounterKey(prefix), role: ":" + BucketLevel.hours.token + ":*")
        let primaries = try await self.client.primaries()
        let (first, scanCursor) = Self.split(cursor ?? "0")
        guard first < primaries.count else { return KeyPage(keys: [], next: nil) }
        var node = first
        var cursor = scanCursor
        var finished = false
        var found: [(key: CounterKey, day: Int64, later: [[UInt8]])] = []
        var scans = 0
        repeat {
            let names: [[UInt8]]
            let reply = try await primaries[node].send([Self.command(from: cursor, matching: pattern, type: "string")], on: self.client.eventLoop).get()
            (cursor, names) = try Self.parse(reply[0])
            for name in names {
                guard let (key, day) = self.keys.hourBucket(name) else { continue }
                found.append((key, day, self.laterDays(of: key, after: day)))
            }
            // A primary's SCAN is done at "0": the next primary starts from "0".
            if cursor == "0" {
                node += 1
                finished = node == primaries.count
            }
            scans += 1
        } while !finished && found.count < limit && scans < Self.maxScansPerPage
        // Listed from its newest day only.
        let later = found.flatMap(\.later)
        let checks = later.map { RedisCommand("EXISTS", [RedisArgument(bytes: $0)]) }
        let exists = checks.isEmpty ? [] : try await self.client.send(checks, routedBy: later)
        var index = 0
        var listed: [CounterKey] = []
        for entry in found {
            let newer = exists[index..<index + entry.later.count].contains { $0.int64 == 1 }
            index += entry.later.count
            if !newer { listed.append(entry.key) }
        }
        return KeyPage(keys: listed, next: finished ? nil : Self.join(node, cursor))
    }

    /// The primary's place and `SCAN`'s cursor in a page's cursor.
    private static func split(_ cursor: String) -> (Int, String) {
        let value = UInt64(cursor) ?? 0
        return (Int(value >> 56), String(value & (1 << 56 - 1)))
    }

    private static func join(_ node: Int, _ cursor: String) -> String {
        String(UInt64(node) << 56 | (UInt64(cursor) ?? 0))
    }

    /// One `SCAN` call: the next cursor ("0" at the end) and the names it found.
    /// In a cluster, on the node of `routedBy`'s slot.
    static func scan(
        _ client: RedisClient, from cursor: String, matching pattern: [UInt8], type: String? = nil, routedBy key: [UInt8]? = nil
    ) async throws -> (String, [[UInt8]]) {
        try Self.parse(try await client.send(Self.command(from: cursor, matching: pattern, type: type), routedBy: key))
    }

    private static func command(from cursor: String, matching pattern: [UInt8], type: String?) -> RedisCommand {
        var arguments = [RedisArgument(cursor), "MATCH", RedisArgument(bytes: pattern), "COUNT", RedisArgument(Self.scanCount)]
        if let type { arguments += ["TYPE", RedisArgument(type)] }
        return RedisCommand("SCAN", arguments)
    }

    private static func parse(_ reply: RESPValue) throws -> (String, [[UInt8]]) {
        if case .error(let message) = reply { throw RedisError.replyError(message) }
        guard case .array(let parts) = reply, parts.count == 2, case .bulkString(let next) = parts[0], case .array(let names) = parts[1] else {
            throw RedisError.protocolError("SCAN answered \(reply)")
        }
        return (String(decoding: next, as: UTF8.self), names.compactMap { if case .bulkString(let name) = $0 { name } else { nil } })
    }

    /// The hour-level buckets of `key` for the days after `day`, up to the current one.
    private func laterDays(of key: CounterKey, after day: Int64) -> [[UInt8]] {
        let today = BucketLevel.hours.sliceStart(self.clock.second())
        guard day < today else { return [] }
        let counter = self.keys.counter(key)
        return stride(from: day + BucketLevel.hours.span, through: today, by: Int(BucketLevel.hours.span)).map { counter.bucket(.hits, .hours, sliceStart: $0) }
    }
}
