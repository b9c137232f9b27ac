extension Duration {
    /// `0.5`, `10`: how settings write seconds.
    var formattedSeconds: String {
        let (seconds, attoseconds) = self.components
        if attoseconds == 0 { return String(seconds) }
        return String(Double(seconds) + Double(attoseconds) / 1e18)
    }
}
