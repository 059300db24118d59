package import PazGuestConfig
package import PazSchemas

/// An image the QEMU driver knows: where it is, how its digest is published, and how the guest is
/// configured at first boot.
package struct QEMUImage: Sendable, Hashable {
    /// Where the image's digest is published.
    package struct DigestSource: Sendable, Hashable {
        package enum Format: String, Sendable, Hashable {
            /// `<hex>  <file name>` or `<hex> *<file name>` lines (SHA256SUMS, SHA512SUMS).
            case checksumList = "checksum-list"
            /// Flatcar's `.DIGESTS`: `<hex>  <file name>` lines under `# <ALGORITHM> HASH` headings.
            case flatcarDigests = "flatcar-digests"
            /// CoreOS stream metadata JSON: `architectures.x86_64.artifacts.qemu.formats["qcow2.xz"].disk.sha256`.
            case coreOSStream = "coreos-stream"
        }

        package var url: String
        package var algorithm: ImageDigest.Algorithm
        package var format: Format
    }

    /// How the published file is compressed (the image cache stores files as downloaded, it does not
    /// decompress).
    package enum Compression: String, Sendable, Hashable {
        case xz
    }

    package var id: String
    package var name: String
    package var description: String
    /// nil when the user supplies the URL (a locally built image).
    package var url: String?
    package var digestSource: DigestSource?
    package var guestConfig: GuestConfigKind
    package var defaultUser: String
    package var format: BaseImageFormat
    package var compression: Compression?

    /// The catalog entry clients see; `extra` carries every field above.
    package var catalogImage: CatalogImage {
        var extra: [String: JSONValue] = [
            "description": .string(description),
            "architecture": .string("x86_64"),
            "url": url.map(JSONValue.string) ?? .null,
            "format": .string(format.rawValue),
            "compression": compression.map { JSONValue.string($0.rawValue) } ?? .null,
            "guestConfiguration": .string(guestConfig.rawValue),
            "defaultUser": .string(defaultUser),
        ]
        if let digestSource {
            extra["digestSource"] = .object([
                "url": .string(digestSource.url),
                "algorithm": .string(digestSource.algorithm.rawValue),
                "format": .string(digestSource.format.rawValue),
            ])
        }
        return CatalogImage(id: id, name: name, extra: extra)
    }
}

/// The `images` catalog of the QEMU driver (x86_64 only).
package enum ImageCatalog {
    package static let images: [QEMUImage] = [
        QEMUImage(
            id: "debian-12", name: "Debian 12 (bookworm) generic cloud",
            description: "Debian's latest bookworm genericcloud image (qcow2), configured by cloud-init.",
            url: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
            digestSource: .init(
                url: "https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS", algorithm: .sha512, format: .checksumList
            ),
            guestConfig: .cloudInit, defaultUser: "debian", format: .qcow2
        ),
        QEMUImage(
            id: "ubuntu-24.04", name: "Ubuntu 24.04 LTS (noble) server cloud image",
            description: "Ubuntu's current noble server cloud image (qcow2 despite the .img name), configured by cloud-init.",
            url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
            digestSource: .init(
                url: "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS", algorithm: .sha256, format: .checksumList
            ),
            guestConfig: .cloudInit, defaultUser: "ubuntu", format: .qcow2
        ),
        QEMUImage(
            id: "flatcar-stable", name: "Flatcar Container Linux (stable)",
            description: "Flatcar's current stable QEMU image (qcow2), configured by Ignition.",
            url: "https://stable.release.flatcar-linux.net/amd64-usr/current/flatcar_production_qemu_image.img",
            digestSource: .init(
                url: "https://stable.release.flatcar-linux.net/amd64-usr/current/flatcar_production_qemu_image.img.DIGESTS",
                algorithm: .sha512, format: .flatcarDigests
            ),
            guestConfig: .ignitionFlatcar, defaultUser: "core", format: .qcow2
        ),
        QEMUImage(
            id: "fedora-coreos-stable", name: "Fedora CoreOS (stable)",
            description: "Fedora CoreOS stable, configured by Ignition. Published only xz-compressed (qcow2.xz; its "
                + "location and sha256 are in the stream metadata) and the image cache does not decompress: "
                + "decompress it yourself and pass the .qcow2 as a file:// or http:// image-url with its "
                + "uncompressed-sha256 as image-digest.",
            url: nil,
            digestSource: .init(
                url: "https://builds.coreos.fedoraproject.org/streams/stable.json", algorithm: .sha256, format: .coreOSStream
            ),
            guestConfig: .ignitionFedoraCoreOS, defaultUser: "core", format: .qcow2, compression: .xz
        ),
        QEMUImage(
            id: "debian-12-paz-test", name: "Debian 12 Paz test image",
            description: "A small Debian 12 image built locally by deploy/images/build-debian-test-image.sh, configured "
                + "by cloud-init. Pass its file:// or http:// URL as image-url and its sha256 as image-digest.",
            url: nil, digestSource: nil,
            guestConfig: .cloudInit, defaultUser: "paz", format: .qcow2
        ),
    ]

    /// The image called `id`.
    package static func image(id: String) -> QEMUImage? {
        images.first { $0.id == id }
    }

    /// The catalog entries whose id or name contains `query.search` (any case); every location is this host.
    package static func catalogImages(matching query: CatalogImagesQuery) -> [CatalogImage] {
        let search = query.search?.lowercased() ?? ""
        return images
            .filter { search.isEmpty || $0.id.lowercased().contains(search) || $0.name.lowercased().contains(search) }
            .map(\.catalogImage)
    }
}
