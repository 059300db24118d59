import Foundation

extension MotoServer {
    /// Signature checking: moto checks SigV4 signatures once `POST /moto-api/reset-auth` has set how
    /// many more requests may come unauthenticated. Three are used to create an IAM user, give it an
    /// inline policy allowing ``allowedActions`` and create its access key; every later request must be
    /// signed with that key (a wrong secret or unknown key: 401 `AuthFailure` for EC2) and be allowed
    /// by the policy (otherwise 403 `AccessDenied`). `sts:GetCallerIdentity` is always allowed.
    package struct Authentication: Sendable {
        /// The IAM user's name.
        package var userName: String
        /// IAM actions the user may call (`ec2:*`, `ec2:Describe*` …), allowed on every resource.
        package var allowedActions: [String]

        /// Defaults: user `paz-ec2`, allowed `ec2:*`.
        package init(userName: String = "paz-ec2", allowedActions: [String] = ["ec2:*"]) {
            self.userName = userName
            self.allowedActions = allowedActions
        }
    }
}

/// An access key to sign requests to a ``MotoServer`` with. `description` leaves the secret out.
package struct MotoCredentials: Sendable, Equatable, CustomStringConvertible {
    /// The access key id (`AKIA…`).
    package let accessKeyID: String
    /// The secret access key. Secret: never log it.
    package let secretAccessKey: String

    package init(accessKeyID: String, secretAccessKey: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    /// What requests are signed with while moto does not check signatures (any key would pass).
    package static let unchecked = MotoCredentials(accessKeyID: "AKIAPAZMOTOUNCHECKED", secretAccessKey: "unchecked")

    package var description: String { "MotoCredentials(\(accessKeyID), secret redacted)" }
}

extension MotoAPI {
    /// Switches signature checking on and returns the IAM user's access key.
    ///
    /// moto draws access keys from its own random generator: seeding it with `keySeed` right before
    /// `CreateAccessKey` makes the same key come out after every ``MotoServer/reset()``; a fresh seed
    /// afterwards keeps the ids of later resources from repeating those made before a reset.
    func enableAuthentication(
        _ authentication: MotoServer.Authentication, keySeed: UInt32
    ) async throws(LocalServerError) -> MotoCredentials {
        guard !authentication.allowedActions.isEmpty else {
            throw .invalidSetting("moto authentication needs at least one allowed action")
        }
        let user = authentication.userName
        try await post("/moto-api/reset-auth", body: "3", contentType: "text/plain")
        try await iam("CreateUser", [("UserName", user)])
        try await iam("PutUserPolicy", [
            ("UserName", user), ("PolicyName", "paz-allowed"),
            ("PolicyDocument", try Self.policy(allowing: authentication.allowedActions)),
        ])
        try await post("/moto-api/seed?a=\(keySeed)")
        let reply = try await iam("CreateAccessKey", [("UserName", user)])
        try await post("/moto-api/seed?a=\(UInt32.random(in: 1...UInt32.max))")
        guard let keyID = Self.element("AccessKeyId", in: reply), let secret = Self.element("SecretAccessKey", in: reply)
        else {
            throw .requestFailed(server: "moto_server", request: "IAM CreateAccessKey", reason: "no access key in: \(reply.prefix(200))")
        }
        return MotoCredentials(accessKeyID: keyID, secretAccessKey: secret)
    }

    /// An IAM policy document allowing `actions` on every resource.
    private static func policy(allowing actions: [String]) throws(LocalServerError) -> String {
        let document: [String: Any] = [
            "Version": "2012-10-17",
            "Statement": [["Effect": "Allow", "Action": actions, "Resource": "*"]],
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]) else {
            throw .invalidSetting("moto authentication: allowed actions \(actions) do not make a policy document")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The text of the first `<name>…</name>` element of `xml` (IAM answers hold no markup in these).
    private static func element(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "<\(name)>"), let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex)
        else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }
}
