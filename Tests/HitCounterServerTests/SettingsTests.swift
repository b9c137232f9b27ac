import Configuration
import HitCounter
import Testing

@testable import HitCounterServer

/// Flags win over the environment; a bad value names its flag, its variable and what is expected.
@Suite struct SettingsTests {
    func settings(flags: [String: String] = [:], environment: [String: String] = [:]) throws -> ServerSettings {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (name, value) in flags {
            let setting = try #require(Setting.all.first { $0.flag == name })
            values[AbsoluteConfigKey(setting.key)] = ConfigValue(.string(value), isSecret: false)
        }
        return try ServerSettings(config: ConfigReader(providers: [
            InMemoryProvider(values: values),
            EnvironmentVariablesProvider(environmentVariables: environment),
        ]))
    }

    @Test func defaults() throws {
        let settings = try self.settings()
        #expect(settings.hostname == "127.0.0.1")
        #expect(settings.port == 8080)
        #expect(settings.store == .redis)
        #expect(settings.redis.address == .tcp(host: "127.0.0.1", port: 6379))
        #expect(settings.maxRange == 86_400)
        #expect(settings.logLevel == .info)
        #expect(settings.serverName == nil)
        #expect(settings.logFormat == .json)
        #expect(settings.limits.idleTimeout == .seconds(75))
        #expect(settings.limits.requestTimeout == .seconds(10))
        #expect(settings.limits.maxConnections == 1000)
        #expect(settings.dedupPeriod == 86_400)
        #expect(settings.rollups.log)
        #expect(settings.rollups.kafkaBrokers == nil)
        #expect(settings.rollups.callbackURLs.isEmpty)
        #expect(settings.rollups.lease == .seconds(10))
    }

    @Test func readsTheRollupSettings() throws {
        let settings = try self.settings(
            flags: ["--kafka-brokers": "k1:9092,k2:9092", "--kafka-topic": "events.v1", "--rollup-log": "false"],
            environment: ["HITCOUNTER_CALLBACK_URLS": "http://a/x,https://b/y", "HITCOUNTER_ROLLUP_LEASE": "4", "HITCOUNTER_DEDUP_PERIOD": "90000"]
        )
        #expect(settings.rollups.kafkaBrokers == "k1:9092,k2:9092")
        #expect(settings.rollups.kafkaTopic == "events.v1")
        #expect(!settings.rollups.log)
        #expect(settings.rollups.callbackURLs == ["http://a/x", "https://b/y"])
        #expect(settings.rollups.lease == .seconds(4))
        #expect(settings.dedupPeriod == 90_000)
        // Without one, the dedup period follows a max range longer than a day.
        #expect(try self.settings(flags: ["--max-range": "172800"]).dedupPeriod == 172_800)
    }

    @Test func readsTheLimits() throws {
        let settings = try self.settings(
            flags: ["--idle-timeout": "2.5", "--log-format": "TEXT"],
            environment: ["HITCOUNTER_REQUEST_TIMEOUT": "0.5", "HITCOUNTER_MAX_CONNECTIONS": "64"]
        )
        #expect(settings.limits.idleTimeout == .milliseconds(2500))
        #expect(settings.limits.requestTimeout == .milliseconds(500))
        #expect(settings.limits.maxConnections == 64)
        #expect(settings.logFormat == .text)
    }

    @Test func readsTheEnvironmentAndLetsFlagsWin() throws {
        let environment = [
            "HITCOUNTER_HOSTNAME": "0.0.0.0", "HITCOUNTER_PORT": "9000", "HITCOUNTER_STORE": "memory",
            "HITCOUNTER_REDIS_URL": "redis://cache:6380/2", "HITCOUNTER_MAX_RANGE": "3600", "HITCOUNTER_LOG_LEVEL": "DEBUG",
            "HITCOUNTER_REDIS_PASSWORD": "from-secret", "HITCOUNTER_REDIS_TIMEOUT": "0.25", "HITCOUNTER_SERVER_NAME": "pod-a",
        ]
        let fromEnvironment = try self.settings(environment: environment)
        #expect(fromEnvironment.hostname == "0.0.0.0")
        #expect(fromEnvironment.port == 9000)
        #expect(fromEnvironment.store == .memory)
        #expect(fromEnvironment.redis.address == .tcp(host: "cache", port: 6380))
        #expect(fromEnvironment.redis.database == 2)
        #expect(fromEnvironment.redis.password == "from-secret")
        #expect(fromEnvironment.redis.commandTimeout == .milliseconds(250))
        #expect(fromEnvironment.maxRange == 3600)
        #expect(fromEnvironment.logLevel == .debug)
        #expect(fromEnvironment.serverName == "pod-a")

        let flagsWin = try self.settings(flags: ["--port": "9100", "--store": "redis", "--max-range": "60"], environment: environment)
        #expect(flagsWin.port == 9100)
        #expect(flagsWin.store == .redis)
        #expect(flagsWin.maxRange == 60)
        #expect(flagsWin.hostname == "0.0.0.0")
    }

