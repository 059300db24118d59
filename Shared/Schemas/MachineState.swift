/// The state of a machine as a driver observed it. Wire strings are lowercase, `notFound` is
/// `"not-found"`.
///
/// A state string this build does not know (added by a newer minor version) decodes as
/// ``unknown``, so an old reader degrades instead of dead-lettering the message.
package enum MachineState: String, Sendable, Hashable, Codable, CaseIterable {
    case running
    case stopped
    case starting
    case stopping
    case error
    case notFound = "not-found"
    case unknown

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self = MachineState(rawValue: try container.decode(String.self)) ?? .unknown
    }

    /// Whether the state will change without anyone acting (starting, stopping).
    package var isTransitional: Bool {
        self == .starting || self == .stopping
    }
}
