import Foundation
package import PazDriverKit
package import PazGuestConfig
package import PazSchemas

/// The QEMU driver's create options, parsed and checked.
///
/// | option | type | default | |
/// |---|---|---|---|
/// | `image` | string | | a catalog image id (`paz-machine drivers images qemu`); gives URL, guest configuration and user |
/// | `image-url` | string | the catalog image's | `https://…`, `http://…` or `file://…` of a qcow2 or raw image, from a source the operator allows (``ImageSourcePolicy``) |
/// | `image-digest` | string | required | `sha256:<hex>` (or `sha512:<hex>`) of the image, verified while downloading |
/// | `guest-config` | string | the image's, else `cloud-init` | `cloud-init`, `ignition-flatcar` or `ignition-fcos` |
/// | `size` | string | `small` | a size preset (`paz-machine drivers sizes qemu`) |
/// | `cpus`, `memory`, `disk` | integer | the size's | vCPUs, MiB, GiB (the disk only grows) |
/// | `ssh-user` | string | the image's, else `paz` | the login user made at first boot |
/// | `accel` | string | `auto` | `auto`, `kvm` or `tcg` (`--qemu-accel`) |
/// | `boot-timeout` | integer | 300 | seconds a boot may take until SSH answers |
package struct QEMUOptions: Sendable, Hashable {
    package var imageURL: String
    package var imageDigest: ImageDigest
    package var guestConfig: GuestConfigKind
    package var cpus: Int
    package var memoryMiB: Int
    package var diskGiB: Int
    /// Whether `disk` was given (else the size's disk grows to the image's when that is larger).
    package var diskIsExplicit: Bool
    package var sshUser: String
    package var accel: QEMUAccel
    package var bootTimeout: Duration

    /// The specs announced in the registry.
    package static let specs: [CreateOptionSpec] = [
        spec("image", .string, "Catalog image id (see the driver's images); sets image-url, guest-config and ssh-user"),
        spec("image-url", .string, "URL of the base image (https://, http:// or file://; qcow2 or raw) from a source the operator allows"),
        spec("image-digest", .string, required: true,
             "Digest of the image, sha256:<hex> (or sha512:<hex>), verified while downloading"),
        spec("guest-config", .string, "How the guest is configured: cloud-init, ignition-flatcar or ignition-fcos"),
        spec("size", .string, default: .string("small"), "Size preset (see the driver's sizes)"),
        spec("cpus", .integer, in: ranges.cpus, "Virtual CPUs (overrides the size)"),
        spec("memory", .integer, in: ranges.memory, "Memory in MiB (overrides the size)"),
        spec("disk", .integer, in: ranges.disk, "Disk size in GiB (overrides the size; never smaller than the image)"),
        spec("ssh-user", .string, "Login user created at first boot (default: the image's, else paz)"),
        spec("accel", .string, default: .string("auto"), "Acceleration: auto (KVM when it works, else TCG), kvm or tcg"),
        spec("boot-timeout", .integer, default: .number(300), in: ranges.bootTimeout, "Seconds a boot may take until SSH answers"),
    ]

    /// The accepted range of each integer option: announced (the gateway checks it) and checked here.
    static let ranges = (cpus: 1...64, memory: 256...262_144, disk: 1...4096, bootTimeout: 10...3600)

    private static func spec(
        _ name: String, _ type: CreateOptionSpec.ValueType, required: Bool = false, default value: JSONValue? = nil,
        in range: ClosedRange<Int>? = nil, _ description: String
    ) -> CreateOptionSpec {
        .driverOption("qemu", name, type, required: required, default: value, in: range, description)
    }

    /// Parses a command's options; errors name the option.
    package init(_ values: [String: JSONValue]) throws(DriverError) {
        let options = CreateOptionValues(values)
        let image: QEMUImage?
        if let id = options.optionalString("image") {
            guard let entry = ImageCatalog.image(id: id) else {
                throw .invalidArgument(
                    field: "image", message: "no image '\(id)' in the catalog; known: \(ImageCatalog.images.map(\.id).joined(separator: ", "))")
            }
            image = entry
        } else {
            image = nil
        }
        guard let url = options.optionalString("image-url") ?? image?.url else {
            throw .invalidArgument(field: "image-url", message: "image-url (or a catalog image) is required: the URL of the base image")
        }
        imageURL = url
        guard let digestText = options.optionalString("image-digest") else {
            let source = image?.digestSource.map { ": its digests are published at \($0.url)" } ?? ""
            throw .invalidArgument(field: "image-digest", message: "image-digest is required to verify \(url)\(source)")
        }
        do {
            imageDigest = try ImageDigest(parsing: digestText)
        } catch {
            throw .invalidArgument(field: "image-digest", message: "\(error)")
        }
        let guestConfigName = try options.choice(
            "guest-config", GuestConfigKind.allCases.map(\.rawValue), default: (image?.guestConfig ?? .cloudInit).rawValue)
        guestConfig = GuestConfigKind(rawValue: guestConfigName)!
        let sizeName = try options.choice("size", SizeCatalog.sizes.map(\.id), default: "small")
        let size = SizeCatalog.size(id: sizeName)!
        cpus = try options.integer("cpus", default: size.vcpus, in: Self.ranges.cpus)
        memoryMiB = try options.integer("memory", default: size.memoryMiB, in: Self.ranges.memory)
        let disk: Int? = try options.integer("disk", default: nil, in: Self.ranges.disk)
        diskGiB = disk ?? size.diskGiB
        diskIsExplicit = disk != nil
        sshUser = try options.string("ssh-user", default: image?.defaultUser ?? "paz")
        guard sshUser.range(of: "^[a-z_][a-z0-9_-]{0,31}$", options: .regularExpression) != nil, sshUser != "root" else {
            throw .invalidArgument(field: "ssh-user", message: "ssh-user must be a Linux user name (lower case, not root), not '\(sshUser)'")
        }
        accel = QEMUAccel(rawValue: try options.choice("accel", QEMUAccel.allCases.map(\.rawValue), default: "auto"))!
        bootTimeout = .seconds(try options.integer("boot-timeout", default: 300, in: Self.ranges.bootTimeout))
    }
}
