/// A counter's hits over a window `now - range < t <= now`, in steps of `step` seconds aligned to
/// multiples of `step` (UTC epoch), oldest first, every step present (zero when it had no hits).
public struct HitSeries: Sendable, Hashable {
    /// One step's hits.
    public struct Point: Sendable, Hashable {
        /// The step's first second (a multiple of the step).
        public let start: Int64
        public let hits: Int64
        /// True when the window cuts the step (the first and last points may hold fewer seconds).
        public let partial: Bool

        public init(start: Int64, hits: Int64, partial: Bool) {
            self.start = start
            self.hits = hits
            self.partial = partial
        }
    }

    /// The second the window ends at (Redis's clock, or the driven second).
    public let now: Int64
    public let range: Int
    public let step: Int
    public let points: [Point]

    public init(now: Int64, range: Int, step: Int, points: [Point]) {
        self.now = now
        self.range = range
        self.step = step
        self.points = points
    }

    /// The window's hits: the sum of the points, which is what `hits` answers for the same window.
    public var total: Int64 { self.points.reduce(0) { $0 + $1.hits } }
}
