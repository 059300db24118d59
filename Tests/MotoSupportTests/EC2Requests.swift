import Foundation
import PazLocalServers
import PazTestSupport

/// Signed EC2 requests the tests send with curl (see `CurlEC2Query`), and what they read back.
extension MotoServer {
    /// `action` signed with this server's credentials (or `credentials`), sent to `endpoint` (this
    /// server's, or a proxy's).
    func query(
        _ action: String, _ parameters: [(String, String)] = [], credentials: MotoCredentials? = nil, through endpoint: String? = nil
    ) async throws -> CurlEC2Query.Reply {
        try await CurlEC2Query.send(
            action, parameters, endpoint: endpoint ?? self.endpoint, region: region, credentials: credentials ?? self.credentials
        )
    }
}

/// A fresh id for names and tag values, so that tests sharing one moto never see each other's resources.
func uniqueID(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// `TagSpecification.<n>` parameters tagging a new resource of `type` with `tags`.
func tagSpecification(_ number: Int, _ type: String, _ tags: [(String, String)]) -> [(String, String)] {
    [("TagSpecification.\(number).ResourceType", type)] + tags.enumerated().flatMap { index, tag in
        [("TagSpecification.\(number).Tag.\(index + 1).Key", tag.0), ("TagSpecification.\(number).Tag.\(index + 1).Value", tag.1)]
    }
}

/// The text of every `<name>…</name>` element of `xml`, in order.
func elements(_ name: String, in xml: String) -> [String] {
    xml.components(separatedBy: "<\(name)>").dropFirst().compactMap { $0.components(separatedBy: "</\(name)>").first }
}

/// One of moto's default AMIs (Ubuntu 16.04): it exists even with AMI validation on.
let knownImage = "ami-785db401"
