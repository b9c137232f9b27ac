import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import HitCounterLoad

extension ServerProcess {
    /// A `HitCounterServer --store memory` that names itself `name` in `X-Served-By`.
    static func memory(named name: String) async throws -> ServerProcess {
        try await ServerProcess(["--store", "memory", "--server-name", name, "--log-level", "warning"])
    }

    var url: String { "http://127.0.0.1:\(self.port)" }

    /// `GET /hits?key=KEY&range=RANGE` on this server: the count it holds (with `unique`, of distinct ids).
    func hits(key: String, range: Int, unique: Bool = false) async throws -> Int {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "\(self.url)/hits?key=\(key)&range=\(range)&unique=\(unique)")!)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try #require(object?[unique ? "unique" : "hits"] as? Int)
    }
}

/// Runs the engine as the command would, from command-line words.
func load(_ arguments: [String]) async throws -> LoadReport {
    try await LoadRun(LoadOptions.parse(arguments)).run()
}

extension LoadReport {
    /// Every request is accounted for exactly once.
    var isAccounted: Bool {
        self.requests == self.successes + self.errors
            && self.errors == self.errorsByStatus.values.reduce(0, +) + self.errorsByKind.values.reduce(0, +)
            && self.instances.map(\.requests).reduce(0, +) == self.answered
            && self.operations.map(\.requests).reduce(0, +) <= self.requests
    }

    func operation(_ name: String) -> OperationCounts? {
        self.operations.first { $0.operation == name }
    }
}
