import ArgumentParser
import Foundation

/// `hitcounter-load`: sends a bounded load to HitCounter instances and reports what came back.
@main
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hitcounter-load",
        abstract: "Load generator for HitCounter: closed or open loop, with latency from intended send times.",
        discussion: """
            Closed loop (default): each connection sends its next request as soon as the previous answer arrives. \
            Open loop (--rate): requests go out on a fixed schedule; a request that waits for a free connection \
            still counts its latency from its intended time, so a stall is not hidden.

            Requests use query parameters only: POST /hit?key=K&count=C, GET /hits?key=K&range=R, GET /healthz. \
            Only loopback targets unless --allow-remote.

            Every request issued is counted once: requests = successes (2xx) + errors. Errors are answers \
            outside 2xx (by status) or no answer (connect, timeout, reset, protocol). When sending stops, the \
            run waits up to --timeout for what is queued or in flight; what is left then counts as cancelled. \
            Instances are counted by their X-Served-By header (or target URL) over answered requests.
            """
    )

    @OptionGroup var arguments: LoadArguments

    @Option(help: "Write the per-instance table (instance,requests,share_percent,errors) as CSV to this file.")
    var csv: String?

    @Option(help: "Write the whole report as JSON to this file.")
    var json: String?

    @Flag(help: "No progress line on stderr.")
    var quiet = false

    func validate() throws {
        do {
            _ = try LoadOptions(self.arguments)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let options = try LoadOptions(self.arguments)
        let report = try await LoadRun(options).run(progress: self.quiet ? nil : Self.show)
        print(ReportTable(report: report).text)
        if let csv = self.csv {
            try Data(InstanceCSV.text(report).utf8).write(to: URL(fileURLWithPath: csv))
        }
        if let json = self.json {
            try report.json().write(to: URL(fileURLWithPath: json))
        }
    }

    /// The progress line, on stderr so that stdout holds only the report.
    @Sendable static func show(_ progress: LoadProgress) {
        FileHandle.standardError.write(Data((progress.description + "\n").utf8))
    }
}
