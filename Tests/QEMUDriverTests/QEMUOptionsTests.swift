import PazDriverKit
import PazGuestConfig
@testable import PazQEMUDriver
import PazSchemas
import Testing

/// The create options: defaults from the catalog and the size, and a clear error naming the option
/// for every bad value.
@Suite("QEMU create options")
struct QEMUOptionsTests {
    static let digest = "sha256:" + String(repeating: "ab", count: 32)

    @Test("Defaults: the size's vCPUs, memory and disk; cloud-init; user paz; auto acceleration")
    func defaults() throws {
        let options = try QEMUOptions(["image-url": .string("file:///i.qcow2"), "image-digest": .string(Self.digest)])
        #expect(options.cpus == 1 && options.memoryMiB == 1024 && options.diskGiB == 10 && !options.diskIsExplicit)
        #expect(options.guestConfig == .cloudInit && options.sshUser == "paz" && options.accel == .auto)
        #expect(options.bootTimeout == .seconds(300))
    }

    @Test("A catalog image gives its URL, guest configuration and user; explicit options win")
    func catalogImage() throws {
        let flatcar = try QEMUOptions(["image": .string("flatcar-stable"), "image-digest": .string(Self.digest)])
        #expect(flatcar.imageURL.hasPrefix("https://stable.release.flatcar-linux.net/"))
        #expect(flatcar.guestConfig == .ignitionFlatcar && flatcar.sshUser == "core")
        let sized = try QEMUOptions([
            "image": .string("debian-12"), "image-digest": .string(Self.digest), "size": .string("medium"),
            "cpus": .number(3), "disk": .string("30"), "accel": .string("tcg"), "ssh-user": .string("ops"),
        ])
        #expect(sized.cpus == 3 && sized.memoryMiB == 2048 && sized.diskGiB == 30 && sized.diskIsExplicit)
        #expect(sized.accel == .tcg && sized.sshUser == "ops" && sized.guestConfig == .cloudInit)
    }

    @Test("Bad input names the option", arguments: [
        (["image-digest": JSONValue.string(digest)], "image-url"),
        (["image-url": .string("file:///i")], "image-digest"),
        (["image-url": .string("file:///i"), "image-digest": .string("sha256:xyz")], "image-digest"),
        (["image": .string("windows-95"), "image-digest": .string(digest)], "image"),
        (["image-url": .string("file:///i"), "image-digest": .string(digest), "accel": .string("hvf")], "accel"),
        (["image-url": .string("file:///i"), "image-digest": .string(digest), "size": .string("huge")], "size"),
        (["image-url": .string("file:///i"), "image-digest": .string(digest), "cpus": .number(0)], "cpus"),
        (["image-url": .string("file:///i"), "image-digest": .string(digest), "ssh-user": .string("root")], "ssh-user"),
        (["image-url": .string("file:///i"), "image-digest": .string(digest), "guest-config": .string("kickstart")], "guest-config"),
    ])
    func badInput(values: [String: JSONValue], field: String) {
        #expect {
            try QEMUOptions(values)
        } throws: { error in
            guard case DriverError.invalidArgument(let named, let message) = error else { return false }
            return named == field && !message.isEmpty
        }
    }

    @Test("A missing digest for a catalog image says where its digests are published")
    func digestSourceInMessage() {
        #expect {
            try QEMUOptions(["image": .string("debian-12")])
        } throws: { error in
            "\(error)".contains("https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS")
        }
    }
}
