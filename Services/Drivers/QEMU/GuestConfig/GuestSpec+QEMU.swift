import PazDriverKit
import PazGuestConfig

extension GuestSpec {
    /// ``GuestSpec/validate()``, and at least one interface: a QEMU guest's network is the driver's own
    /// NICs (user-mode networking with the SSH forward, the cluster switch), never a provider's.
    func validateForQEMU() throws(DriverError) {
        try validate()
        guard !interfaces.isEmpty else {
            throw .invalidArgument(field: "interfaces", message: "a guest needs at least one network interface")
        }
    }
}
