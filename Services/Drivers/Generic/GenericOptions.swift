import Foundation
package import PazDriverKit
package import PazSchemas

/// The generic driver's create options (Docker Machine's generic driver), parsed and checked.
///
/// | option | type | default | |
/// |---|---|---|---|
/// | `ip-address` | string | required | the machine's IPv4 or IPv6 address (a literal; the operator's ``AddressPolicy`` decides which are allowed) |
/// | `ssh-port` | integer | 22 | |
/// | `ssh-user` | string | root | |
/// | `ssh-key` | string, secret | required | OpenSSH private key text (sealed in Redis, never in commands) |
/// | `ssh-host-key` | string | | the expected host key line (`ssh-ed25519 AAAA…`), e.g. from `ssh-keyscan` |
/// | `accept-new-host-key` | boolean | false | trust on first use: record the key seen at create instead |
/// | `stop-command` | string | `sudo shutdown -P now` | |
/// | `restart-command` | string | `sudo shutdown -r now` | |
/// | `kill-command` | string | `sudo poweroff -f` | |
/// | `install-ssh-trust` | boolean | true | install the tenant's user CA and a host certificate (sshd) |
/// | `ssh-trust-dir` | string | `/etc/ssh/sshd_config.d` | where sshd reads `*.conf` (Debian's sshd_config includes it) |
/// | `sudo` | string | `sudo` | prefix of the privileged install/remove commands (empty: none) |
/// | `sshd-reload-command` | string | `systemctl reload ssh \|\| systemctl reload sshd` | run (with `sudo`) after install and removal |
package struct GenericOptions: Sendable, Hashable {
    package var ipAddress: String
    package var sshPort: Int
    package var sshUser: String
    package var sshHostKey: String?
    package var acceptNewHostKey: Bool
    package var stopCommand: String
    package var restartCommand: String
    package var killCommand: String
    package var installSSHTrust: Bool
    package var sshTrustDirectory: String
    package var sudo: String
    package var sshdReloadCommand: String

    /// The specs announced in the registry.
    package static let specs: [CreateOptionSpec] = [
        spec("ip-address", .string, required: true,
             "IPv4 or IPv6 address of the existing machine (host names are not resolved; the operator may deny ranges)"),
        spec("ssh-port", .integer, default: .number(22), in: sshPorts, "SSH port of the machine"),
        spec("ssh-user", .string, default: .string("root"), "SSH user (needs passwordless sudo for stop/restart/kill)"),
        spec("ssh-key", .string, required: true, "OpenSSH private key (file content) authorized for ssh-user", secret: true),
        spec("ssh-host-key", .string,
             "The machine's SSH host key line, e.g. 'ssh-ed25519 AAAA…' from ssh-keyscan; required unless accept-new-host-key"),
        spec("accept-new-host-key", .boolean, default: .bool(false),
             "Trust on first use: record the host key the machine presents at create instead of checking ssh-host-key"),
        spec("stop-command", .string, default: .string("sudo shutdown -P now"), "Command that stops the machine"),
        spec("restart-command", .string, default: .string("sudo shutdown -r now"), "Command that restarts the machine"),
        spec("kill-command", .string, default: .string("sudo poweroff -f"), "Command that powers the machine off at once"),
        spec("install-ssh-trust", .boolean, default: .bool(true),
             "Install the tenant's SSH user CA and a host certificate from the SSH broker into sshd (needs sudo)"),
        spec("ssh-trust-dir", .string, default: .string(GenericOptions.defaultTrustDirectory),
             "Directory whose *.conf sshd includes; the CA, host key and certificate files go there too"),
        spec("sudo", .string, default: .string("sudo"), "Prefix of the privileged install and removal commands (empty: none)"),
        spec("sshd-reload-command", .string, default: .string(GenericOptions.defaultReloadCommand),
             "Makes sshd read its configuration again (run with the sudo prefix)"),
    ]

    /// The accepted `ssh-port`s: announced (the gateway checks them) and checked here.
    static let sshPorts = 1...65_535
    static let defaultTrustDirectory = "/etc/ssh/sshd_config.d"
    static let defaultReloadCommand = "systemctl reload ssh || systemctl reload sshd"

    private static func spec(
        _ name: String, _ type: CreateOptionSpec.ValueType, required: Bool = false, default value: JSONValue? = nil,
        in range: ClosedRange<Int>? = nil, _ description: String, secret: Bool = false
    ) -> CreateOptionSpec {
        .driverOption("generic", name, type, required: required, default: value, in: range, description, secret: secret)
    }

    /// Parses a command's options; errors name the option.
    package init(_ values: [String: JSONValue]) throws(DriverError) {
        let options = CreateOptionValues(values)
        guard let ip = options.optionalString("ip-address") else {
            throw .invalidArgument(field: "ip-address", message: "ip-address is required: the address of the existing machine")
        }
        ipAddress = ip
        sshPort = try options.integer("ssh-port", default: 22, in: Self.sshPorts)
        sshUser = try options.string("ssh-user", default: "root")
        sshHostKey = options.optionalString("ssh-host-key")
        acceptNewHostKey = try options.boolean("accept-new-host-key", default: false)
        stopCommand = try options.string("stop-command", default: "sudo shutdown -P now")
        restartCommand = try options.string("restart-command", default: "sudo shutdown -r now")
        killCommand = try options.string("kill-command", default: "sudo poweroff -f")
        installSSHTrust = try options.boolean("install-ssh-trust", default: true)
        sshTrustDirectory = try options.string("ssh-trust-dir", default: Self.defaultTrustDirectory)
        guard sshTrustDirectory.hasPrefix("/"), !sshTrustDirectory.contains("'") else {
            throw .invalidArgument(field: "ssh-trust-dir", message: "ssh-trust-dir must be an absolute path without quotes")
        }
        sudo = values["sudo"]?.stringValue ?? "sudo"
        sshdReloadCommand = try options.string("sshd-reload-command", default: Self.defaultReloadCommand)
        guard sshHostKey != nil || acceptNewHostKey else {
            throw .invalidArgument(
                field: "ssh-host-key",
                message: "ssh-host-key is required to verify \(ipAddress):\(sshPort): pass the machine's host key line "
                    + "(e.g. from 'ssh-keyscan -p \(sshPort) \(ipAddress)', checked out of band), or set "
                    + "accept-new-host-key=true to trust the key it presents now (trust on first use)")
        }
    }
}

/// What the generic driver keeps per machine (driver-data blob, version ``version``).
package struct GenericMachineData: Sendable, Hashable, Codable {
    /// The blob's schema version.
    package static let version = 1
    package var host: String
    package var port: Int
    package var user: String
    /// The verified (or, with accept-new-host-key, recorded) host key line.
    package var hostKey: String
    package var stopCommand: String
    package var restartCommand: String
    package var killCommand: String
    /// Files installed for the SSH trust (removed at `rm`), nil when nothing was installed.
    package var trustFiles: [String]?
    /// The host key sshd presents with the installed certificate (also accepted from then on).
    package var certifiedHostKey: String?
    /// How to run privileged commands and reload sshd, as given at create.
    package var sudo: String?
    package var sshdReloadCommand: String?
}

extension AddressPolicy.Owner {
    /// The generic driver's policy (`generic.addressAllow`, `generic.addressDeny`) checks `ip-address`.
    package static let generic = AddressPolicy.Owner(driver: "generic", address: "ip-address")
}
