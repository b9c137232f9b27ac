/// JSON string quoting: the one used for the service's answers, its JSON log lines and the roll-up
/// events. Slashes are not escaped (JSON allows both, and `"/hit"` reads better than `"\/hit"`).
public enum JSONString {
    /// A JSON string: quotes, backslashes and control characters escaped; everything else as is.
    public static func quoted(_ text: String) -> String {
        // Most keys need no escape: one copy, no walk over the scalars.
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
        var result = "\""
        result.unicodeScalars.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
