/// One hit of a batch (`HitCounter.hit(_:)`): what one `POST /hit` carries.
public struct Hit: Sendable, Hashable {
    public let key: CounterKey
    public let count: Int
    public let id: HitID?
    /// A roll-up destination, as for a single hit.
    public let callback: String?

    public init(key: CounterKey = .default, count: Int = 1, id: HitID? = nil, callback: String? = nil) {
        self.key = key
        self.count = count
        self.id = id
        self.callback = callback
    }
}
