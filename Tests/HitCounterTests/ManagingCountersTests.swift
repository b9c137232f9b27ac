import HitCounter
import TestSupport
import Testing

/// Batches, listing and resetting, the same on both stores.
@Suite struct ManagingCountersTests {
    @Test(arguments: StoreKind.allCases)
    func aBatchCountsEachHitWithIdsOnce(kind: StoreKind) async throws {
        try await withCounter(kind) { counter in
            let receipts = try await counter.hit([Hit(key: "a", count: 2), Hit(key: "a", id: "x"), Hit(key: "b", id: "x"), Hit(key: "a", id: "x")])
            #expect(receipts.map(\.counted) == [true, true, true, false])
            #expect(try await counter.hits(key: "a", range: 60) == 3)
            #expect(try await counter.hits(key: "b", range: 60, unique: true) == 1)
            let refused = await #expect(throws: HitCounterError.self) { try await counter.hit([Hit(key: "a"), Hit(key: "a", count: 0)]) }
            #expect(refused?.message.hasPrefix("hits[1]: count must be") == true)
            await #expect(throws: HitCounterError.self) { try await counter.hit([]) }
            #expect(try await counter.hits(key: "a", range: 60) == 3, "nothing of a refused batch counted")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keysAreListedOnceByPrefixAndAResetStartsACounterAgain(kind: StoreKind) async throws {
        try await withCounter(kind) { counter in
            let keys = (0..<250).map { CounterKey("p:\($0)") } + ["q", "p%}{*?[x]\\"]
            for start in stride(from: 0, to: keys.count, by: 100) {
                _ = try await counter.hit(keys[start..<min(start + 100, keys.count)].map { Hit(key: $0, id: "first") })
            }
            var listed: [CounterKey] = []
            var cursor: String?
            repeat {
                let page = try await counter.keys(prefix: "p", cursor: cursor, limit: 40)
                listed += page.keys
                cursor = page.next
            } while cursor != nil
            #expect(listed.count == 251 && Set(listed) == Set(keys.filter { $0 != "q" }), "each once, by prefix, glob characters literal")
            #expect(try await counter.keys(prefix: "p%}{*?[", limit: 10).keys == ["p%}{*?[x]\\"])

            try await counter.reset(key: "p:7")
            #expect(try await counter.hits(key: "p:7", range: 60) == 0)
            #expect(try await counter.hits(key: "p:7", range: 60, unique: true) == 0)
            #expect(try await counter.hits(key: "p:8", range: 60) == 1, "other counters untouched")
            #expect(try await counter.hit(key: "p:7", id: "first").counted, "its ids are gone too")
            try await counter.hit(key: "p:7", count: 4)
            let top = try await counter.top(range: 60, limit: 1).entries.first
            #expect(top?.key == "p:7" && top?.hits == 5, "the top sets forgot its hits before the reset: \(String(describing: top))")
        }
    }
}
