@testable import HitCounter
import PropertyBased
import Testing

/// The window math alone, against brute force: which units of which levels a window reads, with the
/// fold's watermark anywhere (docs/data-model.md).
@Suite struct WindowPlanTests {
    /// Hits per second over three days, and the units each level would hold: the seconds always; a
    /// minute's and an hour's unit only once folded, wrong before (what a read must never use).
    struct Levels {
        let start: Int64
        /// `prefix[i]`: the hits of the first `i` seconds.
        let prefix: [Int64]
        let foldedBefore: Int64

        /// The hits of `count` seconds from `first`.
        func hits(from first: Int64, count: Int64) -> Int64 {
            let lower = Int(first - self.start), upper = lower + Int(count)
            return self.prefix[max(0, min(upper, self.prefix.count - 1))] - self.prefix[max(0, min(lower, self.prefix.count - 1))]
        }

        func read(_ plan: WindowPlan) -> Int64 {
            plan.pieces.reduce(0) { total, piece in
                if piece.level == .seconds { return total + self.hits(from: piece.first, count: piece.last - piece.first + 1) }
                return stride(from: piece.first, through: piece.last, by: Int(piece.level.unit)).reduce(total) { total, unitStart in
                    // A minute's or an hour's unit not folded yet holds a wrong number: a read must never use it.
                    total + (unitStart + piece.level.unit > self.foldedBefore ? -1_000_000 : self.hits(from: unitStart, count: piece.level.unit))
                }
            }
        }

        func bruteForce(now: Int64, range: Int) -> Int64 { self.hits(from: now - Int64(range) + 1, count: Int64(range)) }
    }

    @Test func readsMatchBruteForceWhereverTheFoldIs() {
        var random = Xoshiro(seed: (27, 60, 3600, 86_400))
        let start = WindowTests.now - WindowTests.now % 86_400 - 86_400
        var prefix: [Int64] = [0]
        for _ in 0..<(3 * 86_400) { prefix.append(prefix.last! + Int64.random(in: 0...3, using: &random)) }
        for _ in 0..<1000 {
            let now = start + 86_400 + Int64.random(in: 0..<(2 * 86_400 - 1), using: &random)
            let range = Int.random(in: 1...86_400, using: &random)
            // Anywhere from far behind the window to just past now, on a minute.
            let watermark = BucketLevel.minutes.unitStart(now - Int64.random(in: -60...(2 * 86_400 - 1), using: &random))
            let levels = Levels(start: start, prefix: prefix, foldedBefore: watermark)
            let plan = WindowPlan(now: now, range: range, foldedBefore: watermark)
            #expect(levels.read(plan) == levels.bruteForce(now: now, range: range), "now \(now), range \(range), folded before \(watermark)")
            // Every second of the window once, oldest first; nothing coarse from the minutes not folded.
            var next = now - Int64(range) + 1
            for piece in plan.pieces {
                #expect(piece.first == next)
                next = piece.last + piece.level.unit
                #expect(piece.level == .seconds || piece.last + piece.level.unit <= watermark)
            }
            #expect(next == now + 1)
        }
    }

    /// With every minute of the window folded, a plan is the one without a fold; the minute in progress
    /// (never folded while it runs) comes from its second bucket; far behind, a window of an hour reads
    /// 60 or 61 second buckets.
    @Test func theWatermarkOnlyMovesThePartNotFoldedYet() {
        let now = WindowTests.now, minute = BucketLevel.minutes.unitStart(now)
        for range in [1, 59, 60, 61, 3599, 3600, 3601, 86_400] {
            #expect(WindowPlan(now: now, range: range, foldedBefore: minute + 60).pieces == WindowPlan(now: now, range: range).pieces)
            let live = WindowPlan(now: now, range: range, foldedBefore: minute)
            #expect(live.pieces.last == WindowPlan.Piece(level: .seconds, sliceStart: minute, first: max(minute, now - Int64(range) + 1), last: now))
        }
        let behind = WindowPlan(now: now, range: 3600, foldedBefore: now - 7200)
        #expect(behind.pieces.allSatisfy { $0.level == .seconds })
        #expect((60...61).contains(behind.pieces.count))
    }
}
