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

        /// What every answer of a route pages may call carries, `Origin` or not (the Fetch standard's
        /// advice on CORS and HTTP caches): with a list, whether and which `Access-Control-Allow-Origin`
        /// an answer gets depends on `Origin`, so `Vary: Origin` keeps a shared cache from giving one
        /// page's answer to another; with `*`, the same `Access-Control-Allow-Origin: *` everywhere.
        var headersOnEveryAnswer: HTTPFields {
            switch self {
            case .none: [:]
            case .any: [.accessControlAllowOrigin: "*"]
            case .exactly: [.vary: "Origin"]
            }
        }

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
    /// Distinct counters under each public prefix that anonymous clients may count per minute, per
    /// replica (`PublicCounterQuota`).
    var publicCountersPerMinute = 300

    /// The origins whose pages may call `route` (none for a route no page on another origin may call).
    func origins(for route: Route?) -> Origins {
        switch route?.crossOrigin {
        case .count: self.countOrigins
        case .read: self.readOrigins
        case nil: .none
        }
    }

    /// Whether a hit from this request is skipped: the operator respects Do-Not-Track, the browser
    /// sends `DNT: 1` or `Sec-GPC: 1`, and the request does not carry the write token (a client with it
    /// is not a tracked reader; any other `Authorization`, a wrong token or another scheme, does not
    /// count, or a header would be all it took to switch the preference off).
    func doesNotTrack(_ request: Request, tokens: AccessTokens) -> Bool {
        self.doesNotTrack(request.headers, tokens: tokens)
    }

    func doesNotTrack(_ headers: HTTPFields, tokens: AccessTokens) -> Bool {
        self.respectsDoNotTrack && (headers[.dnt] == "1" || headers[.secGPC] == "1") && !tokens.carriesWriteToken(headers)
    }
}

extension HTTPField.Name {
    static let dnt = HTTPField.Name("DNT")!
    static let secGPC = HTTPField.Name("Sec-GPC")!
}
