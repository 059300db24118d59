package import CoreMetrics

/// The broker's metrics (swift-metrics; `/metrics` exposes them through the service kit's
/// Prometheus registry). Labels are bounded: certificate kinds, request kinds and outcomes, never
/// tenants, machines or serials.
///
/// | metric | labels | what |
/// |---|---|---|
/// | `paz_ssh_broker_certificates_issued_total` | `kind` (`host`, `user`) | certificates signed and audited |
/// | `paz_ssh_broker_issue_duration_seconds` | `kind` | time to issue one (CA load, key generation, signing, audit write) |
/// | `paz_ssh_broker_requests_total` | `command`, `outcome` | requests by outcome (`issued`, `failed`, `denied` (sender not allowed), `unsupported`, `dead-lettered`) |
/// | `paz_ssh_broker_authorities_created_total` | — | tenant CA pairs this replica created (won the HSETNX) |
package struct BrokerMetrics: Sendable {
    /// The certificate kind, as the `kind` label.
    enum CertificateKind: String {
        case host, user
    }

    /// What became of one request, as the `outcome` label.
    enum Outcome: String {
        case issued, failed, unsupported, denied
        case deadLettered = "dead-lettered"
    }

    package static let certificatesIssued = "paz_ssh_broker_certificates_issued_total"
    package static let issueDuration = "paz_ssh_broker_issue_duration_seconds"
    package static let requests = "paz_ssh_broker_requests_total"
    package static let authoritiesCreated = "paz_ssh_broker_authorities_created_total"

    private let factory: any MetricsFactory

    /// Metrics made by `factory` (the process-wide one by default; tests pass a `TestMetrics`).
    package init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    func issued(_ kind: CertificateKind, duration: Duration) {
        Counter(label: Self.certificatesIssued, dimensions: [("kind", kind.rawValue)], factory: factory).increment()
        let (seconds, attoseconds) = duration.components
        CoreMetrics.Timer(label: Self.issueDuration, dimensions: [("kind", kind.rawValue)], factory: factory)
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// `command` is a command kind the broker knows, or `other`.
    func request(command: String, outcome: Outcome) {
        Counter(label: Self.requests, dimensions: [("command", command), ("outcome", outcome.rawValue)], factory: factory)
            .increment()
    }

    func authoritiesCreated() {
        Counter(label: Self.authoritiesCreated, factory: factory).increment()
    }
}
