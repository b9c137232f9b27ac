import PropertyBased
import TestSupport
import Testing

@testable import HitCounter

/// No key or id a client sends can name another counter's Redis key, and every key of a counter
/// stays in its hash slot (docs/data-model.md, "Names stay unique").
@Suite struct KeySchemaTests {
    static let schema = KeySchema()
    /// Bytes that mean something in a key's name: braces, the separator, the escape, role tokens.
    static let hostile = Array("{}:%7Dd5id1u60cb ".utf8) + [0x00, 0xEF, 0xBB, 0xBF, 0xFF]
    static let bytes = Gen.int(in: 0...(Self.hostile.count - 1)).map { Self.hostile[$0] }.array(of: 1...10)

    /// A name and what it stands for: a counter and a role, with the role's own part.
    struct Named: Hashable {
        let counter: [UInt8]
        let role: String
        let name: [UInt8]
    }

    /// Every name a counter has, for a few minutes and ids.
    static func names(counter: [UInt8], id: [UInt8]) -> [Named] {
        let keys = Self.schema.counter(CounterKey(bytes: counter))
        var named = [Named(counter: counter, role: "id \(id)", name: keys.id(HitID(bytes: id)))]
        for minute: Int64 in [1_800_000_000, 1_800_000_060] {
            named.append(Named(counter: counter, role: "cb \(minute)", name: keys.callbacks(minute: minute)))
            for series in CounterKeys.Series.allCases {
                for level in BucketLevel.allCases {
                    let slice = level.sliceStart(minute)
                    named.append(Named(counter: counter, role: "\(series) \(level) \(slice)", name: keys.bucket(series, level, sliceStart: slice)))
                }
            }
        }
        return named
    }

    /// Redis Cluster's rule: the bytes between the first `{` and the next `}`, when not empty.
    static func hashTag(_ name: [UInt8]) -> [UInt8]? {
        guard let open = name.firstIndex(of: UInt8(ascii: "{")),
            let close = name[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        else { return nil }
        return Array(name[(open + 1)..<close])
    }

    @Test func theReportedCollisionsAreApart() {
        // A key and id that once shared one dedup record.
        #expect(Self.schema.counter("a").id("x}:id:y") != Self.schema.counter("a}:id:x").id("y"))
        // A key whose bucket was another counter's id record (WRONGTYPE, a 500 and half a hit).
        let minute: Int64 = 1_800_000_000
        #expect(
            Self.schema.counter("a").id(HitID("y}:1:\(minute)")) != Self.schema.counter("a}:id:y").bucket(.hits, .seconds, sliceStart: minute)
        )
        #expect(Self.schema.counter("a}b").base == Array("hc:{a%7Db}".utf8))
        #expect(Self.schema.counter("100%").base == Array("hc:{100%25}".utf8))
    }

    @Test func differentCountersOrRolesNeverShareAName() async {
        await propertyCheck(count: 300, input: Self.bytes, Self.bytes, Self.bytes, Self.bytes) { keyA, idA, keyB, idB in
            let all = Self.names(counter: keyA, id: idA) + Self.names(counter: keyB, id: idB)
            var owners: [[UInt8]: Named] = [:]
            for named in all {
                if let owner = owners.updateValue(named, forKey: named.name) {
                    #expect(owner == named, "\(owner) and \(named) share a name")
                }
            }
        }
    }

    @Test func everyKeyOfACounterIsInItsHashSlot() async {
        await propertyCheck(count: 300, input: Self.bytes, Self.bytes) { key, id in
            let tags = Set(Self.names(counter: key, id: id).map { Self.hashTag($0.name) })
            #expect(tags.count == 1, "one hash tag for all keys of \(key)")
            let tag = tags.first.flatMap { $0 }
            #expect(tag.map { PercentDecoding.decode($0) == key } == true, "the tag is the escaped key")
        }
    }

    @Test func rollupKeysAreNoCountersNames() {
        for name in [Self.schema.rollupLock, Self.schema.rollupCursor(sink: "log"), Self.schema.rollupIndex(minute: 60)] {
            #expect(name.starts(with: Array("hc:rollup:".utf8)))
            #expect(!name.starts(with: Array("hc:{".utf8)))
        }
    }
}
