/// Hits without ids or callbacks as plain commands in one transaction (docs/fold.md): `TIME`, then
/// per counter the second's `BITFIELD ... OVERFLOW FAIL INCRBY` and, with top keys, the minute's top
/// set `ZINCRBY` (the hour's is written by the fold). A script call costs Redis its fixed part (`EVALSHA`, the script's
/// set-up and checks) however little it does; these commands cost only themselves.
///
/// A counter's first hits of a minute from this replica (`MinuteMemory`) also put it in the minute's
/// roll-up index (`ZADD NX`, in the same transaction as the count, so the fold always sees a counted
/// counter), give its seconds bucket its expiry (`NX`: the first writer's stands) and make its hour
/// bucket if missing (empty, `SET NX`, so the counter is listed before its first fold); the first flight
/// of a minute gives the minute's shared keys (the index, the top sets) theirs. What a script checked
/// inside, the store checks around it: `TIME` says whether the planned second was Redis's (else the
/// hits are moved, or in another minute counted again by the script); a counter whose command failed
/// (a key of another type) or whose unit saturated has what did run undone.
///
/// Every key of a call is in one hash slot in a cluster: the counters of one slot, with that slot's
/// index (and no top sets: a cluster keeps none).
struct HitTransaction: Sendable {
    /// One counter's hits, all without ids or callbacks.
    struct Counter: Sendable {
        let key: CounterKey
        let count: Int
        /// Whether this replica has not written the counter in the minute yet.
        let isFirst: Bool
    }

    /// What happened to one counter.
    enum Outcome: Sendable {
        /// Counted at the planned second.
        case counted
        /// Not counted: its unit would have overflowed (`OVERFLOW FAIL` wrote nothing); the rest ran.
        case saturated
        /// A command failed while the others ran.
        case failed(RedisError)
    }

    let counters: [Counter]
    let commands: [RedisCommand]
    /// A key of the call, to route it by.
    let route: [UInt8]
    /// The planned second: the unit the `BITFIELD`s add to.
    let second: Int64
    private let keys: KeySchema
    private let topKeys: Bool
    private let slot: Int
    private let expiries: Expiries
    /// Where each counter's commands start, after `TIME`.
    private let firstCommand: [Int]

    /// - Parameters:
    ///   - driven: `second` is a test's driven second, not a plan of Redis's: expiries are relative to it.
    ///   - sharedFirst: the first flight of the minute from this replica: the shared keys get expiries.
    init(keys schema: KeySchema, counters: [Counter], second: Int64, driven: Bool, maxRange: Int, topKeys: Bool, slot: Int, sharedFirst: Bool) {
        let minute = BucketLevel.minutes.unitStart(second)
        let expiries = Expiries(now: driven ? second : nil, maxRange: Int64(maxRange))
        let index = schema.rollupIndex(minute: minute, slot: slot)
        let minuteSet = schema.topKeys(.minutes, unitStart: minute, slot: slot)
        let unit = RedisArgument("#\(BucketLevel.seconds.slot(second))")
        let type = RedisArgument(BucketLevel.seconds.counterType)
        var commands = [RedisCommand.time]
        commands.reserveCapacity(3 + (topKeys ? 5 : 4) * counters.count)
        var firstCommand: [Int] = []
        firstCommand.reserveCapacity(counters.count)
        for counter in counters {
            firstCommand.append(commands.count)
            let keys = schema.counter(counter.key)
            let bucket = keys.bucket(.hits, .seconds, sliceStart: minute)
            let member = RedisArgument(bytes: counter.key.bytes)
            let count = RedisArgument(counter.count)
            commands.append(RedisCommand("BITFIELD", [RedisArgument(bytes: bucket), "OVERFLOW", "FAIL", "INCRBY", type, unit, count]))
            if counter.isFirst {
                commands.append(RedisCommand("ZADD", [RedisArgument(bytes: index), "NX", 0, member]))
                commands.append(expiries.command(bucket, sliceEnd: minute + BucketLevel.seconds.span))
                let hours = keys.bucket(.hits, .hours, sliceStart: BucketLevel.hours.sliceStart(second))
                commands.append(expiries.made(hours, sliceEnd: BucketLevel.hours.sliceStart(second) + BucketLevel.hours.span))
            }
            if topKeys { commands.append(RedisCommand("ZINCRBY", [RedisArgument(bytes: minuteSet), count, member])) }
        }
        // Last, so that the keys exist by then.
        if sharedFirst {
            commands.append(expiries.command(index, sliceEnd: minute + BucketLevel.seconds.span, atLeast: ScriptGeometry.rollupHorizon))
            if topKeys { commands.append(expiries.command(minuteSet, sliceEnd: minute + BucketLevel.minutes.unit)) }
        }
        self.counters = counters
        self.commands = commands
        self.route = index
        self.second = second
        self.keys = schema
        self.topKeys = topKeys
        self.slot = slot
        self.expiries = expiries
        self.firstCommand = firstCommand
    }

    /// Expiries as the hit script gives them: a key lives while a window of the max range can still
    /// reach the last second of its slice (an index, at least a day). Absolute (`EXPIREAT`) for live
    /// hits, so they do not depend on this replica's clock; relative to a driven second in tests, so
    /// their keys live as long as live ones. `NX`: the first writer's expiry stands.
    private struct Expiries: Sendable {
        let now: Int64?
        let maxRange: Int64

