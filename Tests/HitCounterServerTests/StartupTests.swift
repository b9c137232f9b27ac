import Foundation
import HitCounter
import ServiceLifecycle
import TestSupport
import Testing

@testable import HitCounterServer

/// Starting and stopping, as a new user meets them: a mistake is one line naming the flag, `--help`
/// lists every setting, and a stop closes Redis.
@Suite struct StartupTests {
    /// Runs the binary with `arguments` until it exits; its exit code and everything it printed.
    func run(_ arguments: [String]) async throws -> (code: Int32?, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("startup-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let process = try ChildProcess(ServerProcess.binary, arguments, logFile: log)
        #expect(await process.wait(timeout: .seconds(10)) != nil, "\(arguments) should exit")
        return (process.exitCode, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test func everyStartUpMistakeIsOneLineNamingWhatToFix() async throws {
        let busy = try await ServerProcess(["--store", "memory"])
        for (arguments, line) in [
            (["--redis-timeout", "-1"], "--redis-timeout / HITCOUNTER_REDIS_TIMEOUT must be a number of seconds above 0 and up to 60, such as 0.5"),
            (["--hostname", "999.1.1.1"], "--hostname / HITCOUNTER_HOSTNAME must be an IPv4 or IPv6 address or a host name, such as 127.0.0.1 or 0.0.0.0"),
            (["--store", "memory", "--port", "\(busy.port)"], "--port / HITCOUNTER_PORT: 127.0.0.1:\(busy.port) is already in use"),
            (["--store", "memory", "--hostname", "192.0.2.1", "--port", "0"], "--hostname / HITCOUNTER_HOSTNAME: 192.0.2.1 is not an address of this machine"),
            (["--prot", "9000"], "unknown option --prot; see --help"),
            (["--port"], "--port needs a value; see --help"),
            (["9000"], "unexpected argument 9000; see --help"),
            (["--write-token", "secret-secret-secret"], "--write-token is read from HITCOUNTER_WRITE_TOKEN only, so it never shows in ps"),
            (["--redis-tls-ca", "/etc/hostname"], "--redis-tls-ca / HITCOUNTER_REDIS_TLS_CA needs a rediss:// Redis URL (--redis-url / HITCOUNTER_REDIS_URL)"),
            (["--redis-url", "rediss://cache.example", "--redis-tls-ca", "/nonexistent/ca.crt"], "--redis-tls-ca / HITCOUNTER_REDIS_TLS_CA names a file that cannot be read"),
            (["--redis-url", "rediss://cache.example", "--redis-tls-cert", "/etc/hostname"], "--redis-tls-cert / HITCOUNTER_REDIS_TLS_CERT needs --redis-tls-key / HITCOUNTER_REDIS_TLS_KEY too"),
            (["--redis-url", "rediss://cache.example", "--redis-tls-insecure", "yes"], "--redis-tls-insecure / HITCOUNTER_REDIS_TLS_INSECURE must be true or false"),
        ] {
            let result = try await self.run(arguments)
            #expect(result.code == 1, "\(arguments)")
            // Besides log records (JSON objects, such as "starting"), one line: the error.
            let said = result.output.split(separator: "\n").filter { !$0.hasPrefix("{") }
            #expect(said == ["Error: \(line)"], "\(arguments): \(result.output)")
        }
    }

    @Test func helpListsEverySettingWithItsVariable() async throws {
        let result = try await self.run(["--help"])
        #expect(result.code == 0)
        for setting in Setting.all {
            #expect(result.output.contains(setting.environmentVariable), "\(setting.name)")
            #expect(setting.isSecret || result.output.contains(setting.flag + " "), "\(setting.name)")
        }
    }

    /// The README's configuration table is the settings' list: every setting is there with its flag
    /// and variable, and nothing else is.
    @Test func theReadmeListsExactlyTheSettings() throws {
        let readme = try String(contentsOfFile: #filePath.replacingOccurrences(of: "Tests/HitCounterServerTests/StartupTests.swift", with: "README.md"), encoding: .utf8)
        let rows = readme.split(separator: "\n").filter { $0.hasPrefix("| `--") || $0.hasPrefix("| | `HITCOUNTER_") }
        let documented = Set(rows.compactMap { row in row.split(separator: "`").dropFirst().first { $0.hasPrefix("HITCOUNTER_") }.map(String.init) })
        #expect(documented == Set(Setting.all.map(\.environmentVariable)))
        for setting in Setting.all where !setting.isSecret {
            #expect(rows.contains { $0.hasPrefix("| `\(setting.flag)` | `\(setting.environmentVariable)` |") }, "\(setting.flag)")
        }
    }

    @Test func theMemoryStoreLogsNoRedisAddress() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        let starting = try #require(try server.jsonLog().first { $0["message"] as? String == "starting" })
        #expect(starting["redis.address"] == nil)
        #expect(starting["store"] as? String == "memory")
    }

    /// The store behind `any HitStore` closes its Redis connection when the service stops (the
    /// protocol's `shutdown` was once only an extension, so this called an empty default).
    @Test func stoppingClosesTheRedisConnection() async throws {
        try await withRedisServer { redis in
            let store: any HitStore = RedisHitStore(configuration: redis.configuration)
            try await store.ping()
            func clients() throws -> Int {
                let info = try redis.cli(["INFO", "clients"])
                return Int(info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("connected_clients:") }?.split(separator: ":").last ?? "") ?? -1
            }
            #expect(try clients() == 2, "the store's connection and redis-cli's")
            let group = ServiceGroup(configuration: .init(services: [StoreService(store: store)], logger: .init(label: "test")))
            async let running: Void = group.run()
            await group.triggerGracefulShutdown()
            try await running
            var remaining = try clients()
            for _ in 0..<100 where remaining != 1 {
                try await Task.sleep(for: .milliseconds(20))
                remaining = try clients()
            }
            #expect(remaining == 1, "only redis-cli's")
        }
    }
}
