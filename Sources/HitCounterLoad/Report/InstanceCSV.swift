import Foundation

/// The per-instance table as `--csv` writes it: `instance,requests,share_percent,errors`, one row each.
enum InstanceCSV {
    static let header = "instance,requests,share_percent,errors"

    static func text(_ report: LoadReport) -> String {
        let rows = report.instances.map { instance in
            let share = ReportTable.fixed(instance.sharePercent, 2)
            return [Self.field(instance.instance), "\(instance.requests)", share, "\(instance.errors)"].joined(separator: ",")
        }
        return ([Self.header] + rows).joined(separator: "\n") + "\n"
    }

    /// RFC 4180: quoted when it holds a comma, a quote or a line break; quotes doubled.
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
