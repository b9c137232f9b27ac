import HTTPTypes
import Hummingbird

/// How pages on other sites may count and read (docs/web-counting.md): which origins get CORS, whether
/// anonymous hits from browsers that ask not to be tracked are skipped, and how large a batch may be.
/// Which counters anyone may count without a token is an access rule: `AccessTokens.publicKeyPrefixes`.
///
/// Writes and reads have separate origin lists, both empty by default: a page on a site allowed to
/// count cannot read counts unless the operator allows its origin for reads too.
struct WebCounting: Sendable {
    /// Which origins a list lets in.
    enum Origins: Sendable, Equatable {
        case none
        case any
        case exactly(Set<String>)

        func allows(_ origin: String) -> Bool {
            switch self {
            case .none: false
            case .any: true
            case .exactly(let origins): origins.contains(origin)
            }
        }
    }

    /// Origins whose pages may count: `POST /hit` (a beacon) and `POST /hit/batch`.
    var countOrigins = Origins.none
    /// Origins whose pages may read: `GET /hits`, `/series`, `/top`, `/stream`, `/badge.svg`.
    var readOrigins = Origins.none
    /// Skip hits without a token from browsers that send `DNT: 1` or `Sec-GPC: 1` (and `count.js` does not send them).
    var respectsDoNotTrack = false
    /// Hits one `POST /hit/batch` may carry.
    var maxBatch = 100

    /// Whether a hit from this request is skipped: the operator respects Do-Not-Track, the browser
    /// sends `DNT: 1` or `Sec-GPC: 1`, and the request carries no token (a client with one is not a
    /// tracked reader, and with no write token set, a browser's request carries none).
    func doesNotTrack(_ request: Request) -> Bool {
        self.doesNotTrack(request.headers)
    }

    func doesNotTrack(_ headers: HTTPFields) -> Bool {
        self.respectsDoNotTrack && headers[.authorization] == nil && (headers[.dnt] == "1" || headers[.secGPC] == "1")
    }
}

extension HTTPField.Name {
    static let dnt = HTTPField.Name("DNT")!
    static let secGPC = HTTPField.Name("Sec-GPC")!
}
