import PazHTTP

/// The requests a ``MotoServer`` sends to its own moto: `/moto-api/…` and the unauthenticated
/// requests of the setup.
struct MotoAPI: Sendable {
    /// `http://127.0.0.1:<port>`.
    let baseURL: String
    /// The region setup requests name.
    let region: String
    /// Deadline of each request.
    let timeout: Duration

    /// Forgets every resource (and the IAM user).
    func reset() async throws(LocalServerError) {
        try await post("/moto-api/reset")
    }

    /// Loads the EC2 backend of ``region`` (moto reads its default AMIs then: seconds), so that the
    /// first request of a test or benchmark does not pay for it.
    func loadRegion() async throws(LocalServerError) {
        try await query(service: "ec2", version: "2016-11-15", action: "DescribeAvailabilityZones", [])
    }

    /// An IAM query request; returns the response body.
    @discardableResult
    func iam(_ action: String, _ parameters: [(String, String)]) async throws(LocalServerError) -> String {
        try await query(service: "iam", version: "2010-05-08", action: action, parameters)
    }

    /// POSTs to moto's own API (never authenticated); throws unless it answers 200.
    @discardableResult
    func post(_ path: String, body: String = "", contentType: String? = nil) async throws(LocalServerError) -> String {
        let headers = contentType.map { [("Content-Type", $0)] } ?? []
        let reply = try await LoopbackHTTP.send(
            "POST", baseURL + path, headers: headers, body: body, timeout: timeout, server: "moto_server"
        )
        guard reply.status == 200 else {
            throw .requestFailed(server: "moto_server", request: "POST \(path)", reason: "status \(reply.status): \(reply.body.prefix(300))")
        }
        return reply.body
    }

    /// A query request that moto does not authenticate (signature checking off, or one of the
    /// requests `reset-auth` still lets through). moto picks the service from the credential scope of
    /// the Authorization header, so the request carries one with no valid signature.
    @discardableResult
    private func query(
        service: String, version: String, action: String, _ parameters: [(String, String)]
    ) async throws(LocalServerError) -> String {
        let authorization = "AWS4-HMAC-SHA256 Credential=paz-setup/20000101/\(region)/\(service)/aws4_request, "
            + "SignedHeaders=host, Signature=0"
        let reply = try await LoopbackHTTP.send(
            "POST", baseURL + "/",
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", authorization)],
            body: AWSQueryForm.encode([("Action", action), ("Version", version)] + parameters),
            timeout: timeout, server: "moto_server"
        )
        guard reply.status == 200 else {
            throw .requestFailed(server: "moto_server", request: "\(service) \(action)", reason: "status \(reply.status): \(reply.body.prefix(300))")
        }
        return reply.body
    }
}
