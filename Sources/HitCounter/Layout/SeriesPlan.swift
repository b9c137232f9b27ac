/// The steps of a series: for a window `now - range < t <= now` and a step `S`, every multiple of `S`
/// whose step `[kS, kS + S)` meets the window, oldest first, each with the part of it inside the window
/// as a `WindowPlan` (docs/live-view.md).
struct SeriesPlan: Sendable {
    struct Step: Sendable {
        let start: Int64
        /// The step's seconds inside the window.
        let window: WindowPlan
        let partial: Bool
    }

    let steps: [Step]

    /// - Parameter foldedBefore: the fold's watermark (`WindowPlan`).
    init(now: Int64, range: Int, step: Int, foldedBefore: Int64? = nil) {
        let step64 = Int64(step)
        let first = now - Int64(range) + 1
        var steps: [Step] = []
        var start = first.roundedDown(to: step64)
        while start <= now {
            let from = max(start, first), through = min(start + step64 - 1, now)
            steps.append(Step(start: start, window: WindowPlan(now: through, range: Int(through - from + 1), foldedBefore: foldedBefore), partial: through - from + 1 < step64))
            start += step64
        }
        self.steps = steps
    }

    /// The most points a series may have, so one read stays bounded: a day at one a minute.
    static let maxPoints = 1440

    /// The points a window of `range` seconds takes at `step`, at most: one more than `range / step`
    /// rounded up when the window cuts a step at each end.
    static func points(range: Int, step: Int) -> Int { (range + step - 1) / step }
}
