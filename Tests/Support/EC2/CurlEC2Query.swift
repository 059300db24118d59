import Foundation
import PazHTTP
package import PazLocalServers

/// One EC2 query request signed with SigV4 by the system `curl` (`--aws-sigv4`), independent of the
/// project's own HTTP client and of any EC2 driver: how tests check moto's signature checking and the
/// fault proxy. The credentials reach curl in a config file (mode 0600), never on its command line.
package enum CurlEC2Query {
    /// What came back.
    package struct Reply: Sendable {
        /// The HTTP status; 0 when no response arrived (see ``curlStatus``).
        package var status: Int
        package var body: String
        /// curl's exit status: 0, or why the transfer failed (52: the server closed the connection
        /// without answering).
        package var curlStatus: Int32

        /// The EC2 error code of an error answer (`<Code>…</Code>`), nil for a success.
        package var errorCode: String? {
            guard let start = body.range(of: "<Code>"), let end = body.range(of: "</Code>", range: start.upperBound..<body.endIndex)
            else { return nil }
            return String(body[start.upperBound..<end.lowerBound])
        }
    }

    /// POSTs `Action=action&Version=…` plus `parameters` (form-encoded as ``AWSQueryForm`` does) to
    /// `endpoint`, signed for service `ec2` in `region`.
    package static func send(
        _ action: String, _ parameters: [(String, String)] = [], endpoint: String, region: String,
        credentials: MotoCredentials, version: String = "2016-11-15", timeout: Duration = .seconds(60)
    ) async throws(EC2TestSupportError) -> Reply {
        guard endpoint.hasPrefix("http://127.") else {
            throw .localServer(.invalidSetting("\(endpoint) is not a loopback URL"))
        }
        let body = AWSQueryForm.encode([("Action", action), ("Version", version)] + parameters)
        let seconds = max(1, Int(timeout.components.seconds))
        let output = try await HelperProcess.run(
            "curl",
            { directory in
                [
                    "--silent", "--show-error", "--noproxy", "*", "--max-time", "\(seconds)",
                    "--config", directory.appendingPathComponent("credentials").path,
                    "--aws-sigv4", "aws:amz:\(region):ec2",
                    "--header", "Content-Type: application/x-www-form-urlencoded",
                    "--data-binary", "@" + directory.appendingPathComponent("body").path,
                    "--output", directory.appendingPathComponent("answer").path,
                    "--write-out", "%{http_code}",
                    endpoint + "/",
                ]
            },
            prepare: { directory throws(EC2TestSupportError) in
                let user = "\(credentials.accessKeyID):\(credentials.secretAccessKey)"
                    .replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                try write("user = \"\(user)\"\n", to: directory.appendingPathComponent("credentials"))
                try write(body, to: directory.appendingPathComponent("body"))
            },
            collecting: ["answer"], command: "curl \(action)", timeout: timeout + .seconds(5)
        )
        return Reply(
            status: Int(output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0,
            body: output.files["answer"] ?? "", curlStatus: output.status
        )
    }

    private static func write(_ text: String, to file: URL) throws(EC2TestSupportError) {
        guard FileManager.default.createFile(atPath: file.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw .localServer(.filesystem("could not write \(file.path)")) }
    }
}
