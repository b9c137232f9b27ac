import Foundation
import HitCounter
import Hummingbird
import NIOCore

/// Counting and showing counts where a page cannot send headers (docs/web-counting.md):
/// `GET /count.gif` (a pixel that counts), `GET /count.js` (a script that counts its page) and
/// `GET /badge.svg` (a counter's hits as a badge for a README). Tokens cannot ride along on an image,
/// so these serve public counters (`--public-key-prefixes`), or any counter when no token is set.
struct WebRoutes: Sendable {
    let counter: HitCounter
    let tokens: AccessTokens
    let web: WebCounting
    let quota: PublicCounterQuota

    /// The 1x1 transparent GIF the pixel answers.
    static let pixel = ByteBuffer(bytes: [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x21, 0xF9, 0x04, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ])

    /// `GET /count.gif?key=...[&id=...]`: counts one hit, answers a 1x1 GIF no cache keeps (so every
    /// view reaches the service). An `id` needs the write token, as on `POST /hit`. Refusals are JSON, as everywhere. No `Origin` check: an `<img>` sends
    /// none, so whoever can load the image can count it; that is what a public counter is.
    @Sendable func countPixel(request: Request, context: BasicRequestContext) async throws -> Response {
        let hit = try HitRequest(RequestParameters(query: request.uri.query, allowed: ["key", "id"]), callbackURLs: [])
        try self.tokens.authorizeHit(request, key: hit.key, count: 1, id: hit.id, callback: nil, quota: self.quota)
        // HEAD (a link checker, a proxy) asks about the image; only GET counts a view.
        if request.method == .get, !self.web.doesNotTrack(request, tokens: self.tokens) {
            try await self.counter.hit(key: hit.key, count: 1, id: hit.id)
        }
        return Response(
            status: .ok, headers: [.contentType: "image/gif", .cacheControl: "no-store, max-age=0"], body: .init(byteBuffer: Self.pixel)
        )
    }

    /// `GET /count.js`: the script a page includes to count itself (`CountScript`).
    @Sendable func countScript(request: Request, context: BasicRequestContext) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "public, max-age=300", .init("X-Content-Type-Options")!: "nosniff"],
            body: .init(byteBuffer: ByteBuffer(string: CountScript(respectsDoNotTrack: self.web.respectsDoNotTrack).source))
        )
    }

    /// `GET /badge.svg?key=...[&range=...][&label=...][&unique=true]`: `label | hits` over the window
    /// (the max range by default), revalidated on every view (`no-cache` with an `ETag`, so an
    /// unchanged count is a 304 without a body).
    @Sendable func badge(request: Request, context: BasicRequestContext) async throws -> Response {
        let parameters = try RequestParameters(query: request.uri.query, allowed: ["key", "range", "label", "unique"])
        let key = try parameters.key()
        let range = try parameters.integer("range", in: 1...self.counter.maxRange, default: self.counter.maxRange)
        let unique = try parameters.boolean("unique")
        let label = Badge.displayed(try parameters.string("label", default: "views"))
        guard !label.isEmpty, label.unicodeScalars.count <= Badge.maxLabel else {
            throw RequestError.badParameter("label", "must be from 1 to \(Badge.maxLabel) characters (Unicode scalars), bidirectional controls not counted")
        }
        try self.tokens.authorize(.read, request, keys: [key])
        let hits = try await self.counter.hits(key: key, range: range, unique: unique)
        let svg = Badge(label: label, value: Badge.grouped(hits)).svg
        let tag = "\"\(Self.fingerprint(svg))\""
        var headers: HTTPFields = [.cacheControl: "no-cache", .eTag: tag]
        if Self.matches(request.headers[.ifNoneMatch], tag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "image/svg+xml; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: svg)))
    }

    /// Whether an `If-None-Match` value names `tag`: `*`, or a list with the tag in it, compared weakly
    /// (RFC 9110 13.1.2: `W/"x"` matches `"x"`, as a proxy that compressed the badge sends it back).
    static func matches(_ ifNoneMatch: String?, _ tag: String) -> Bool {
        guard let ifNoneMatch else { return false }
        if ifNoneMatch.trimmingCharacters(in: .whitespaces) == "*" { return true }
        return ifNoneMatch.split(separator: ",").contains { candidate in
            let trimmed = candidate.trimmingCharacters(in: .whitespaces)
            return (trimmed.hasPrefix("W/") ? String(trimmed.dropFirst(2)) : trimmed) == tag
        }
    }

    /// FNV-1a of the badge, in hex: enough to tell two badges apart.
    private static func fingerprint(_ text: String) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return String(hash, radix: 16)
    }
}
