package import PazSchemas

/// A machine size of the QEMU driver.
package struct QEMUSize: Sendable, Hashable {
    package var id: String
    package var vcpus: Int
    package var memoryMiB: Int
    package var diskGiB: Int

    /// The catalog entry clients see (no price: the machine runs on this host).
    package var catalogSize: CatalogSize {
        CatalogSize(
            id: id, name: "\(id): \(vcpus) vCPU, \(memoryMiB / 1024) GiB RAM, \(diskGiB) GiB disk",
            vcpus: vcpus, ramMiB: memoryMiB, diskGiB: diskGiB
        )
    }
}

/// The `sizes` catalog of the QEMU driver.
package enum SizeCatalog {
    package static let sizes: [QEMUSize] = [
        QEMUSize(id: "small", vcpus: 1, memoryMiB: 1024, diskGiB: 10),
        QEMUSize(id: "medium", vcpus: 2, memoryMiB: 2048, diskGiB: 20),
        QEMUSize(id: "large", vcpus: 4, memoryMiB: 4096, diskGiB: 40),
    ]

    /// The size called `id`.
    package static func size(id: String) -> QEMUSize? {
        sizes.first { $0.id == id }
    }
}
