import Foundation
import PazGatewayAPI
import PazSchemas

/// One `GET /v1/status` answer: the clusters of a ``StatusView`` at the moment `now`.
///
/// What moves with time — `generatedAt`, each machine's `ageSeconds` and `stale` — is computed here
/// for every answer; the rest was prepared with the view. ``json`` writes the bytes of the
/// `StatusReport` schema directly (the hot path); ``report`` builds the same answer as generated types.
struct StatusDocument {
    /// Keep the answer, but revalidate (`If-None-Match`) before using it again.
    static let cacheControl = "no-cache"

    let view: StatusView
    let clusters: ArraySlice<StatusView.Cluster>
    let now: Date
    let staleAfterSeconds: Int

    /// The answer's `StatusReport` JSON.
    var json: [UInt8] {
        var json = JSONBytes(capacity: 256 + clusters.reduce(0) { $0 + $1.jsonPrefix.count + $1.machines.count * 200 })
        json.raw("{\"generatedAt\":")
        json.string(Timestamp.formatSeconds(now))
        json.raw(",\"staleAfterSeconds\":")
        json.integer(staleAfterSeconds)
        json.raw(",\"clusters\":[")
        for (clusterIndex, cluster) in clusters.enumerated() {
            if clusterIndex > 0 { json.raw(",") }
            json.raw(cluster.jsonPrefix)
            for (index, machine) in cluster.machines.enumerated() {
                if index > 0 { json.raw(",") }
                json.raw(machine.jsonPrefix)
                if let age = age(of: machine) {
                    json.raw(",\"ageSeconds\":")
                    json.seconds(age)
                }
                json.raw(",\"stale\":")
                json.bool(isStale(machine))
                json.raw("}")
            }
            json.raw("]}")
        }
        json.raw("]}")
        return json.bytes
    }

    /// The same answer as the generated `StatusReport`.
    var report: Components.Schemas.StatusReport {
        Components.Schemas.StatusReport(
            generatedAt: now, staleAfterSeconds: staleAfterSeconds,
            clusters: clusters.map { cluster in
                Components.Schemas.ClusterStatus(
                    id: cluster.id.rawValue, name: cluster.name.rawValue, driver: cluster.driver.rawValue,
                    states: ResourceMapper.counts(cluster.machines.map(\.state)),
                    machines: cluster.machines.map { machine in
                        Components.Schemas.MachineStatus(
                            id: machine.id.rawValue, name: machine.name.rawValue,
                            state: Components.Schemas.MachineState(rawValue: machine.state.rawValue) ?? .unknown,
                            observedAt: machine.observedAt, ageSeconds: age(of: machine), stale: isStale(machine))
                    })
            })
    }

    /// The answer's weak validator: the status version, the clusters shown and which machines are
    /// stale (and the threshold), so that it changes whenever anything but the time-moved values does.
    var etag: String {
        var hash = FNV1a()
        hash.add(staleAfterSeconds)
        for cluster in clusters {
            hash.add(cluster.id.rawValue)
            for machine in cluster.machines { hash.add(isStale(machine) ? 1 : 0) }
        }
        return "W/\"s\(view.version).\(String(hash.value, radix: 16))\""
    }

    private func age(of machine: StatusView.Machine) -> Double? {
        machine.observedAt.map { max(0, now.timeIntervalSince($0)) }
    }

    /// Stale when never observed, or observed longer ago than the threshold.
    private func isStale(_ machine: StatusView.Machine) -> Bool {
        guard let observedAt = machine.observedAt else { return true }
        return now.timeIntervalSince(observedAt) > Double(staleAfterSeconds)
    }
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, RFC 9110 §13.1.2): `*`, or
/// any listed tag equal to it once `W/` is ignored.
func ifNoneMatch(_ header: String?, matches etag: String) -> Bool {
    guard let header else { return false }
    let opaque = { (tag: Substring) -> Substring in
        let trimmed = tag.trimmingCharacters(in: .whitespaces)
        return trimmed.hasPrefix("W/") ? Substring(trimmed.dropFirst(2)) : Substring(trimmed)
    }
    let wanted = opaque(Substring(etag))
    return header.split(separator: ",").contains { tag in
        let tag = opaque(tag)
        return tag == "*" || tag == wanted
    }
}

/// 64-bit FNV-1a, for validators (not for security).
private struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ text: String) {
        for byte in text.utf8 { add(byte) }
        add(0xFF)
    }

    mutating func add(_ number: Int) {
        for shift in stride(from: 0, to: 64, by: 8) { add(UInt8(truncatingIfNeeded: number >> shift)) }
    }

    mutating func add(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
}
