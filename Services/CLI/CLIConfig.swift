package import Foundation

/// What `paz-machine login` (or `up`) stores: where the gateway is and the tenant token.
/// Kept in `$XDG_CONFIG_HOME/paz-machine/config.json` (file mode 0600, directory 0700).
package struct CLIConfig: Codable, Equatable, Sendable {
    /// The gateway's base URL, e.g. `http://127.0.0.1:8480`.
    package var gateway: String?
    /// The tenant token (`pazt_…`). Secret: never printed.
    package var token: String?

    package init(gateway: String? = nil, token: String? = nil) {
        self.gateway = gateway
        self.token = token
    }

    /// The default config file: `$XDG_CONFIG_HOME/paz-machine/config.json`, else `~/.config/…`.
    package static func defaultFile(environment: [String: String]) -> URL {
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.config")
        return URL(fileURLWithPath: base).appendingPathComponent("paz-machine/config.json")
    }

    /// Reads `file`; a missing file is an empty config.
    package static func load(from file: URL) throws(CLIError) -> CLIConfig {
        guard FileManager.default.fileExists(atPath: file.path) else { return CLIConfig() }
        do {
            return try JSONDecoder().decode(CLIConfig.self, from: Data(contentsOf: file))
        } catch {
            throw .file("cannot read the config file \(file.path): \(error). Fix or delete it, then run `paz-machine login`")
        }
    }

    /// Writes `file` atomically with mode 0600, creating its directory with mode 0700 if it is
    /// missing. An existing directory keeps its mode: it may be a shared one such as `/tmp`.
    package func save(to file: URL) throws(CLIError) {
        let directory = file.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try PrivateFile.write(encoder.encode(self), to: file)
        } catch let error as CLIError {
            throw error
        } catch {
            throw .file("cannot write the config file \(file.path): \(error)")
        }
    }
}

/// Files only their owner may read (config, tokens, keys).
package enum PrivateFile {
    /// Writes `data` to a temporary file created with mode 0600 next to `file`, then renames it over
    /// `file`: the content is never readable by others, not even for a moment.
    package static func write(_ data: Data, to file: URL) throws(CLIError) {
        let temporary = file.path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .file("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, 0o600)
        close(fd)
        guard written == data.count, rename(temporary, file.path) == 0 else {
            unlink(temporary)
            throw .file("cannot write \(file.path): \(String(cString: strerror(errno)))")
        }
    }
}
