/// For each hash slot, a short hash tag that lands in it, so a key that belongs to no counter (a
/// minute's roll-up index, say) can be put in the slot of the counter a script writes: a script's keys
/// must share one slot (docs/cluster.md). Found once, by trying strings of up to four base-36
/// characters in order, so every process finds the same tags.
public enum SlotTags {
    /// `tags[slot]`: the first string, in that order, whose CRC16 lands in `slot`.
    public static let tags: [String] = {
        var tags = [String?](repeating: nil, count: HashSlot.count)
        var missing = HashSlot.count
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
        var candidate: [UInt8] = []
        // Odometer over 1, 2, 3, then 4 characters, until every slot has one.
        for length in 1...4 where missing > 0 {
            var digits = [Int](repeating: 0, count: length)
            while missing > 0 {
                candidate = digits.map { alphabet[$0] }
                let slot = Int(HashSlot.crc16(candidate) % UInt16(HashSlot.count))
                if tags[slot] == nil {
                    tags[slot] = String(decoding: candidate, as: UTF8.self)
                    missing -= 1
                }
                var position = length - 1
                while position >= 0 {
                    digits[position] += 1
                    if digits[position] < alphabet.count { break }
                    digits[position] = 0
                    position -= 1
                }
                if position < 0 { break }
            }
        }
        precondition(missing == 0, "four base-36 characters reach every slot")
        return tags.map { $0! }
    }()

    /// The tag for `slot`.
    public static func tag(forSlot slot: Int) -> String { Self.tags[slot] }
}
