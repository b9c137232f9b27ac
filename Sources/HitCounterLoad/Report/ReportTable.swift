import Foundation

/// The report as the human reads it on stdout.
struct ReportTable {
    let report: LoadReport

    var text: String {
        let report = self.report
        var lines: [String] = []
        let rate = report.targetRate.map { ", target \(Self.fixed($0, 0)) req/s" } ?? ""
        lines.append("\(report.mode), \(report.connections) connections, \(report.threads) thread\(report.threads == 1 ? "" : "s")\(rate)")
        lines.append("targets     \(report.urls.joined(separator: " "))")
        lines.append("")
        lines.append(Self.row("requests", "\(report.requests)"))
        lines.append(Self.row("successes", "\(report.successes)", "(2xx)"))
        lines.append(Self.row("errors", "\(report.errors)"))
        for (status, count) in report.errorsByStatus.sorted(by: { $0.key < $1.key }) {
            lines.append(Self.row("  \(status)", "\(count)"))
        }
        for kind in FailureKind.allCases {
            if let count = report.errorsByKind[kind.rawValue], count > 0 { lines.append(Self.row("  \(kind.rawValue)", "\(count)")) }
        }
        lines.append(Self.row("elapsed", Self.fixed(report.elapsedSeconds, 2), "s"))
        lines.append(Self.row("req/s", Self.fixed(report.requestsPerSecond, 1), "(answered)"))
        lines.append("")
        lines.append("latency (ms, from intended send time)")
        let latency = report.latencyMs
        let percentiles = [
            ("p50", latency.p50), ("p90", latency.p90), ("p99", latency.p99), ("p99.9", latency.p999), ("max", latency.max), ("mean", latency.mean),
        ]
        for (name, value) in percentiles {
            lines.append(Self.row("  \(name)", Self.fixed(value, 3)))
        }
        lines.append("")
        lines.append(Self.columns(["operation", "requests", "2xx"], widths: [-12, 12, 12]))
        for operation in report.operations {
            lines.append(Self.columns([operation.operation, "\(operation.requests)", "\(operation.successes)"], widths: [-12, 12, 12]))
        }
        lines.append("")
        if report.instances.isEmpty {
            lines.append("instances   none answered")
        } else {
            let width = max(12, (report.instances.map(\.instance.count).max() ?? 0) + 2)
            lines.append(Self.columns(["instance", "requests", "share", "errors"], widths: [-width, 12, 9, 10]))
            for instance in report.instances {
                let share = Self.fixed(instance.sharePercent, 1) + "%"
                lines.append(Self.columns([instance.instance, "\(instance.requests)", share, "\(instance.errors)"], widths: [-width, 12, 9, 10]))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// `value` with `digits` decimals, without a locale.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    private static func row(_ name: String, _ value: String, _ unit: String = "") -> String {
        Self.pad(name, -12) + Self.pad(value, 12) + (unit.isEmpty ? "" : " " + unit)
    }

    /// Cells padded to `widths`: negative for left-aligned, positive for right-aligned.
    private static func columns(_ cells: [String], widths: [Int]) -> String {
        zip(cells, widths).map { Self.pad($0, $1) }.joined()
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        let padding = String(repeating: " ", count: max(0, abs(width) - text.count))
        return width < 0 ? text + padding : padding + text
    }
}