        /// `SET key "" NX` with the expiry: a bucket made empty if it is missing.
        func made(_ key: [UInt8], sliceEnd: Int64) -> RedisCommand {
            let end = sliceEnd + self.maxRange
            guard let now = self.now else { return RedisCommand("SET", [RedisArgument(bytes: key), "", "NX", "EXAT", RedisArgument(end)]) }
            return RedisCommand("SET", [RedisArgument(bytes: key), "", "NX", "EX", RedisArgument(max(1, end - now))])
        }

        func command(_ key: [UInt8], sliceEnd: Int64, atLeast: Int64 = 0) -> RedisCommand {
            let end = sliceEnd + max(self.maxRange, atLeast)
            guard let now = self.now else { return RedisCommand("EXPIREAT", [RedisArgument(bytes: key), RedisArgument(end), "NX"]) }
            return RedisCommand("EXPIRE", [RedisArgument(bytes: key), RedisArgument(max(1, end - now)), "NX"])
        }
    }

    private static func isError(_ reply: RESPValue) -> Bool {
        if case .error = reply { return true }
        return false
    }

    /// Redis's time when the transaction ran: its `TIME` reply.
    static func time(_ replies: [RESPValue]) throws -> (second: Int64, microseconds: Int64) {
        guard case .array(let time) = replies.first, time.count == 2, let second = time[0].int64, let microseconds = time[1].int64 else {
            throw RedisError.protocolError("TIME in a transaction answered \(replies.first ?? .null)")
        }
        return (second, microseconds)
    }

    /// Each counter's outcome from `EXEC`'s replies.
    func outcomes(_ replies: [RESPValue]) -> [Outcome] {
        self.counters.indices.map { index in
            let commands = self.commands(of: index)
            for reply in replies[commands] {
                if case .error(let message) = reply { return .failed(RedisError.replyError(message)) }
            }
            guard case .array(let units) = replies[commands.lowerBound], units.count == 1 else {
                return .failed(RedisError.protocolError("BITFIELD in a transaction answered \(replies[commands.lowerBound])"))
            }
            return units[0] == .null ? .saturated : .counted
        }
    }

    /// Where the commands of the counter at `index` lie, in `commands` and in `EXEC`'s replies.
    private func commands(of index: Int) -> Range<Int> {
        let first = self.firstCommand[index]
        let count = 1 + (self.counters[index].isFirst ? 3 : 0) + (self.topKeys ? 1 : 0)
        return first..<(first + count)
    }

    /// The commands that take back what ran of the counter at `index`'s, from `EXEC`'s replies: made only
    /// when a counter fails, saturates or was counted in another minute than Redis's. They leave no key
    /// they made without an expiry: a bucket or set left empty expires as the hit's own would have, an
    /// index entry or an hour bucket the hits added is removed.
    func undo(_ index: Int, _ replies: [RESPValue]) -> [RedisCommand] {
        let counter = self.counters[index]
        let commands = self.commands(of: index)
        let first = commands.lowerBound
        let minute = BucketLevel.minutes.unitStart(self.second)
        let member = RedisArgument(bytes: counter.key.bytes)
        let counterKeys = self.keys.counter(counter.key)
        var undo: [RedisCommand] = []
        if case .array(let units) = replies[first], units.first?.int64 != nil {
            let bucket = counterKeys.bucket(.hits, .seconds, sliceStart: minute)
            undo += [self.move(bucket, counter.count, to: nil), self.expiries.command(bucket, sliceEnd: minute + BucketLevel.seconds.span)]
        }
        if counter.isFirst, replies[first + 1].int64 == 1 {
            undo.append(RedisCommand("ZREM", [RedisArgument(bytes: self.route), member]))
        }
        if counter.isFirst, replies[first + 3] == .simpleString("OK") {
            undo.append(RedisCommand("DEL", [RedisArgument(bytes: counterKeys.bucket(.hits, .hours, sliceStart: BucketLevel.hours.sliceStart(self.second)))]))
        }
        if self.topKeys, !Self.isError(replies[commands.upperBound - 1]) {
            let set = self.keys.topKeys(.minutes, unitStart: minute, slot: self.slot)
            // A member left at 0 was added by the undone hits alone (scores are counts of hits): removed.
            undo += [
                RedisCommand("ZINCRBY", [RedisArgument(bytes: set), RedisArgument(-counter.count), member]),
                RedisCommand("ZREMRANGEBYSCORE", [RedisArgument(bytes: set), "-inf", "0"]),
                self.expiries.command(set, sliceEnd: minute + BucketLevel.minutes.unit),
            ]
        }
        return undo
    }

    /// The commands that move counted hits from the planned second to `actual`, Redis's, in the same
    /// minute: one `BITFIELD` per counter.
    func move(_ counters: [Counter], to actual: Int64) -> [RedisCommand] {
        let minute = BucketLevel.minutes.unitStart(self.second)
        return counters.map { self.move(self.keys.counter($0.key).bucket(.hits, .seconds, sliceStart: minute), $0.count, to: actual) }
    }

    /// `count` off the planned second's unit in `bucket` (saturating at 0), and onto the unit of `to`.
    private func move(_ bucket: [UInt8], _ count: Int, to: Int64?) -> RedisCommand {
        let type = RedisArgument(BucketLevel.seconds.counterType)
        var arguments: [RedisArgument] = [
            RedisArgument(bytes: bucket), "OVERFLOW", "SAT", "INCRBY", type, RedisArgument("#\(BucketLevel.seconds.slot(self.second))"), RedisArgument(-count),
        ]
        if let to { arguments += ["INCRBY", type, RedisArgument("#\(BucketLevel.seconds.slot(to))"), RedisArgument(count)] }
        return RedisCommand("BITFIELD", arguments)
    }
}
