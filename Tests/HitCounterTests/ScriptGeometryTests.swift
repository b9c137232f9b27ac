import Foundation
@testable import HitCounter
import TestSupport
import Testing

/// A level's unit, span and counters are written in `BucketLevel` only (issue 27, window math in one
/// place): the Lua scripts take them, and the roll-up's day, from `ScriptGeometry.declarations`.
@Suite struct ScriptGeometryTests {
    static let scripts: [RedisScript] = [
        HitScript.script, FoldScript.script, ResetScript.script, WriteProbeScript.script, ClaimScript.script, AdvanceScript.script,
        ReleaseScript.script,
    ]

    /// Outside the generated declarations, no script spells a level's seconds, a day, a counter type or
    /// an unpack format itself.
    @Test(arguments: Self.scripts)
    func aScriptSpellsNoGeometryOfItsOwn(script: RedisScript) throws {
        let body = script.source.replacingOccurrences(of: ScriptGeometry.declarations, with: "")
        let spelled = try Regex(#"(?:^|[^\w.])(60|3600|86400|172800)(?![\w.])|'[ui](32|64)'|'>[Ii][48]'"#)
        let found = body.matches(of: spelled).map { String(body[$0.range]) }
        #expect(found.isEmpty, "\(script.name) spells \(found)")
    }

    /// The declarations a real Redis runs are `BucketLevel`'s values, level by level.
    @Test func redisReadsTheLevelsAsBucketLevelHasThem() async throws {
        try await withRedisServer { redis in
            let names = BucketLevel.allCases.flatMap { level in ["Unit", "Span", "Width", "Type", "Format"].map { "\(level)\($0)" } } + ["rollupHorizon"]
            let source = ScriptGeometry.declarations + "\nreturn table.concat({" + names.map { "tostring(\($0))" }.joined(separator: ", ") + "}, ' ')"
            let declared = try redis.cli(["EVAL", source, "0"]).split(separator: " ").map(String.init)
            let expected = BucketLevel.allCases.flatMap { level in
                [
                    "\(level.unit)", "\(level.span)", "\(level.counterWidth)", level.counterType,
                    (level.counterType.hasPrefix("u") ? ">I" : ">i") + "\(level.counterWidth)",
                ]
            } + ["\(ScriptGeometry.rollupHorizon)"]
            #expect(declared == expected)
            // And a format reads one counter as the level's BITFIELD type writes it.
            for level in BucketLevel.allCases {
                let key = "probe:\(level)"
                try redis.cli(["BITFIELD", key, "SET", level.counterType, "#1", "1234567"])
                let read = try redis.cli([
                    "EVAL", ScriptGeometry.declarations + "\nreturn struct.unpack(\(level)Format, redis.call('GET', KEYS[1]), 1 + \(level)Width)", "1", key,
                ])
                #expect(read.split(separator: "\n").first == "1234567", "\(level): \(read)")
            }
        }
    }

    /// The benchmarks run the hit script outside the service (`bench/redis-instructions`, `bench/run`), so
    /// they carry the declarations as text (`bench/run.py`): the same text, or their figures would measure
    /// another script.
    @Test func theBenchToolsDeclarationsAreTheScripts() throws {
        let tool = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../bench/run.py").standardized
        let text = try String(contentsOf: tool, encoding: .utf8)
        #expect(text.contains("DECLARATIONS = \"\"\"" + ScriptGeometry.declarations + "\"\"\""))
    }
}
