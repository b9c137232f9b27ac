/// Folds a closed minute of some counters into their minute and hour levels (docs/fold.md): for each
/// counter and series, the minute's unit is set to the sum of its second bucket, and the hour's unit
/// moves by what the minute's unit moved (`BITFIELD SET` answers the unit it replaced), so it stays the
/// sum of its minutes without reading them; with top keys, the counter's score in the hour's top set is
/// set to its hour's hits (hits write only the minute's set: docs/top-keys.md).
///
/// A minute's unit is set from the seconds below it, never added to, and the hour's moves by that
/// change alone, so a fold repeated (after a crash before the roll-up's position moved, or by a second
/// holder of the lock) changes nothing, and minutes folded in any order leave the same hours. A counter
/// whose keys fail (a key of another type) answers its error; the others are folded.
///
/// A minute is folded only once it has closed on the Redis that holds its counters (its own `TIME`):
/// after that, no hit can land in it there, whatever the clocks of other nodes of a cluster (or of the
/// roll-up's holder) say. A call for a minute still open there folds nothing and throws
/// `MinuteNotClosed`; the roll-up tries again on its next pass.
///
/// Every key is in `KEYS`: in a Redis Cluster, the keys of one script call must share a hash slot, so a
/// call folds counters of one slot.
struct FoldScript: RedisScriptCall {
    /// Per counter, in order: its hits and distinct ids counted in the minute, or its error.
    typealias Reply = [Result<(hits: Int64, unique: Int64), RedisError>]

    let keys: [[UInt8]]
    let arguments: [RedisArgument]

    /// - Parameters:
    ///   - minute: the closed minute to fold.
    ///   - second: the current second, for tests that drive time; Redis's clock when nil. Expiries are
    ///     relative to it, as the hit script's are.
    ///   - topKeys: whether the hour's top set is kept (`--top-keys`, never in a cluster).
    ///   - slot: in a cluster, the hash slot of every counter of the call.
    ///   - again: a counter's minute is folded again after hits were taken back from it, so a minute
    ///     unit already set is set again even when its seconds now sum to nothing (docs/fold.md).
    init(
        keys schema: KeySchema, counters: [CounterKey], minute: Int64, second: Int64?, maxRange: Int, topKeys: Bool = true, slot: Int = 0,
        again: Bool = false
    ) {
        var keys: [[UInt8]] = [schema.topKeys(.hours, unitStart: BucketLevel.hours.unitStart(minute), slot: slot)]
        keys.reserveCapacity(1 + 6 * counters.count)
        for counter in counters {
            let counterKeys = schema.counter(counter)
            for series in CounterKeys.Series.allCases {
                for level in BucketLevel.allCases {
                    keys.append(counterKeys.bucket(series, level, sliceStart: level.sliceStart(minute)))
                }
            }
        }
        self.keys = keys
        self.arguments = [
            RedisArgument(minute), second.map { RedisArgument($0) } ?? "", RedisArgument(maxRange), RedisArgument(topKeys ? 1 : 0), RedisArgument(again ? 1 : 0),
        ] + counters.map { RedisArgument(bytes: $0.bytes) }
    }

    /// The minute is still open on the counters' Redis, by its clock.
    struct MinuteNotClosed: Error, CustomStringConvertible {
        let now: Int64
        var description: String { "the minute is still open on the counters' Redis (its second \(self.now))" }
    }

    static func decode(_ reply: RESPValue) throws -> Reply {
        if case .array(let values) = reply, values.count == 2, values[0].string == "open", let now = values[1].int64 {
            throw MinuteNotClosed(now: now)
        }
        guard case .array(let counters) = reply else { throw Self.unexpected(reply) }
        return try counters.map { counter in
            switch counter {
            case .array(let sums) where sums.count == 2:
                guard let hits = sums[0].int64, let unique = sums[1].int64 else { throw Self.unexpected(reply) }
                return .success((hits, unique))
            case .error(let message): return .failure(RedisError.replyError(message))
            default: throw Self.unexpected(reply)
            }
        }
    }

