import Foundation

/// How QEMU runs guest code: `kvm` (hardware virtualization), `tcg` (software emulation) or `auto`
/// (KVM when it works, else TCG).
package enum QEMUAccel: String, Sendable, Hashable, Codable, CaseIterable {
    case auto, kvm, tcg

    /// Whether /dev/kvm can be opened for reading and writing (it exists and we may use it).
    package static var kvmDeviceUsable: Bool {
        let descriptor = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        close(descriptor)
        return true
    }
}

/// The verdict on KVM for this host, learned once per driver process by the first `auto` boot.
///
/// Some hosts (nested virtualization without support for it, as on our build machines) open
/// /dev/kvm fine but hang the guest right after the kernel's "Probing EDD": the first `auto` boot
/// under KVM watches the serial console, and without kernel progress within ``probeWindow`` it
/// kills that VM and boots it under TCG; every later `auto` boot then goes straight to TCG.
package actor AccelVerdict {
    /// How long a KVM boot may show no kernel progress on the console.
    package let probeWindow: Duration
    private var kvmWorks: Bool?

    package init(probeWindow: Duration = .seconds(15)) {
        self.probeWindow = probeWindow
    }

    /// The accelerator to try first for `requested`; `probe` is true when the boot must be watched.
    package func choose(_ requested: QEMUAccel) -> (accel: QEMUAccel, probe: Bool) {
        switch requested {
        case .kvm, .tcg: return (requested, false)
        case .auto:
            guard QEMUAccel.kvmDeviceUsable, kvmWorks != false else { return (.tcg, false) }
            return (.kvm, kvmWorks == nil)
        }
    }

    /// Records what the watched boot showed.
    package func record(kvmWorks: Bool) {
        self.kvmWorks = kvmWorks
    }

    /// Whether `console` shows the kernel running: a line from the kernel or init after the boot
    /// loader, not just firmware and "Probing EDD".
    package static func consoleShowsProgress(_ console: String) -> Bool {
        let markers = ["Linux version", "Run /init", "systemd[1]", "Welcome to", "login:", "cloud-init", "Ignition"]
        return markers.contains { console.contains($0) }
    }
}
