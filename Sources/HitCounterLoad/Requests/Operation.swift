/// What one request asks of the service.
enum Operation: String, CaseIterable, Sendable {
    /// `POST /hit?key=K&count=C`
    case hit
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

    var method: String { self == .hit ? "POST" : "GET" }
    var path: String { "/" + self.rawValue }
    var usesKey: Bool { self == .hit || self == .hits || self == .series }
}
