/// Which top sets add up to a window's hits per counter (docs/top-keys.md).
///
/// The window is cut as `WindowPlan` cuts it. Sets whose unit lies wholly in the window count in full
/// (`whole`). The rest of the window lies in units it cuts (`edges`): each such unit's set bounds a
/// counter's share from above, and the exact share is read from the counter's buckets (the window's
/// pieces in that unit), for the few counters whose rank depends on it.
///
/// Within an hour the window cuts, the whole minutes are minute sets when they are few; when they are
/// more than `maxMinuteSets`, the hour's one set bounds them all instead. Each set read costs a
/// round of reads and adds its lowest score to what an unseen counter may have, so sixty minute sets
/// of an hour full of one-hit counters (a flood of new keys) would make every read go to the end of
/// every set, where one hour set does not.
struct TopPlan: Sendable {
    /// A top set: the minute or hour starting at `unitStart`.
    struct Set: Sendable, Hashable {
        let level: BucketLevel
        let unitStart: Int64

        /// Whether `piece` lies in this set's unit.
        func holds(_ piece: WindowPlan.Piece) -> Bool {
            self.unitStart <= piece.first && piece.last < self.unitStart + self.level.unit
        }
    }

    /// A unit the window cuts: its set, and the window's pieces in it.
    struct Edge: Sendable, Hashable {
        let set: Set
        let pieces: [WindowPlan.Piece]
    }

    /// Whole minutes of a cut hour read as minute sets, at most; more are bounded by the hour's set.
    static let maxMinuteSets = 4

    /// The sets counted whole.
    let whole: [Set]
    /// The units the window cuts, oldest first.
    let edges: [Edge]

    /// Every set read: the whole ones, then the edges'.
    var sets: [Set] { self.whole + self.edges.map(\.set) }

    /// - Parameter live: `now` is Redis's current second, so the current minute's and the current hour's
    ///   sets hold no hit after it (but those counted while the read is in flight) and count whole: the
    ///   current minute, because most recent hits are in it and cutting it would make nearly every
    ///   counter a candidate; the current hour, when the window holds all of it so far, because it is
    ///   one set instead of up to sixty.
    ///
    /// An hour's set is written by the fold: hits write only the minute's set. So an hour's set counts
    /// whole only when the whole hour is folded (`window.foldedBefore`), bounds only its folded minutes,
    /// and the minutes after the watermark count through their own sets.
    init(_ window: WindowPlan, live: Bool) {
        var whole: [Set] = []
        var edges: [Edge] = []
        let folded = window.foldedBefore ?? .max
        let isFolded = { (piece: WindowPlan.Piece) in piece.last < folded }
        let hour = BucketLevel.hours.unitStart(window.now)
        let wholeHour = live && window.now - Int64(window.range) + 1 <= hour && window.now + 1 - hour < BucketLevel.hours.unit
        if wholeHour {
            // The hour's set holds what the fold has written of it, which may run ahead of the watermark
            // this replica last read (and, during a minute's fold, hold part of that minute): a bound on
            // the hour's folded minutes, not a count. The minutes after the watermark, the current one
            // included, count through their own sets, whole.
            let current = BucketLevel.minutes.unitStart(window.now)
            let foldedEnd = min(folded, current)
            if foldedEnd > hour {
                let pieces = window.pieces.filter { $0.first >= hour && $0.first < foldedEnd }.map { piece in
                    // A minute-level piece may run on into the minutes counted through their own sets.
                    WindowPlan.Piece(level: piece.level, sliceStart: piece.sliceStart, first: piece.first, last: min(piece.last, foldedEnd - piece.level.unit))
                }
                edges.append(Edge(set: Set(level: .hours, unitStart: hour), pieces: pieces))
            }
            whole += stride(from: max(hour, foldedEnd), through: current, by: Int(BucketLevel.minutes.unit)).map { Set(level: .minutes, unitStart: $0) }
        }
        // The pieces below the hour level, by the hour they lie in.
        var cutHours: [(hour: Int64, pieces: [WindowPlan.Piece])] = []
        for piece in window.pieces where !(wholeHour && piece.first >= hour) {
            if piece.level == .hours {
                whole += stride(from: piece.first, through: piece.last, by: Int(BucketLevel.hours.unit)).map { Set(level: .hours, unitStart: $0) }
            } else if let last = cutHours.last, last.hour == BucketLevel.hours.unitStart(piece.first) {
                cutHours[cutHours.count - 1].pieces.append(piece)
            } else {
                cutHours.append((BucketLevel.hours.unitStart(piece.first), [piece]))
            }
        }
        for (hourStart, pieces) in cutHours {
            var minuteWhole: [Set] = []
            var minuteEdges: [Edge] = []
            // Of the minutes the fold has not reached: their sets whatever happens below.
            var unfoldedWhole: [Set] = []
            var unfoldedEdges: [Edge] = []
            for piece in pieces {
                if !isFolded(piece) {
                    if piece.first == piece.sliceStart && (piece.last == piece.sliceStart + BucketLevel.seconds.span - 1 || (live && piece.last == window.now)) {
                        unfoldedWhole.append(Set(level: .minutes, unitStart: piece.sliceStart))
                    } else {
                        unfoldedEdges.append(Edge(set: Set(level: .minutes, unitStart: piece.sliceStart), pieces: [piece]))
                    }
                    continue
                }
                if piece.level == .minutes {
                    minuteWhole += stride(from: piece.first, through: piece.last, by: Int(BucketLevel.minutes.unit)).map { Set(level: .minutes, unitStart: $0) }
                } else if piece.first == piece.sliceStart && piece.last == piece.sliceStart + BucketLevel.seconds.span - 1 {
                    // A whole minute the fold has not reached yet, read from its seconds: its set is exact.
                    minuteWhole.append(Set(level: .minutes, unitStart: piece.sliceStart))
                } else if live && piece.last == window.now && piece.first == piece.sliceStart {
                    minuteWhole.append(Set(level: .minutes, unitStart: piece.sliceStart))
                } else {
                    minuteEdges.append(Edge(set: Set(level: .minutes, unitStart: piece.sliceStart), pieces: [piece]))
                }
            }
            if minuteWhole.count > Self.maxMinuteSets {
                edges.append(Edge(set: Set(level: .hours, unitStart: hourStart), pieces: pieces.filter(isFolded)))
            } else {
                whole += minuteWhole
                edges += minuteEdges
            }
            whole += unfoldedWhole
            edges += unfoldedEdges
        }
        self.whole = whole
        self.edges = edges
    }
}
