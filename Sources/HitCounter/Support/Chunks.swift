extension Array {
    /// The elements in order, in arrays of `size` (the last may be shorter): for splitting work into
    /// Redis calls short enough not to hold Redis up.
    func chunks(of size: Int) -> [[Element]] {
        stride(from: 0, to: self.count, by: size).map { Array(self[$0..<Swift.min($0 + size, self.count)]) }
    }
}
