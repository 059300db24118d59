import Foundation
import Logging
import PazDriverKit
import PazGenericDriver
import PazLocalServers
import PazRedis
import PazSchemas
import PazSecrets
import PazStore
import PazTestSupport
import Testing

/// The generic driver against real sshd servers (127.0.0.2 shared, 127.0.0.3 private) and Redis.
/// Power commands are always harmless `touch` commands: nothing here may power this machine off.
@Suite(.timeLimit(.minutes(2))) struct GenericDriverTests {
    struct Setup {
        /// The local stack's address policy: loopback test hosts, never 127.0.0.1.
        static let addresses = AddressPolicy(.generic, allow: ["127.0.0.0/8"], deny: ["127.0.0.1/32"])!
        var driver = GenericDriver(stateTimeout: .seconds(3), connectTimeout: .seconds(5), commandTimeout: .seconds(10),
                                   addresses: Setup.addresses)
        let store: Store
        let context: DriverContext
        let machine = MachineRef(clusterId: .random(), machineId: .random())

        init() async throws {
            let server = try await Servers.ready().redis
            store = Store(redis: RedisClient(configuration: RedisConfiguration(host: server.host, port: server.port)),
                          secretBox: SecretBox(masterKey: try MasterKey(bytes: Array(repeating: 9, count: 32))))
            context = DriverContext(tenant: try TenantID("tnt_\(ULID.make().lowercased())"), operationId: .random(),
                                    logger: Logger(label: "test.generic"), store: store)
        }

        func putKey(_ key: TestUserKey, machine: MachineRef? = nil) async throws {
            try await store.putSecrets(["ssh-key": key.privateKey], tenant: context.tenant, machine: (machine ?? self.machine).machineId)
        }

        func create(_ server: SSHServer, machine: MachineRef? = nil, hostKey: String?, extra: [String: JSONValue] = [:])
            async throws(DriverError) -> MachineDetails
        {
            let machine = machine ?? self.machine
            var options: [String: JSONValue] = [
                "ip-address": .string(server.host), "ssh-port": .number(Double(server.port)), "ssh-user": .string(server.user),
                "install-ssh-trust": .bool(false),  // no sudo for the test user (the end-to-end suite installs it)
            ]
            if let hostKey { options["ssh-host-key"] = .string(hostKey) }
            options.merge(extra) { $1 }
            return try await driver.create(
                MachineCreate(driver: "generic", clusterId: machine.clusterId, clusterName: "existing", machineId: machine.machineId,
                              machineName: "host-1", options: options),
                context: context)
        }
    }

    /// The error `body` throws (nil if it succeeds).
    func failure<T>(_ body: () async throws(DriverError) -> T) async -> DriverError? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error
        }
    }

    func markerPath() -> String { "/tmp/paz-generic-test-\(UUID().uuidString)" }

    @Test func createWithTheRightHostKeySucceedsAndRecordsTheMachine() async throws {
        let sshd = try await Servers.ready().sshd
        let setup = try await Setup()
        try await setup.putKey(sshd.userKey)
        let details = try await setup.create(sshd.server, hostKey: sshd.server.hostPublicKeys[0])
        #expect(details.state == .running)
        #expect(details.ssh == SSHEndpoint(host: "127.0.0.2", port: sshd.server.port, user: sshd.server.user))
        #expect(details.addresses == [MachineAddress(address: "127.0.0.2", scope: .public)])
        let data = try #require(try await setup.context.driverData(
            GenericMachineData.self, version: GenericMachineData.version, for: setup.machine.machineId))
        #expect(data.hostKey.hasPrefix(sshd.server.hostPublicKeys[0].split(separator: " ").prefix(2).joined(separator: " ")))
        // A redelivered create adopts the same machine.
        let again = try await setup.create(sshd.server, hostKey: sshd.server.hostPublicKeys[0])
        #expect(again.ssh == details.ssh)
    }

    @Test func createFailsClearlyForAWrongHostKey() async throws {
        let sshd = try await Servers.ready().sshd
        let setup = try await Setup()
        try await setup.putKey(sshd.userKey)
        let impostor = try await Servers.ready().strangerKey.publicKey
        let error = await failure { () async throws(DriverError) in try await setup.create(sshd.server, hostKey: impostor) }
        guard case .conflict(let message) = error else {
            Issue.record("expected a conflict, got \(String(describing: error))")
            return
        }
        #expect(message.contains("not the expected ssh-host-key"))
        #expect(error?.isRetriable == false)
    }

    @Test func createFailsClearlyForAWrongUserKey() async throws {
        let sshd = try await Servers.ready().sshd
        let setup = try await Setup()
        try await setup.putKey(try await Servers.ready().strangerKey)
        let error = await failure { () async throws(DriverError) in
            try await setup.create(sshd.server, hostKey: sshd.server.hostPublicKeys[0])
        }
        guard case .invalidCredentials(let message) = error else {
            Issue.record("expected invalid credentials, got \(String(describing: error))")
            return
        }
        #expect(message.contains("authorized_keys"))
        #expect(error?.operationError.code == .invalidCredentials)
    }

    @Test func createWithoutAHostKeyNeedsExplicitTrustOnFirstUse() async throws {
        let sshd = try await Servers.ready().sshd
        let setup = try await Setup()
        try await setup.putKey(sshd.userKey)
        let error = await failure { () async throws(DriverError) in try await setup.create(sshd.server, hostKey: nil) }
        #expect(error?.operationError.field == "ssh-host-key")
        #expect(error?.operationError.message.contains("accept-new-host-key=true") == true)

        _ = try await setup.create(sshd.server, hostKey: nil, extra: ["accept-new-host-key": .bool(true)])
        let data = try #require(try await setup.context.driverData(
            GenericMachineData.self, version: GenericMachineData.version, for: setup.machine.machineId))
        let recorded = data.hostKey.split(separator: " ").prefix(2).joined(separator: " ")
        #expect(sshd.server.hostPublicKeys.contains { $0.hasPrefix(recorded) })
    }

    @Test func secretsAreReadFromTheStoreNotFromTheCommand() async throws {
        let sshd = try await Servers.ready().sshd
        let setup = try await Setup()
        // The key in the command's options is ignored: nothing sealed in the store means no key.
        let error = await failure { () async throws(DriverError) in
            try await setup.create(sshd.server, hostKey: sshd.server.hostPublicKeys[0],
                                   extra: ["ssh-key": .string(sshd.userKey.privateKey)])
        }
        #expect(error?.operationError.field == "ssh-key")
        try await setup.putKey(sshd.userKey)
        let details = try await setup.create(sshd.server, hostKey: sshd.server.hostPublicKeys[0])
        #expect(details.state == .running)
    }

    @Test func statesAreRunningThenStoppedWhenSSHDStops() async throws {
        let servers = try await Servers.ready()
        let (key, server) = (servers.privateKey, servers.privateServer)
        try await TestSSHD.start(server)
        let setup = try await Setup()
        try await setup.putKey(key)
        _ = try await setup.create(server, hostKey: server.hostPublicKeys[0])
        let unknown = MachineRef(clusterId: setup.machine.clusterId, machineId: .random())

        let before = try await setup.driver.states(of: [setup.machine, unknown], context: setup.context)
        #expect(before[setup.machine]?.state == .running)
        #expect(before[unknown]?.state == .notFound)

        await server.stop()
        let after = try await setup.driver.states(of: [setup.machine], context: setup.context)
        #expect(after[setup.machine]?.state == .stopped)
        #expect(after[setup.machine]?.detail?.contains("refuses SSH connections") == true)
    }

    @Test func stopRestartAndKillRunTheConfiguredHarmlessCommands() async throws {
        let sshd = try await Servers.ready().sshd
        let setup = try await Setup()
        try await setup.putKey(sshd.userKey)
        let (stopped, restarted, killed) = (markerPath(), markerPath(), markerPath())
        defer { for path in [stopped, restarted, killed] { try? FileManager.default.removeItem(atPath: path) } }
        _ = try await setup.create(sshd.server, hostKey: sshd.server.hostPublicKeys[0], extra: [
            "stop-command": .string("touch \(stopped)"), "restart-command": .string("touch \(restarted)"),
            "kill-command": .string("touch \(killed)"),
        ])
        let afterStop = try await setup.driver.stop(setup.machine, timeout: nil, context: setup.context)
        #expect(afterStop.state == .stopped)
        #expect(FileManager.default.fileExists(atPath: stopped))
        #expect(!FileManager.default.fileExists(atPath: killed))
        _ = try await setup.driver.restart(setup.machine, timeout: nil, context: setup.context)
        #expect(FileManager.default.fileExists(atPath: restarted))
        _ = try await setup.driver.kill(setup.machine, context: setup.context)
        #expect(FileManager.default.fileExists(atPath: killed))
    }

    @Test func startIsUnsupportedWithAClearMessage() async throws {
        let setup = try await Setup()
        let error = await failure { () async throws(DriverError) in try await setup.driver.start(setup.machine, context: setup.context) }
        #expect(error?.operationError.code == .unsupported)
        #expect(error?.operationError.message.contains("cannot power one on") == true)
    }

    @Test func removeForgetsTheMachineAndIsIdempotent() async throws {
        let sshd = try await Servers.ready().sshd
        let setup = try await Setup()
        try await setup.putKey(sshd.userKey)
        _ = try await setup.create(sshd.server, hostKey: sshd.server.hostPublicKeys[0])
        let first = try await setup.driver.remove(setup.machine, context: setup.context)
        #expect(first.alreadyGone == false)
        let second = try await setup.driver.remove(setup.machine, context: setup.context)
        #expect(second.alreadyGone == true)
        let states = try await setup.driver.states(of: [setup.machine], context: setup.context)
        #expect(states[setup.machine]?.state == .notFound)
    }

    @Test func aDeniedAddressFailsTheCreateBeforeAnyConnection() async throws {
        let sshd = try await Servers.ready().sshd
        let setup = try await Setup()
        try await setup.putKey(sshd.userKey)
        // A listener on 127.0.0.1 (where the control plane's services live): nothing may connect to it.
        let listener = try LoopbackListener()
        defer { listener.close() }
        var options: [String: JSONValue] = [
            "ip-address": .string("127.0.0.1"), "ssh-port": .number(Double(listener.port)), "ssh-user": .string(sshd.server.user),
            "accept-new-host-key": .bool(true), "install-ssh-trust": .bool(false),
        ]
        let create = MachineCreate(driver: "generic", clusterId: setup.machine.clusterId, clusterName: "existing",
                                   machineId: setup.machine.machineId, machineName: "host-1", options: options)
        let error = await failure { () async throws(DriverError) in try await setup.driver.create(create, context: setup.context) }
        guard case .invalidArgument(field: "ip-address", let message)? = error else {
            Issue.record("expected invalidArgument(ip-address), got \(String(describing: error))")
            return
        }
        #expect(message.contains("127.0.0.1/32") && message.contains("GENERIC_ADDRESS_DENY"), "\(message)")
        let precheck = await failure { () async throws(DriverError) in try await setup.driver.preCreateCheck([create], context: setup.context) }
        #expect(precheck == error)
        #expect(listener.pendingConnections() == 0)
        #expect(try await setup.context.driverData(
            GenericMachineData.self, version: GenericMachineData.version, for: setup.machine.machineId) == nil)

        // A host name is refused rather than resolved.
        options["ip-address"] = .string("localhost")
        let named = await failure { () async throws(DriverError) in
            try await setup.driver.create(
                MachineCreate(driver: "generic", clusterId: setup.machine.clusterId, clusterName: "existing",
                              machineId: setup.machine.machineId, machineName: "host-1", options: options),
                context: setup.context)
        }
        guard case .invalidArgument(field: "ip-address", let namedMessage)? = named else {
            Issue.record("expected invalidArgument(ip-address), got \(String(describing: named))")
            return
        }
        #expect(namedMessage.contains("not an IP address"))
        #expect(listener.pendingConnections() == 0)
    }

    @Test func everyLaterConnectionIsCheckedAgain() async throws {
        let sshd = try await Servers.ready().sshd
        var setup = try await Setup()  // var: the driver's policy changes below
        try await setup.putKey(sshd.userKey)
        _ = try await setup.create(sshd.server, hostKey: sshd.server.hostPublicKeys[0])
        // The operator now denies the machine's address: no later operation connects to it.
        setup.driver.addresses = try #require(AddressPolicy(.generic, allow: ["0.0.0.0/0"], deny: ["127.0.0.2/32"]))
        let stop = await failure { () async throws(DriverError) in try await setup.driver.stop(setup.machine, timeout: nil, context: setup.context) }
        guard case .invalidArgument(field: "ip-address", _)? = stop else {
            Issue.record("expected invalidArgument(ip-address), got \(String(describing: stop))")
            return
        }
        let states = try await setup.driver.states(of: [setup.machine], context: setup.context)
        #expect(states[setup.machine]?.state == .error)
        #expect(states[setup.machine]?.detail?.contains("127.0.0.2/32") == true)
        let probe = try await setup.driver.probe(setup.machine, context: setup.context)
        #expect(!probe.reachable)
        #expect(probe.error?.contains("GENERIC_ADDRESS_DENY") == true)
        let removed = try await setup.driver.remove(setup.machine, context: setup.context)
        #expect(removed.alreadyGone == false)
    }

    @Test func announcesItsOptionsWithEnvironmentFallbacks() {
        let driver = GenericDriver()
        let specs = Dictionary(uniqueKeysWithValues: driver.createOptions.map { ($0.name.rawValue, $0) })
        #expect(specs["ssh-key"]?.secret == true && specs["ssh-key"]?.required == true)
        #expect(specs["ip-address"]?.envVar == "PAZ_GENERIC_IP_ADDRESS")
        #expect(specs["stop-command"]?.default == .string("sudo shutdown -P now"))
        #expect(!driver.capabilities.contains(.start))
    }
}

/// A TCP listener on 127.0.0.1 that never accepts: a connection attempt would complete in the kernel's
/// backlog, where ``pendingConnections()`` finds it.
final class LoopbackListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Accepts (and closes) whatever connected so far; how many there were.
    func pendingConnections() -> Int {
        var count = 0
        while true {
            let connection = accept(descriptor, nil, nil)
            guard connection >= 0 else { return count }
            Foundation.close(connection)
            count += 1
        }
    }

    func close() { Foundation.close(descriptor) }
}
