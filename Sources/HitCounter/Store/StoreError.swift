/// A failure of the store itself, not of the caller's arguments: what a caller needs to know of any
/// store's errors without knowing which store it is (the HTTP layer answers 503 with `Retry-After`
/// when `isRetriable`, and hides the message from clients).
public protocol StoreError: Error, CustomStringConvertible {
    /// The store is unavailable, slow, or refusing for now: the same call may succeed later.
    var isRetriable: Bool { get }
}

extension RedisError: StoreError {}
