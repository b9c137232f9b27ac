/// A badge, as SVG: `views | 1,234`, in the look of the badges READMEs show (two flat boxes, 11 px
/// Verdana). The text is escaped, and widths are estimated from Verdana's advances and then fixed
/// with `textLength`, so the badge looks the same whatever font the viewer has.
struct Badge: Sendable {
    let label: String
    let value: String

    /// The longest label, in Unicode scalars: combining marks count one each, so a label cannot stack
    /// them without end on one character.
    static let maxLabel = 64

    /// `label` without the bidirectional controls (embeddings, overrides, isolates and marks) that would
    /// make the badge show its text in an order other than the one sent.
    static func displayed(_ label: String) -> String {
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: label.unicodeScalars.filter { !Self.bidiControls.contains($0.value) })
        return String(scalars)
    }

    private static let bidiControls: Set<UInt32> = [0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069]

    var svg: String {
        let labelWidth = Self.width(of: self.label) + 10
        let valueWidth = Self.width(of: self.value) + 10
        let total = labelWidth + valueWidth
        let label = Self.escaped(self.label), value = Self.escaped(self.value)
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(total)" height="20" role="img" aria-label="\(label): \(value)">\
            <title>\(label): \(value)</title>\
            <linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>\
            <clipPath id="r"><rect width="\(total)" height="20" rx="3" fill="#fff"/></clipPath>\
            <g clip-path="url(#r)"><rect width="\(labelWidth)" height="20" fill="#555"/><rect x="\(labelWidth)" width="\(valueWidth)" height="20" fill="#4c1"/>\
            <rect width="\(total)" height="20" fill="url(#s)"/></g>\
            <g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">\
            <text x="\(labelWidth / 2)" y="14" textLength="\(labelWidth - 10)">\(label)</text>\
            <text x="\(labelWidth + valueWidth / 2)" y="14" textLength="\(valueWidth - 10)">\(value)</text></g></svg>

            """
    }

    /// `1234567` as `1,234,567`.
    static func grouped(_ number: Int64) -> String {
        let digits = String(number.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return number < 0 ? "-" + out : out
    }

    /// Text for XML: `&`, `<`, `>`, and both quotes as entities; control characters dropped.
    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0xFFFE...0xFFFF).contains(scalar.value): continue
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// About how wide `text` is in 11 px Verdana, in pixels.
    static func width(of text: String) -> Int {
        var width = 0.0
        for character in text {
            switch character {
            case "i", "l", "j", "|", "!", ".", ",", ":", ";", "'", "I": width += 3.5
            case "f", "t", "r", "(", ")", "[", "]", " ", "-": width += 4.6
            case "m", "w", "M", "W", "@", "%": width += 10.5
            case _ where character.isUppercase: width += 7.6
            case _ where character.isNumber: width += 7.0
            default: width += 6.6
            }
        }
        return Int(width.rounded(.up))
    }
}
