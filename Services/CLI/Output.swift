import ArgumentParser
package import Foundation

/// `--output`: tables and prose (default) or JSON on stdout.
package enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text
    case json
}

/// Where a command writes: results to stdout, notes and progress to stderr. Tests pass their own.
package struct Terminal: Sendable {
    /// Writes to standard output (results: tables, JSON, ids).
    package var out: @Sendable (String) -> Void
    /// Writes to standard error (notes, progress, errors).
    package var err: @Sendable (String) -> Void

    package init(out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void) {
        self.out = out
        self.err = err
    }

    /// The process's stdout and stderr, unbuffered.
    package static let standard = Terminal(
        out: { text in FileHandle.standardOutput.write(Data(text.utf8)) },
        err: { text in FileHandle.standardError.write(Data(text.utf8)) })
}

/// A text table with aligned columns: a header row, then one row per item. Empty cells show `-`.
package struct Table: Sendable {
    package var headers: [String]
    package var rows: [[String]]

    package init(_ headers: [String], rows: [[String]] = []) {
        self.headers = headers
        self.rows = rows
    }

    /// The table as lines ending in `\n`, columns separated by at least three spaces, no trailing spaces.
    package func render() -> String {
        let cells = [headers] + rows.map { row in
            headers.indices.map { index in
                let cell = index < row.count ? row[index] : ""
                return cell.isEmpty ? "-" : cell
            }
        }
        let widths = headers.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        return cells.map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column] + 3, withPad: " ", startingAt: 0)
            }.joined().trimmingTrailingSpaces()
        }.joined(separator: "\n") + "\n"
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}

/// Human ages and JSON rendering shared by the commands.
package enum Format {
    /// `12s ago`, `3m ago`, `5h ago`, `2d ago` (`just now` under a second; future times count as now).
    package static func age(_ seconds: Double) -> String {
        let whole = Int(max(0, seconds))
        switch whole {
        case 0: return "just now"
        case ..<60: return "\(whole)s ago"
        case ..<3600: return "\(whole / 60)m ago"
        case ..<86_400: return "\(whole / 3600)h ago"
        default: return "\(whole / 86_400)d ago"
        }
    }

    /// A span like `3d 4h`, `2h 5m`, `4m 10s` or `12s`.
    package static func duration(seconds: Int) -> String {
        let days = seconds / 86_400, hours = seconds % 86_400 / 3600, minutes = seconds % 3600 / 60, rest = seconds % 60
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        if minutes > 0 { return "\(minutes)m \(rest)s" }
        return "\(rest)s"
    }

    /// The age of `date` at `now`, or `never` when there is none.
    package static func age(of date: Date?, now: Date = Date()) -> String {
        guard let date else { return "never" }
        return age(now.timeIntervalSince(date))
    }

    /// `value` as pretty JSON (sorted keys, RFC 3339 dates) followed by a newline: the API objects as
    /// the gateway sends them.
    package static func json(_ value: some Encodable) throws(CLIError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
        } catch {
            throw .file("cannot encode the answer as JSON: \(error)")
        }
    }
}
