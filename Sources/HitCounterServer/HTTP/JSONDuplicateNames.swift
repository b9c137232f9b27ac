import Foundation

/// Finds a name given twice in a JSON object. JSON parsers keep one of the two silently; a request
/// that says two things is refused instead, as a repeated query parameter is.
enum JSONDuplicateNames {
    /// The first name repeated inside one object at `depth` of `json`, which must already have parsed:
    /// depth 1 is a top-level object (`POST /hit`), depth 2 the objects of a top-level array (a batch).
    static func first(in json: some Collection<UInt8>, depth objectDepth: Int = 1) -> String? {
        var depth = 0
        var inString = false
        var escaped = false
        var stringStart = json.startIndex
        var lastString: String?
        var names = Set<String>()
        var index = json.startIndex
        while index != json.endIndex {
            let byte = json[index]
            defer { index = json.index(after: index) }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    // The name as JSON decodes it, escapes and all (`"k\u0065y"` is `key`).
                    let token = [UInt8(ascii: "[")] + json[stringStart...index] + [UInt8(ascii: "]")]
                    lastString = (try? JSONDecoder().decode([String].self, from: Data(token)))?.first
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                stringStart = index
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                // Each object has names of its own.
                if byte == UInt8(ascii: "{"), depth == objectDepth { names.removeAll() }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ":") where depth == objectDepth:
                if let name = lastString, !names.insert(name).inserted { return name }
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                continue
            default:
                break
            }
            lastString = byte == UInt8(ascii: "\"") ? lastString : nil
        }
        return nil
    }
}