    /// A cluster named by several nodes: the first's credentials, the others' addresses; a comma in a
    /// password is still a password's.
    @Test func readsTheRedisClusterSettings() throws {
        let cluster = try self.settings(flags: [
            "--redis-url": "redis://u:pa,ss@10.0.0.1:7000,10.0.0.2:7001,redis://10.0.0.3", "--redis-mode": "cluster", "--redis-wait-replicas": "1",
        ])
        #expect(cluster.redis.address == .tcp(host: "10.0.0.1", port: 7000))
        #expect(cluster.redis.password == "pa,ss" && cluster.redis.username == "u")
        #expect(cluster.redis.seeds == [.tcp(host: "10.0.0.2", port: 7001), .tcp(host: "10.0.0.3", port: 6379)])
        #expect(cluster.redis.mode == .cluster && cluster.redis.waitReplicas == 1)
        let single = try self.settings(flags: ["--redis-url": "redis://:a,b@cache:6380/2"])
        #expect(single.redis.address == .tcp(host: "cache", port: 6380) && single.redis.password == "a,b" && single.redis.seeds.isEmpty)
        #expect(single.redis.database == 2 && single.redis.mode == .auto && single.redis.waitReplicas == 0)
    }

    /// Origins are kept as browsers send them, so each one the operator writes can match.
    @Test func corsOriginsAreWrittenAsBrowsersSendThem() throws {
        let settings = try self.settings(flags: [
            "--cors-origins": "HTTPS://Blog.Example:443, http://Shop.example:80,https://a.example:8443",
            "--cors-read-origins": "http://[::1]:8080,https://c.example/",
        ])
        #expect(settings.web.countOrigins == .exactly(["https://blog.example", "http://shop.example", "https://a.example:8443"]))
        #expect(settings.web.readOrigins == .exactly(["http://[::1]:8080", "https://c.example"]))
        #expect(try self.settings(flags: ["--public-counters-per-minute": "42"]).web.publicCountersPerMinute == 42)
        #expect(try self.settings().web.publicCountersPerMinute == 300)
    }

