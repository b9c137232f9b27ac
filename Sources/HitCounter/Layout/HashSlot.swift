/// Redis Cluster's hash slot of a key (docs/cluster.md): CRC16 (XMODEM) of the key, or of its hash tag
/// when it has one, modulo 16384. The hash tag is what lies between the first `{` and the first `}`
/// after it, when that is not empty; `KeySchema` puts every key of one counter under the tag
/// `{<escaped key>}`, so a counter's keys share one slot.
public enum HashSlot {
    /// The slots of a cluster: 0 to 16383.
    public static let count = 16_384

    public static func of(_ key: some Collection<UInt8>) -> Int {
        Int(Self.crc16(Self.hashed(key)) % UInt16(Self.count))
    }

    /// The bytes the slot is computed from: the hash tag, or the whole key.
    static func hashed<Key: Collection<UInt8>>(_ key: Key) -> Key.SubSequence {
        if let open = key.firstIndex(of: UInt8(ascii: "{")) {
            let afterOpen = key.index(after: open)
            if let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen {
                return key[afterOpen..<close]
            }
        }
        return key[...]
    }

    /// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis computes it.
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ Self.table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
