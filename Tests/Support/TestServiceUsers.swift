import Foundation
package import PazLocalServers
package import PazSchemas

/// One RabbitMQ user per service kind (``PazSchemas/ServiceKind``), with a random password each and
/// the permissions of its kind, as `paz-machine up` creates them.
package struct TestServiceUsers: Sendable {
    /// The kinds tests log in as: the gateway, the collector, the broker and every driver.
    package static let kinds: [ServiceKind] = [
        .gateway, .statusCollector, .sshBroker, .driver("generic"), .driver("qemu"), .driver("ec2"), .driver("digitalocean"),
        .driver("hetzner"),
    ]
    private let passwords: [ServiceKind: String]

    private static let shared = SharedFixture<TestServiceUsers> {
        let users = TestServiceUsers()
        try await TestRabbitMQ.sharedServer().putUsers(users.rabbitUsers)
        return users
    }

    /// New random passwords (nothing is created).
    package init() {
        passwords = Dictionary(uniqueKeysWithValues: Self.kinds.map { ($0, UUID().uuidString) })
    }

    /// The users on the run's shared RabbitMQ (``TestRabbitMQ/sharedServer()``), created once per run;
    /// `guest` stays.
    package static func onSharedRabbitMQ() async throws -> TestServiceUsers {
        try await shared.value()
    }

    /// The password of `kind` (one of ``kinds``).
    package func password(_ kind: ServiceKind) -> String { passwords[kind]! }

    /// The RabbitMQ users, for ``PazLocalServers/RabbitMQServer/putUsers(_:)``.
    package var rabbitUsers: [RabbitMQServer.User] {
        Self.kinds.map { kind in
            let permissions = kind.amqpPermissions
            return RabbitMQServer.User(
                name: kind.userName, password: password(kind), configure: permissions.configurePattern,
                write: permissions.writePattern, read: permissions.readPattern)
        }
    }
}
