/// The progress line, about once a second while a run goes on.
struct LoadProgress: Sendable, CustomStringConvertible {
    struct Counts: Sendable {
        var requests = 0
        var errors = 0
    }

    /// Seconds since the run started sending.
    var elapsedSeconds: Double
    /// Requests finished so far, and how many failed.
    var counts: Counts
    /// Requests finished per second since the previous line.
    var currentRate: Double

    var description: String {
        let elapsed = ReportTable.fixed(self.elapsedSeconds, 1)
        return "[\(elapsed)s] requests \(self.counts.requests)  req/s \(Int(self.currentRate.rounded()))  errors \(self.counts.errors)"
    }
}
