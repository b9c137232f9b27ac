/// What one request asks of the service.
enum Operation: String, CaseIterable, Sendable {
    /// `POST /hit?key=K&count=C`
    case hit
    /// `GET /hits?key=K&range=R`
    case hits
    /// `GET /healthz`: no counter work, so a run of these measures the HTTP ceiling.
    case healthz
    /// `GET /readyz`: also pings the store.
    case readyz

    var method: String { self == .hit ? "POST" : "GET" }
    var path: String { "/" + self.rawValue }
    var usesKey: Bool { self == .hit || self == .hits }
}
