import Foundation
import NIOCore

/// The bytes of every request a run may send to one target, prepared before it starts.
///
/// A request is a fixed head, then the key (for `hit` and `hits`), then a fixed tail:
/// `POST /hit?key=` + `k3` + `&count=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 0\r\n\r\n`.
/// Writing one is three copies into a buffer; nothing is formatted per request except the key number.
struct RequestTemplates {
    // ByteBuffers rather than byte arrays: appending one is a plain copy, with no generic sequence code.
    private struct Template {
        let head: ByteBuffer
        /// One per `--range` for `hits`, `series` and `top`; one otherwise.
        let tails: [ByteBuffer]
        let usesKey: Bool
        /// `&id=` and 16 random hex digits after the key (`--ids`): unique in a run, as ids go.
        var addsID = false
    }

    private enum Keys {
        case single(ByteBuffer)
        case numbered(prefix: ByteBuffer, count: UInt64)
    }

    /// Hits per `POST /hit/batch`, and how many different bodies a run sends (each with keys drawn
    /// from the key set once, before the run).
    static let batchHits = 100
    static let batchBodies = 64

    /// Indexed like `RequestMix.entries`.
    private let templates: [Template]
    private let keys: Keys

    init(target: LoadTarget, mix: RequestMix, keys: KeySet, ranges: [Int], count: Int, ids: Bool = false) {
        let headers = " HTTP/1.1\r\nHost: \(target.hostHeader)\r\n"
        self.templates = mix.entries.map { entry in
            let path = target.pathPrefix + entry.operation.path
            switch entry.operation {
            case .hit:
                return Template(
                    head: ByteBuffer(string: "POST \(path)?key="),
                    tails: [ByteBuffer(string: "&count=\(count)\(headers)Content-Length: 0\r\n\r\n")],
                    usesKey: true,
                    addsID: ids
                )
            case .hits:
                return Template(
                    head: ByteBuffer(string: "GET \(path)?key="),
                    tails: ranges.map { ByteBuffer(string: "&range=\($0)\(headers)\r\n") },
                    usesKey: true
                )
            case .series:
                return Template(
                    head: ByteBuffer(string: "GET \(path)?key="),
                    tails: ranges.map { ByteBuffer(string: "&range=\($0)&step=\(max(60, ($0 + 1439) / 1440))\(headers)\r\n") },
                    usesKey: true
                )
            case .batch:
                // Whole requests, prepared once: the body's keys are not drawn per request.
                var random = SplitMix64(seed: 0x5EED)
                let requests = (0..<Self.batchBodies).map { _ in
                    let hits = (0..<Self.batchHits).map { _ in
                        #"{"key":"# + Self.jsonQuoted(keys.name(random.next())) + #","count":\#(count)}"#
                    }
                    let body = "[" + hits.joined(separator: ",") + "]"
                    return ByteBuffer(string: "POST \(path)\(headers)Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                }
                return Template(head: ByteBuffer(), tails: requests, usesKey: false)
            case .top:
                return Template(head: ByteBuffer(), tails: ranges.map { ByteBuffer(string: "GET \(path)?range=\($0)\(headers)\r\n") }, usesKey: false)
            case .healthz, .readyz:
                return Template(head: ByteBuffer(string: "GET \(path)\(headers)\r\n"), tails: [ByteBuffer()], usesKey: false)
            }
        }
        switch keys {
        case .single(let key): self.keys = .single(ByteBuffer(bytes: Self.percentEncoded(key)))
        case .numbered(let prefix, let count): self.keys = .numbered(prefix: ByteBuffer(bytes: Self.percentEncoded(prefix)), count: UInt64(count))
        }
    }

    /// Appends one request of mix entry `entry` to `buffer`, with key number `key` (or one chosen by
    /// `random`) and a range chosen by `random`.
    @inline(__always)
    func write(entry: Int, key: UInt64? = nil, random: inout SplitMix64, into buffer: inout ByteBuffer) {
        let template = self.templates[entry]
        buffer.writeImmutableBuffer(template.head)
        if template.usesKey {
            switch self.keys {
            case .single(let key):
                buffer.writeImmutableBuffer(key)
            case .numbered(let prefix, let count):
                buffer.writeImmutableBuffer(prefix)
                // A short decimal string is stored inline: no allocation.
                buffer.writeString(String((key ?? random.next()) % count))
            }
        }
        if template.addsID {
            buffer.writeStaticString("&id=")
            let id = random.next()
            for shift in stride(from: 60, through: 0, by: -4) { buffer.writeInteger(Self.hexDigits[Int(id >> UInt64(shift) & 0xF)]) }
        }
        let tails = template.tails
        buffer.writeImmutableBuffer(tails.count == 1 ? tails[0] : tails[Int(random.next() % UInt64(tails.count))])
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `text` as a JSON string.
    static func jsonQuoted(_ text: String) -> String {
        var quoted = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case _ where scalar.value < 0x20: quoted += String(format: "\\u%04x", scalar.value)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }

    /// The key as a query value: everything but unreserved characters as %XX.
    static func percentEncoded(_ text: String) -> [UInt8] {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                bytes.append(byte)
            default:
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return bytes
    }
}
