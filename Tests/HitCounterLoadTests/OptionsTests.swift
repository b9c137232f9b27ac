import NIOCore
import Testing

@testable import HitCounterLoad

/// Command-line words to checked options: what is accepted, what is refused, and the one-line reasons.
@Suite struct OptionsTests {
    @Test func defaultsToAClosedLoopOnTheDefaultKey() throws {
        let options = try LoadOptions.parse(["--requests", "10"])
        #expect(options.targets.map(\.description) == ["http://127.0.0.1:8080"])
        #expect(options.schedule == .closedLoop)
        #expect(options.requests == 10)
        #expect(options.duration == LoadOptions.maxDuration)
        #expect(options.keys == .single("default"))
        #expect(options.ranges == [60])
        #expect(options.count == 1)
        #expect(options.mix.description == "hit=80,hits=20")
        #expect(options.timeout == .seconds(5))
        #expect(options.threads == 1)
    }

    @Test func aRunMustBeBounded() {
        #expect(throws: LoadOptionsError("give --duration, --requests or both: a run must be bounded")) {
            try LoadOptions.parse(["--connections", "4"])
        }
        #expect(throws: LoadOptionsError.self) { try LoadOptions.parse(["--duration", "11m"]) }
        #expect(throws: LoadOptionsError.self) { try LoadOptions.parse(["--requests", "0"]) }
    }

    @Test(arguments: [
        ("10", TimeAmount.seconds(10)), ("10s", .seconds(10)), ("500ms", .milliseconds(500)), ("2m", .minutes(2)), ("1.5s", .milliseconds(1500)),
    ])
    func durations(text: String, amount: TimeAmount) throws {
        #expect(DurationText.parse(text) == amount)
        #expect(try LoadOptions.parse(["--duration", text]).duration == amount)
    }

    @Test(arguments: ["", "s", "-1s", "0", "10x", "ms10", "1h"])
    func badDurations(text: String) {
        #expect(DurationText.parse(text) == nil)
        // Refused on the command line too (an empty value already by the argument parser).
        #expect(throws: (any Error).self) { try LoadOptions.parse(["--duration=\(text)"]) }
    }

    @Test(arguments: ["http://127.0.0.1:8080", "http://127.9.8.7", "http://localhost:80", "http://[::1]:8080", "HTTP://LOCALHOST:1/"])
    func loopbackTargetsAreAllowed(url: String) throws {
        #expect(try LoadOptions.parse(["--url", url, "--requests", "1"]).targets.count == 1)
    }

    @Test(arguments: ["http://10.0.0.1:8080", "http://example.com", "http://[2001:db8::1]:80", "http://128.0.0.1"])
    func remoteTargetsNeedAllowRemote(url: String) throws {
        #expect(throws: LoadOptionsError.self) { try LoadOptions.parse(["--url", url, "--requests", "1"]) }
        #expect(try LoadOptions.parse(["--url", url, "--requests", "1", "--allow-remote"]).targets.count == 1)
    }

    @Test(arguments: [
        "https://127.0.0.1", "127.0.0.1:8080", "http://127.0.0.1:0", "http://127.0.0.1:x", "http://", "http://127.0.0.1/?a=1", "http://u@127.0.0.1",
    ])
    func malformedTargetsAreRefused(url: String) {
        #expect(throws: LoadOptionsError.self) { try LoadOptions.parse(["--url", url, "--requests", "1"]) }
    }

    @Test func targetsKeepTheirOrderPortAndPrefix() throws {
        let options = try LoadOptions.parse(["--url", "http://127.0.0.1:9001/", "--url", "http://[::1]:9002/api/", "--requests", "1"])
        #expect(options.targets.map(\.description) == ["http://127.0.0.1:9001", "http://[::1]:9002/api"])
        #expect(options.targets.map(\.host) == ["127.0.0.1", "::1"])
        #expect(options.targets[1].hostHeader == "[::1]:9002")
        #expect(options.targets[1].pathPrefix == "/api")
    }

    @Test func mixesAreParsedAndChecked() throws {
        let mix = try RequestMix(parsing: "hit=80, hits=20,healthz=0")
        #expect(mix.entries.map(\.operation) == [.hit, .hits])
        #expect(mix.totalWeight == 100)
        #expect(mix.pick(0) == 0 && mix.pick(79) == 0 && mix.pick(80) == 1 && mix.pick(199) == 1)
        for bad in ["hit", "hit=x", "get=1", "hit=1,hit=2", "hit=0", "hit=-1", ""] {
            #expect(throws: LoadOptionsError.self, "\(bad)") { try RequestMix(parsing: bad) }
        }
    }

    @Test func rangesMayRepeatOrBeCommaSeparated() throws {
        let options = try LoadOptions.parse(["--range", "60,3600", "--range", "0", "--requests", "1"])
        #expect(options.ranges == [60, 3600, 0])
        #expect(throws: LoadOptionsError.self) { try LoadOptions.parse(["--range", "60,", "--requests", "1"]) }
    }

    @Test func keysAreNumberedOnlyWhenAsked() throws {
        #expect(try LoadOptions.parse(["--keys", "3", "--requests", "1"]).keys == .numbered(prefix: "k", count: 3))
        #expect(try LoadOptions.parse(["--key-prefix", "user-", "--requests", "1"]).keys == .numbered(prefix: "user-", count: 1))
        #expect(throws: LoadOptionsError.self) { try LoadOptions.parse(["--keys", "0", "--requests", "1"]) }
    }

    @Test func limits() throws {
        #expect(throws: LoadOptionsError.self) { try LoadOptions.parse(["--connections", "0", "--requests", "1"]) }
        #expect(throws: LoadOptionsError.self) { try LoadOptions.parse(["--rate", "0", "--requests", "1"]) }
        #expect(throws: LoadOptionsError.self) { try LoadOptions.parse(["--timeout", "61s", "--requests", "1"]) }
        #expect(try LoadOptions.parse(["--rate", "200", "--requests", "1"]).schedule == .openLoop(rate: 200))
        // More threads than connections would leave threads idle.
        #expect(try LoadOptions.parse(["--threads", "4", "--connections", "2", "--requests", "1"]).threads == 2)
    }

    @Test func theCommandRefusesWhatTheOptionsRefuse() {
        #expect(throws: (any Error).self) { try LoadCommand.parse(["--url", "http://10.1.2.3"]) }
        #expect(throws: (any Error).self) { try LoadCommand.parse(["--connections", "8"]) }
        #expect(throws: Never.self) { try LoadCommand.parse(["--requests", "8", "--csv", "/tmp/x.csv"]) }
    }
}
