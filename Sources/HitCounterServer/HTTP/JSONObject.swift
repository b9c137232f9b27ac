import HitCounter
import Hummingbird

/// A JSON object response whose fields keep the order they are written in, as the API documents them
/// (`{"key":"default","count":1}`); `JSONEncoder` would order them by its own rules.
struct JSONObject: ResponseGenerator {
    /// The object's JSON, with its newline.
    private(set) var text: String

    init(_ fields: KeyValuePairs<String, JSONField>) {
        self.text = JSONField.object(fields).text + "\n"
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: self.text))
        )
    }
}

/// A field value in a `JSONObject`.
struct JSONField: ExpressibleByStringLiteral {
    let text: String

    static func string(_ value: String) -> JSONField { JSONField(text: JSONString.quoted(value)) }
    static func integer(_ value: some BinaryInteger) -> JSONField { JSONField(text: String(value)) }
    static func bool(_ value: Bool) -> JSONField { JSONField(text: value ? "true" : "false") }
    static let null = JSONField(text: "null")

    static func array(_ elements: [JSONField]) -> JSONField {
        JSONField(text: "[" + elements.map(\.text).joined(separator: ",") + "]")
    }

    static func object(_ fields: KeyValuePairs<String, JSONField>) -> JSONField {
        var text = "{"
        for (index, (name, value)) in fields.enumerated() {
            if index > 0 { text += "," }
            text += JSONString.quoted(name) + ":" + value.text
        }
        return JSONField(text: text + "}")
    }

    private init(text: String) { self.text = text }
    init(stringLiteral value: String) { self = .string(value) }
}
