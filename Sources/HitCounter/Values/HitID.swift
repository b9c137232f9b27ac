/// A client's id for one hit, such as a request id: a given `(key, id)` is counted once within the
/// store's dedup period, however many replicas receive it and however often it is retried.
public struct HitID: ByteName {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The bytes in one call: the synthesized hash feeds them to the hasher one at a time, which made
    /// dictionary lookups the largest cost of a `/top` read over many candidates (measured with perf).
    public func hash(into hasher: inout Hasher) {
        self.bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
