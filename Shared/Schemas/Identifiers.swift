package import Foundation

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

    /// A new identifier: the kind's prefix, `_`, and a ULID (time-ordered, 26 Crockford base-32
    /// characters), e.g. `cls_01JD3K4Z5XJ2W8Q6T9R0M1N2P3` — the form the gateway's API documents.
    package static func random() -> Self where Tag: IdentifierPrefix {
        Self(unchecked: "\(Tag.prefix)_\(ULID.make())")
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
    package enum Tenant: IdentifierPrefix { package static let prefix = "tnt" }
    package enum Cluster: IdentifierPrefix { package static let prefix = "cls" }
    package enum Machine: IdentifierPrefix { package static let prefix = "mch" }
    package enum Operation: IdentifierPrefix { package static let prefix = "op" }
    package enum Message: IdentifierPrefix { package static let prefix = "msg" }
    package enum IdempotencyKey {}
}

/// The prefix of generated identifiers of one kind (`cls` for clusters…), so an id says what it names.
package protocol IdentifierPrefix {
    static var prefix: String { get }
}

/// ULIDs: 48 bits of milliseconds since 1970 and 80 random bits, in Crockford base 32.
package enum ULID {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// A new ULID for the current time.
    package static func make(now: Date = Date()) -> String {
        var generator = IdentifierRandom()
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let high = UInt64.random(in: 0...UInt64(UInt16.max), using: &generator)
        let low = generator.next() as UInt64
        return String(unsafeUninitializedCapacity: 26) { text in
            // 48 bits of time = 10 characters (the first holds 3 bits).
            for (index, shift) in stride(from: 45, through: 0, by: -5).enumerated() {
                text[index] = alphabet[Int((milliseconds >> UInt64(shift)) & 31)]
            }
            // 80 random bits = 16 characters: 16 bits of `high` then 64 of `low`.
            for index in 0..<16 {
                let bitOffset = 75 - index * 5
                let value: UInt64
                if bitOffset >= 64 {
                    value = (high >> UInt64(bitOffset - 64)) & 31
                } else if bitOffset > 59 {
                    value = ((high << UInt64(64 - bitOffset)) | (low >> UInt64(bitOffset))) & 31
                } else {
                    value = (low >> UInt64(bitOffset)) & 31
                }
                text[10 + index] = alphabet[Int(value)]
            }
            return 26
        }
    }
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