    @Test(arguments: [
        (["--port": "http"], [:], "--port / HITCOUNTER_PORT must be a port number from 0 to 65535"),
        ([:], ["HITCOUNTER_PORT": "70000"], "--port / HITCOUNTER_PORT must be a port number from 0 to 65535"),
        (["--store": "postgres"], [:], "--store / HITCOUNTER_STORE must be redis or memory"),
        (["--max-range": "0"], [:], "--max-range / HITCOUNTER_MAX_RANGE must be a number of seconds from 1 to 31536000"),
        (["--log-level": "loud"], [:], "--log-level / HITCOUNTER_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical"),
        (["--redis-url": "redis://:hunter2@h:port"], [:], "--redis-url / HITCOUNTER_REDIS_URL is not usable: the Redis URL has a port that is not a number from 1 to 65535"),
        (["--redis-timeout": "-1"], [:], "--redis-timeout / HITCOUNTER_REDIS_TIMEOUT must be a number of seconds above 0 and up to 60, such as 0.5"),
        (["--hostname": ""], [:], "--hostname / HITCOUNTER_HOSTNAME must not be empty"),
        (["--log-format": "xml"], [:], "--log-format / HITCOUNTER_LOG_FORMAT must be json or text"),
        ([:], ["HITCOUNTER_IDLE_TIMEOUT": "0"], "--idle-timeout / HITCOUNTER_IDLE_TIMEOUT must be a number of seconds from 0.1 to 3600"),
        (["--request-timeout": "soon"], [:], "--request-timeout / HITCOUNTER_REQUEST_TIMEOUT must be a number of seconds from 0.1 to 300"),
        (["--max-connections": "0"], [:], "--max-connections / HITCOUNTER_MAX_CONNECTIONS must be a number from 1 to 1000000"),
        (["--dedup-period": "60", "--max-range": "3600"], [:], "--dedup-period / HITCOUNTER_DEDUP_PERIOD must be at least the max range (3600 s), so the ids counted in a window are distinct"),
        (["--rollup-log": "maybe"], [:], "--rollup-log / HITCOUNTER_ROLLUP_LOG must be true or false"),
        (["--kafka-brokers": "kafka"], [:], "--kafka-brokers / HITCOUNTER_KAFKA_BROKERS must be host:port, comma separated"),
        (["--kafka-topic": "no spaces"], [:], "--kafka-topic / HITCOUNTER_KAFKA_TOPIC must be 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'"),
        ([:], ["HITCOUNTER_CALLBACK_URLS": "ftp://files"], "--callback-urls / HITCOUNTER_CALLBACK_URLS must be http:// or https:// URLs, comma separated"),
        (["--store": "memory", "--kafka-brokers": "k:9092"], [:], "--store / HITCOUNTER_STORE must be redis for roll-ups to Kafka or callbacks: their state lives in Redis"),
        (["--rollup-lease": "0.5"], [:], "--rollup-lease / HITCOUNTER_ROLLUP_LEASE must be a number of seconds from 1 to 300"),
        (["--redis-mode": "sentinel"], [:], "--redis-mode / HITCOUNTER_REDIS_MODE must be auto, standalone or cluster"),
        (["--redis-wait-replicas": "-1"], [:], "--redis-wait-replicas / HITCOUNTER_REDIS_WAIT_REPLICAS must be a number of replicas from 0 to 16"),
        (["--redis-url": "redis://:hunter2@a:7000,b:port"], [:], "--redis-url / HITCOUNTER_REDIS_URL is not usable: the Redis URL has a port that is not a number from 1 to 65535"),
        (["--cors-origins": "https://a.example,*"], [:], "--cors-origins / HITCOUNTER_CORS_ORIGINS must be * alone or origins such as https://example.com (a scheme, a host and maybe a port; no path, no wildcard), comma separated: * is not one"),
        (["--cors-origins": "https://*.example.com"], [:], "--cors-origins / HITCOUNTER_CORS_ORIGINS must be * alone or origins such as https://example.com (a scheme, a host and maybe a port; no path, no wildcard), comma separated: https://*.example.com is not one"),
        (["--cors-read-origins": "https://blog.example/x"], [:], "--cors-read-origins / HITCOUNTER_CORS_READ_ORIGINS must be * alone or origins such as https://example.com (a scheme, a host and maybe a port; no path, no wildcard), comma separated: https://blog.example/x is not one"),
        (["--cors-origins": "https://bücher.example"], [:], "--cors-origins / HITCOUNTER_CORS_ORIGINS must be * alone or origins such as https://example.com (a scheme, a host and maybe a port; no path, no wildcard), comma separated: https://bücher.example is not one"),
        (["--public-counters-per-minute": "0"], [:], "--public-counters-per-minute / HITCOUNTER_PUBLIC_COUNTERS_PER_MINUTE must be an integer from 1 to 1000000"),
        (["--redis-url": "unix:///run/redis.sock,b:7000"], [:], "--redis-url / HITCOUNTER_REDIS_URL is not usable: the Redis URL lists several nodes, which a unix socket cannot be"),
    ] as [([String: String], [String: String], String)])
    func refusesBadValuesInOneLine(flags: [String: String], environment: [String: String], message: String) throws {
        let error = #expect(throws: SettingsError.self) { try self.settings(flags: flags, environment: environment) }
        #expect(error?.description == message)
        #expect(error.map { !$0.description.contains("hunter2") } ?? false)
    }
}
