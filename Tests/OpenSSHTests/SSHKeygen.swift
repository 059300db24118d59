import Foundation
import PazOpenSSH

/// Runs the real `/usr/bin/ssh-keygen` (TZ=UTC) in a private temporary directory.
struct SSHKeygen {
    let directory: URL

    /// Runs `body` with a fresh directory, removed afterwards.
    static func inTemporaryDirectory<T>(_ body: (SSHKeygen) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paz-openssh-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(SSHKeygen(directory: directory))
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Writes `text` to `name` with `mode` (0600: ssh-keygen refuses private keys others can read).
    @discardableResult
    func write(_ text: String, to name: String, mode: Int = 0o600) throws -> String {
        let path = path(name)
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        else { throw KeygenFailure(message: "cannot write \(path)") }
        return path
    }

    func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }

    /// Runs ssh-keygen with `arguments` in the directory and returns its standard output;
    /// a non-zero exit throws with its standard error.
    @discardableResult
    func run(_ arguments: [String]) throws -> String {
        let result = try runAllowingFailure(arguments)
        guard result.status == 0 else {
            let command = "ssh-keygen " + arguments.joined(separator: " ")
            throw KeygenFailure(message: "\(command) exited \(result.status): \(result.stderr)")
        }
        return result.stdout
    }

    /// Runs ssh-keygen and returns its exit status and output, whatever the status.
    func runAllowingFailure(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let id = UUID().uuidString
        let stdoutURL = directory.appendingPathComponent(".stdout-\(id)")
        let stderrURL = directory.appendingPathComponent(".stderr-\(id)")
        guard FileManager.default.createFile(atPath: stdoutURL.path, contents: nil),
              FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        else { throw KeygenFailure(message: "cannot create output files in \(directory.path)") }
        defer {
            try? FileManager.default.removeItem(at: stdoutURL)
            try? FileManager.default.removeItem(at: stderrURL)
        }
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = ["TZ": "UTC", "PATH": "/usr/bin:/bin", "HOME": directory.path]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        process.waitUntilExit()
        try stdout.close()
        try stderr.close()
        return (
            process.terminationStatus,
            try String(contentsOf: stdoutURL, encoding: .utf8),
            try String(contentsOf: stderrURL, encoding: .utf8)
        )
    }
}

struct KeygenFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// What `ssh-keygen -L` prints about a certificate: `Name: value` lines and indented lists.
struct CertificateListing {
    var values: [String: String] = [:]
    var lists: [String: [String]] = [:]

    init(_ output: String) {
        var current: String?
        for line in output.split(separator: "\n", omittingEmptySubsequences: true).dropFirst() {
            if line.hasPrefix("                "), let current {
                lists[current, default: []].append(line.trimmingCharacters(in: .whitespaces))
                continue
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard let colon = trimmed.firstIndex(of: ":") else { continue }
            let name = String(trimmed[..<colon])
            let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            values[name] = value
            if value.isEmpty || value == "(none)" {
                lists[name] = []
                current = name
            } else {
                current = nil
            }
        }
    }

    subscript(_ name: String) -> String? { values[name] }
}

/// `ssh-keygen`'s name for a key type in listings: `ED25519`, `ECDSA`.
func keygenName(_ algorithm: OpenSSHKeyAlgorithm) -> String {
    algorithm == .ed25519 ? "ED25519" : "ECDSA"
}

/// A time as `ssh-keygen -L` prints it with TZ=UTC: `2024-01-01T00:05:00`.
func keygenTime(_ seconds: UInt64) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}
