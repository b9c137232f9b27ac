/// What one request asks of the service.
enum Operation: String, CaseIterable, Sendable {
    /// `POST /hit?key=K&count=C`
    case hit
    /// `POST /hit/batch` with `RequestTemplates.batchHits` hits of count C, on keys of the key set.
    case batch
    /// `GET /hits?key=K&range=R`
    case hits
    /// `GET /series?key=K&range=R&step=S`: a minute a point (more when R is over a day: at most 1440 points).
    case series
    /// `GET /top?range=R`: the ten keys with the most hits.
    case top
    /// `GET /healthz`: no counter work, so a run of these measures the HTTP ceiling.
    case healthz
    /// `GET /readyz`: also pings the store.
    case readyz

    var method: String { self == .hit || self == .batch ? "POST" : "GET" }
    var path: String { self == .batch ? "/hit/batch" : "/" + self.rawValue }
    /// The hits one request of it counts.
    var hits: Int { self == .batch ? RequestTemplates.batchHits : self == .hit ? 1 : 0 }
    var usesKey: Bool { self == .hit || self == .hits || self == .series }
}
