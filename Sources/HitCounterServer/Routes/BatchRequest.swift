import Foundation
import HitCounter
import Hummingbird

/// A checked `POST /hit/batch`: a JSON array of up to `maxHits` hits, each an object as `POST /hit`
/// takes (`key`, `count`, `id`, `callback`). Every hit is checked before any is counted; a bad one is
/// a 400 that names its index (`hits[3].count must be ...`).
struct BatchRequest: Sendable {
    let hits: [HitRequest]

    /// The body one hit may take in a batch, on average: a key and an id of 200 bytes each, escaped.
    static let bytesPerHit = 1024

    init(_ request: Request, maxHits: Int, bodyTimeout: Duration, callbackURLs: Set<String>) async throws {
        if let query = request.uri.query, !query.isEmpty {
            throw RequestError(.badRequest, "POST /hit/batch takes its hits in the body, a JSON array; not in the query")
        }
        let body = try await RequestParameters.collectBody(of: request, within: bodyTimeout, upTo: maxHits * Self.bytesPerHit)
        let example = #"[{"key":"home"},{"key":"checkout","count":2,"id":"order-17"}]"#
        guard case .array(let elements)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView)) else {
            throw RequestError(.badRequest, "the request body must be a JSON array of hits, such as \(example)")
        }
        guard (1...maxHits).contains(elements.count) else {
            throw RequestError(.badRequest, "a batch holds from 1 to \(maxHits) hits; this one has \(elements.count)")
        }
        if let repeated = JSONDuplicateNames.first(in: body.readableBytesView, depth: 2) {
            throw RequestError.badParameter(repeated, "is given more than once in a hit")
        }
        self.hits = try elements.enumerated().map { index, element in
            guard case .object(let object) = element else {
                throw RequestError(.badRequest, "hits[\(index)] must be a JSON object, such as {\"key\":\"home\"}")
            }
            do {
                return try HitRequest(RequestParameters(object: object, allowed: HitRequest.parameters), callbackURLs: callbackURLs)
            } catch let error as RequestError {
                throw RequestError(error.status, "hits[\(index)].\(error.message)", headers: error.headers)
            } catch let error as HitCounterError {
                throw RequestError(.badRequest, "hits[\(index)].\(error.message)")
            }
        }
    }

    func answer(_ receipts: [HitReceipt]) -> JSONObject {
        JSONObject(["results": .array(zip(self.hits, receipts).map { hit, receipt in
            .object(["key": .string(hit.key.description), "count": .integer(hit.count), "counted": .bool(receipt.counted)])
        })])
    }
}
