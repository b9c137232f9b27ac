/// What one `hit` did.
public struct HitReceipt: Sendable, Hashable {
    /// The second (epoch seconds) the hit was counted at, or would have been.
    public let second: Int64
    /// False when the hit's id was already counted within the dedup period: nothing was added.
    public let counted: Bool

    public init(second: Int64, counted: Bool) {
        self.second = second
        self.counted = counted
    }
}
