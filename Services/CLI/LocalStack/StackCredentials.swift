package import Foundation
import PazLocalServers
package import PazSchemas
import PazStore

/// The local stack's passwords (docs/security.md, "Service credentials"): one RabbitMQ and one Redis
/// password per service kind, and the operator's (`paz-admin` on RabbitMQ, whose `guest` is
/// deleted; the `default` user on Redis). Made at the first `up` with random values and kept in
/// `credentials.json` in the data directory (mode 0600); each service gets only its own, in its
/// `AMQP_URL` and `REDIS_URL`.
package struct StackCredentials: Codable, Equatable, Sendable {
    /// The passwords of one service kind.
    package struct Service: Codable, Equatable, Sendable {
        package var amqpPassword: String
        package var redisPassword: String
    }

    /// RabbitMQ's administrator (`administrator` tag, every permission on `/`): for operators and tests.
    package static let amqpAdminUser = "paz-admin"

    /// The password of ``amqpAdminUser``.
    package var amqpAdminPassword: String
    /// The password of Redis's `default` user (every key and command): for operators and tests.
    package var redisAdminPassword: String
    /// By user name (``PazSchemas/ServiceKind/userName``).
    package var services: [String: Service]

    /// Reads `file`, adding passwords for any of `kinds` it lacks (and writing it back, mode 0600);
    /// creates it when it does not exist.
    package static func loadOrCreate(at file: URL, kinds: [ServiceKind]) throws(CLIError) -> StackCredentials {
        var credentials: StackCredentials
        if let existing = try load(from: file) {
            credentials = existing
        } else {
            credentials = StackCredentials(amqpAdminPassword: randomPassword(), redisAdminPassword: randomPassword(), services: [:])
        }
        let before = credentials
        for kind in kinds where credentials.services[kind.userName] == nil {
            credentials.services[kind.userName] = Service(amqpPassword: randomPassword(), redisPassword: randomPassword())
        }
        if credentials != before || !FileManager.default.fileExists(atPath: file.path) {
            do {
                try PrivateFile.write(try JSONEncoder().encode(credentials), to: file)
            } catch let error as CLIError {
                throw error
            } catch {
                throw .file("cannot encode the stack's credentials: \(error)")
            }
        }
        return credentials
    }

    /// Reads `file`; nil when it does not exist.
    package static func load(from file: URL) throws(CLIError) -> StackCredentials? {
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        do {
            return try JSONDecoder().decode(StackCredentials.self, from: data)
        } catch {
            throw .file("cannot read \(file.path): \(error). Delete it (and the stack's data) to start over")
        }
    }

    /// 32 random bytes as hex: safe in URLs and in redis.conf.
    static func randomPassword() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// The passwords of `kind`, which ``loadOrCreate(at:kinds:)`` made.
    private func service(_ kind: ServiceKind) throws(CLIError) -> Service {
        guard let service = services[kind.userName] else {
            throw .localStack("no credentials for \(kind.userName) in the stack's credentials file")
        }
        return service
    }

    /// `amqp://<kind>:<password>@127.0.0.1:<port>/`.
    package func amqpURL(_ kind: ServiceKind, port: Int) throws(CLIError) -> String {
        "amqp://\(kind.userName):\(try service(kind).amqpPassword)@127.0.0.1:\(port)/"
    }

    /// `redis://<kind>:<password>@127.0.0.1:<port>/0`.
    package func redisURL(_ kind: ServiceKind, port: Int) throws(CLIError) -> String {
        "redis://\(kind.userName):\(try service(kind).redisPassword)@127.0.0.1:\(port)/0"
    }

    /// The RabbitMQ users: ``amqpAdminUser`` and one per service kind with its permissions.
    func rabbitUsers(_ kinds: [ServiceKind]) throws(CLIError) -> [RabbitMQServer.User] {
        var users = [RabbitMQServer.User(
            name: Self.amqpAdminUser, password: amqpAdminPassword, configure: ".*", write: ".*", read: ".*", tags: ["administrator"])]
        for kind in kinds {
            let permissions = kind.amqpPermissions
            users.append(RabbitMQServer.User(
                name: kind.userName, password: try service(kind).amqpPassword, configure: permissions.configurePattern,
                write: permissions.writePattern, read: permissions.readPattern))
        }
        return users
    }

    /// The Redis ACL users, one per service kind (``PazStore/StoreACL``).
    func redisUsers(_ kinds: [ServiceKind]) throws(CLIError) -> [RedisServer.User] {
        var users: [RedisServer.User] = []
        for kind in kinds {
            users.append(RedisServer.User(name: kind.userName, password: try service(kind).redisPassword, rules: StoreACL.rules(for: kind)))
        }
        return users
    }
}