    /// KEYS: the hour's top set, then per counter its second, minute and hour buckets of the minute, for
    /// hits and then for distinct ids. ARGV: the minute, the current second or "" for Redis's clock, the
    /// max range, 1 to write the hour's top set (else 0), 1 to fold again (else 0), then each counter's key.
    ///
    /// Returns per counter `{hits, unique}` of the minute, or its error; `{'open', now}` when the minute
    /// has not closed by this Redis's clock.
    static let script = RedisScript(name: "fold", source: """
        #!lua
        \(ScriptGeometry.declarations)
        local minute, now, maxRange = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        if not now then now = tonumber(redis.call('TIME')[1]) end
        local n = (#KEYS - 1) / 6
        local top, again = ARGV[4] == '1', ARGV[5] == '1'
        if not (minute and maxRange) or #ARGV ~= 5 + n or n ~= math.floor(n) then
          return redis.error_reply('ERR fold script: malformed arguments')
        end
        if now < minute + secondsSpan then return {'open', now} end
        local hour = minute - minute % minutesSpan
        local day = minute - minute % hoursSpan
        local minuteSlot, hourSlot = '#' .. (minute - hour) / minutesUnit, '#' .. (hour - day) / hoursUnit
        -- As the hit script's: alive while a window of maxRange can still reach the slice's last second.
        local secondsBucketLife = tostring(minute + secondsSpan + maxRange - now)
        local minuteBucketLife = tostring(hour + minutesSpan + maxRange - now)
        local hourBucketLife = tostring(day + hoursSpan + maxRange - now)
        local hourSetLife = tostring(hour + minutesSpan + maxRange - now)

        -- The sum of a bucket's big-endian units of `width` bytes, read as `format` (a missing bucket sums to 0).
        local function sum(bytes, width, format)
          if not bytes then return 0 end
          local count = math.floor(#bytes / width)
          if count == 0 then return 0 end
          -- One unpack of every unit (its last value is the next position, left out).
          local units = {struct.unpack(string.rep(format, count), bytes)}
          local total = 0
          for i = 1, count do total = total + units[i] end
          return total
        end

        local hourSetWritten = false
        local function fold(c)
          local first = 2 + (c - 1) * 6
          local sums = {}
          for series = 0, 1 do
            local k = first + series * 3
            local minuteHits = sum(redis.call('GET', KEYS[k]), secondsWidth, secondsFormat)
            sums[series + 1] = minuteHits
            -- Folded again (hits taken back after a fold saw them), a minute unit already written is set
            -- again, to nothing if nothing is left.
            if minuteHits > 0 or (again and redis.call('EXISTS', KEYS[k + 1]) == 1) then
              -- Set by the hit that made the bucket; again here, so no bucket outlives its life even when
              -- that hit's own expiry never came (docs/fold.md: plain hits).
              redis.call('EXPIRE', KEYS[k], secondsBucketLife)
              -- The hour's unit is the sum of its minutes' units: it moves by what the minute's moved.
              local before = redis.call('BITFIELD', KEYS[k + 1], 'SET', minutesType, minuteSlot, string.format('%.0f', minuteHits))[1]
              redis.call('EXPIRE', KEYS[k + 1], minuteBucketLife)
              local hourHits = redis.call('BITFIELD', KEYS[k + 2], 'INCRBY', hoursType, hourSlot, string.format('%.0f', minuteHits - before))[1]
              redis.call('EXPIRE', KEYS[k + 2], hourBucketLife)
              if top and series == 0 and hourHits > 0 then
                redis.call('ZADD', KEYS[1], string.format('%.0f', hourHits), ARGV[5 + c])
                hourSetWritten = true
              elseif top and series == 0 then
                redis.call('ZREM', KEYS[1], ARGV[5 + c])
              end
            end
          end
          return sums
        end

        local result = {}
        for c = 1, n do
          local ok, reply = pcall(fold, c)
          result[c] = ok and reply or (type(reply) == 'table' and reply or redis.error_reply(tostring(reply)))
        end
        if hourSetWritten then redis.call('EXPIRE', KEYS[1], hourSetLife) end
        return result
        """)
}
