import Foundation
import Logging
import PazHTTP
import PazLocalServers
import Testing

/// A provider API client for tests: JSON over PazHTTP with a bearer token, no retries.
struct CloudAPI {
    struct Reply {
        var status: Int
        var json: [String: Any]
        var headers: HTTPHeaders

        subscript(key: String) -> [String: Any] { json[key] as? [String: Any] ?? [:] }
        func list(_ key: String) -> [[String: Any]] { json[key] as? [[String: Any]] ?? [] }
        func header(_ name: String) -> String? { headers.values(for: name).first }
    }

    let endpoint: String
    let token: String
    let client: HTTPClient

    init(endpoint: String, token: String) throws {
        self.endpoint = endpoint
        self.token = token
        client = HTTPClient(
            configuration: .init(totalTimeout: .seconds(20), retry: .none, threadName: "cloudsim-test"),
            logger: Logger(label: "cloudsim-test")
        )
    }

    func send(_ method: String, _ path: String, _ body: [String: Any]? = nil, absolute: Bool = false) async throws -> Reply {
        var headers: HTTPHeaders = ["Authorization": "Bearer \(token)"]
        var data = Data()
        if let body {
            headers = ["Authorization": "Bearer \(token)", "Content-Type": "application/json"]
            data = try JSONSerialization.data(withJSONObject: body)
        }
        let request = HTTPRequest(
            method: HTTPMethod(rawValue: method), url: absolute ? path : endpoint + path, headers: headers, body: data,
            sensitiveHeaders: ["Authorization"]
        )
        let response: HTTPResponse
        do {
            response = try await client.send(request)
        } catch {
            // A 429 or 5xx ends in `gaveUp` (no retries here): the tests look at that response.
            guard case .gaveUp(_, let last) = error else { throw error }
            response = last
        }
        let json = response.body.isEmpty ? [:] : (try JSONSerialization.jsonObject(with: response.body) as? [String: Any] ?? [:])
        return Reply(status: response.status, json: json, headers: response.headers)
    }

    func shutdown() async { await client.shutdown() }
}

/// Keys and shell helpers (ssh-keygen, ssh-keyscan, ssh) for the tests.
enum Shell {
    /// Runs a command to completion; returns its exit status and combined output.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await HelperCommand.result(executable, arguments)
    }

    /// A fresh ed25519 key pair in `directory`: (private key file, public key line).
    static func keyPair(in directory: URL, name: String) async throws -> (file: String, publicKey: String) {
        let file = directory.appendingPathComponent(name).path
        let result = try await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file])
        #expect(result.status == 0, "ssh-keygen: \(result.output)")
        let publicKey = try String(contentsOfFile: file + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return (file, publicKey)
    }

    /// The host keys sshd on `address:22` presents (`ssh-keyscan` lines without the host).
    static func hostKeys(_ address: String) async throws -> [String] {
        try await run("ssh-keyscan", ["-T", "5", "-t", "ed25519", address]).output
            .split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.split(separator: " ").dropFirst().prefix(2).joined(separator: " ") }
    }

    /// Logs in with `key` as `user`, checking the host key against `knownHost`; returns `id -un`'s output.
    static func login(_ address: String, user: String, key: String, knownHostsFile: String) async throws -> (status: Int32, output: String) {
        try await run("ssh", [
            "-i", key, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHostsFile)",
            "-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes", "\(user)@\(address)", "id -un",
        ])
    }
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}
