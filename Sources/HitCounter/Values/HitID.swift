/// A client's id for one hit, such as a request id: a given `(key, id)` is counted once within the
/// store's dedup period, however many replicas receive it and however often it is retried.
public struct HitID: ByteName {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }
}
