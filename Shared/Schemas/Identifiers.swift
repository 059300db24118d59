import Foundation

/// A typed identifier that travels as a plain JSON string.
///
/// `Tag` only distinguishes kinds at compile time (a `MachineID` cannot be passed where a
/// `ClusterID` is expected). Identifiers are 1–128 characters of `[A-Za-z0-9._-]`, so they are safe
/// inside Redis keys, AMQP routing keys and provider tags; decoding rejects anything else.
package struct Identifier<Tag>: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The identifier as it appears on the wire.
    package let rawValue: String

    /// Wraps `rawValue`, or throws if it is not a valid identifier; `field` names the offending field.
    package init(_ rawValue: String, field: String = "id") throws(ValidationError) {
        try Validation.identifier(rawValue, field: field)
        self.rawValue = rawValue
    }

    /// A new random identifier (a lowercase UUID).
    package static func random() -> Self {
        Self(unchecked: UUID().uuidString.lowercased())
    }

    private init(unchecked rawValue: String) {
        self.rawValue = rawValue
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(String.self)
        do {
            try Validation.identifier(value, field: Validation.fieldName(decoder.codingPath, default: "id"))
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
        self.rawValue = value
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    package var description: String { rawValue }
}

extension Identifier: ExpressibleByStringLiteral {
    /// For literals in code and tests; traps on an invalid literal (a programming error).
    package init(stringLiteral value: String) {
        do {
            try self.init(value)
        } catch {
            preconditionFailure(error.message)
        }
    }
}

/// Tag types for ``Identifier``.
package enum IdentifierTag {
    package enum Tenant {}
    package enum Cluster {}
    package enum Machine {}
    package enum Operation {}
    package enum Message {}
    package enum IdempotencyKey {}
}

/// A tenant (customer account). Every Redis key and every provider tag carries it.
package typealias TenantID = Identifier<IdentifierTag.Tenant>
/// A cluster of machines.
package typealias ClusterID = Identifier<IdentifierTag.Cluster>
/// One machine.
package typealias MachineID = Identifier<IdentifierTag.Machine>
/// A user-visible operation (`GET /v1/operations/{id}`); one operation may span many messages.
package typealias OperationID = Identifier<IdentifierTag.Operation>
/// One message; unique per message, used for de-duplication and `inReplyTo`.
package typealias MessageID = Identifier<IdentifierTag.Message>
/// The client's `Idempotency-Key`: the same key yields the same operation, never a second one.
package typealias IdempotencyKey = Identifier<IdentifierTag.IdempotencyKey>

/// A user-chosen name (cluster, machine, driver): a DNS label, `[a-z0-9-]{1,63}`, not starting or
/// ending with `-`. Validated on construction and on decoding.
package struct ResourceName: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The name as it appears on the wire.
    package let rawValue: String

    /// Wraps `rawValue`, or throws a ``ValidationError`` naming `field`.
    package init(_ rawValue: String, field: String = "name") throws(ValidationError) {
        try Validation.dnsLabel(rawValue, field: field)
        self.rawValue = rawValue
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(String.self)
        do {
            try Validation.dnsLabel(value, field: Validation.fieldName(decoder.codingPath, default: "name"))
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
        self.rawValue = value
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    package var description: String { rawValue }
}

extension ResourceName: ExpressibleByStringLiteral {
    /// For literals in code and tests; traps on an invalid literal (a programming error).
    package init(stringLiteral value: String) {
        do {
            try self.init(value)
        } catch {
            preconditionFailure(error.message)
        }
    }
}
