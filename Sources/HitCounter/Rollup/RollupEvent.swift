/// One counter's closed minute, as the sinks receive it:
/// `{"key":"home","minute":1763708400,"hits":12,"unique":7,"emittedBy":"pod-a"}`.
public struct RollupEvent: Sendable, Hashable {
    public let key: CounterKey
    /// The minute's first second (epoch seconds, UTC).
    public let minute: Int64
    public let hits: Int64
    /// Distinct ids counted on the key in the minute.
    public let unique: Int64
    /// The replica that emitted it.
    public let emittedBy: String
    /// Callbacks named by the minute's hits on the key: the callback sinks deliver only to these.
    public let callbacks: [String]

    public init(key: CounterKey, minute: Int64, hits: Int64, unique: Int64, emittedBy: String, callbacks: [String] = []) {
        self.key = key
        self.minute = minute
        self.hits = hits
        self.unique = unique
        self.emittedBy = emittedBy
        self.callbacks = callbacks
    }

    /// The event as one line of JSON, fields in the documented order.
    public var json: String {
        #"{"key":"# + JSONString.quoted(self.key.description) + #","minute":\#(self.minute),"hits":\#(self.hits),"unique":\#(self.unique),"emittedBy":"#
            + JSONString.quoted(self.emittedBy) + "}"
    }

    /// A stable id for the event, for consumers that want to drop a rare duplicate (docs/exactly-once.md):
    /// `<minute>:<key, percent-encoded>`, safe in a header.
    public var id: String {
        var id = "\(self.minute):"
        for byte in self.key.bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                id.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                id += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return id
    }
}
