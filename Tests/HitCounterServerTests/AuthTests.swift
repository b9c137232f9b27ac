import Configuration
import Foundation
import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import HitCounterServer

/// Optional bearer tokens: one for writes, one for reads; probes stay open.
@Suite struct AuthTests {
    static let write = "write-token-0123456789"
    static let read = "read-token-0123456789"

    func app() throws -> some ApplicationProtocol {
        try testApplication { $0.tokens = AccessTokens(write: Array(Self.write.utf8), read: Array(Self.read.utf8)) }
    }

    @Test func writesAndReadsNeedTheirTokens() async throws {
        try await self.app().test(.router) { client in
            try await client.execute(uri: "/hit", method: .post) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="hitcounter""#)
                #expect(response.text == #"{"error":{"message":"this route needs a bearer token"}}"# + "\n")
            }
            try await client.execute(uri: "/hit", method: .post, headers: [.authorization: "Bearer \(Self.read)"]) {
                #expect($0.status == .unauthorized, "the read token does not open writes")
                #expect($0.text == #"{"error":{"message":"the bearer token is not valid for this route"}}"# + "\n")
            }
            try await client.execute(uri: "/hit", method: .post, headers: [.authorization: "Bearer \(Self.write)x"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/hit", method: .post, headers: [.authorization: Self.write]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/hit", method: .post, headers: [.authorization: "Bearer \(Self.write)"]) { #expect($0.status == .ok) }

            try await client.execute(uri: "/hits", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/hits", method: .get, headers: [.authorization: "Bearer \(Self.read)"]) {
                #expect($0.text == #"{"key":"default","range":60,"hits":1}"# + "\n")
            }
            try await client.execute(uri: "/hits", method: .get, headers: [.authorization: "Bearer \(Self.write)"]) { #expect($0.status == .ok) }
            for open in ["/healthz", "/readyz"] {
                try await client.execute(uri: open, method: .get) { #expect($0.status == .ok) }
            }
        }
    }

    @Test func withoutTokensEverythingIsOpen() async throws {
        try await testApplication().test(.router) { client in
            try await client.execute(uri: "/hit", method: .post) { #expect($0.status == .ok) }
            try await client.execute(uri: "/hits", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func comparesWholeTokens() {
        #expect(AccessTokens.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!AccessTokens.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!AccessTokens.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!AccessTokens.constantTimeEqual([], Array("a".utf8)))
    }

    @Test func tokensComeFromTheEnvironmentOrAFileAndAreNeverShown() throws {
        func settings(_ environment: [String: String]) throws -> ServerSettings {
            try ServerSettings(config: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)))
        }
        #expect(try settings(["HITCOUNTER_WRITE_TOKEN": Self.write]).tokens.write == Array(Self.write.utf8))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        try (Self.read + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try settings(["HITCOUNTER_READ_TOKEN_FILE": file.path]).tokens.read == Array(Self.read.utf8))

        let short = #expect(throws: SettingsError.self) { try settings(["HITCOUNTER_WRITE_TOKEN": "short-secret"]) }
        #expect(short?.description == "HITCOUNTER_WRITE_TOKEN must be at least 16 bytes long")
        let both = #expect(throws: SettingsError.self) { try settings(["HITCOUNTER_READ_TOKEN": Self.read, "HITCOUNTER_READ_TOKEN_FILE": file.path]) }
        #expect(both.map { !$0.description.contains(Self.read) } == true)
        let missing = #expect(throws: SettingsError.self) { try settings(["HITCOUNTER_WRITE_TOKEN_FILE": "/nonexistent/token"]) }
        #expect(missing?.description == "--write-token-file / HITCOUNTER_WRITE_TOKEN_FILE names a file that cannot be read")
    }
}
