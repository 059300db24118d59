import PazDriverKit

/// The QEMU driver (placeholder until the driver lands).
package struct QEMUDriver {
    /// `paz-driver-qemu`.
    package static func runService() async throws {}
}
