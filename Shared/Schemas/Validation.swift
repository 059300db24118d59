/// A value that breaks a naming rule; ``field`` says which input to fix.
package struct ValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with the value.
    package enum Problem: Sendable, Equatable {
        case empty
        case tooLong(length: Int, maximum: Int)
        case invalidCharacter(Character)
        case leadingHyphen
        case trailingHyphen
    }

    /// The field (or flag, or JSON key) that holds the bad value, e.g. `"clusterName"`.
    package let field: String
    /// The rejected value.
    package let value: String
    /// The rule it breaks.
    package let problem: Problem

    /// A message a user can act on, naming the field and the rule.
    package var message: String {
        switch problem {
        case .empty:
            "\(field) must not be empty"
        case .tooLong(let length, let maximum):
            "\(field) is \(length) characters long; the maximum is \(maximum)"
        case .invalidCharacter(let character):
            "\(field) \"\(value)\" contains \(String(reflecting: String(character))); allowed are "
                + (kind == .dnsLabel
                    ? "lowercase letters a-z, digits 0-9 and '-'" : "ASCII letters, digits, '.', '_' and '-'")
        case .leadingHyphen:
            "\(field) \"\(value)\" must not start with '-'"
        case .trailingHyphen:
            "\(field) \"\(value)\" must not end with '-'"
        }
    }

    package var description: String { message }

    /// Which rule was applied.
    package enum Kind: Sendable, Equatable {
        case dnsLabel
        case identifier
    }

    /// The rule that was applied.
    package let kind: Kind
}

/// The naming rules shared by the gateway, the CLI and the drivers.
package enum Validation {
    /// Longest DNS label (RFC 1035).
    package static let dnsLabelMaximumLength = 63
    /// Longest identifier.
    package static let identifierMaximumLength = 128

    /// Checks that `value` is a DNS label: 1–63 characters of `[a-z0-9-]`, not starting or ending
    /// with `-`. Cluster, machine and driver names follow this rule.
    package static func dnsLabel(_ value: String, field: String) throws(ValidationError) {
        func fail(_ problem: ValidationError.Problem) -> ValidationError {
            ValidationError(field: field, value: value, problem: problem, kind: .dnsLabel)
        }
        guard !value.isEmpty else { throw fail(.empty) }
        let bytes = value.utf8
        if bytes.count <= dnsLabelMaximumLength, bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-"),
           bytes.allSatisfy({ isLowercaseAlphanumericByte($0) || $0 == UInt8(ascii: "-") }) {
            return
        }
        guard value.count <= dnsLabelMaximumLength else {
            throw fail(.tooLong(length: value.count, maximum: dnsLabelMaximumLength))
        }
        if let bad = value.first(where: { !isLowercaseAlphanumeric($0) && $0 != "-" }) {
            throw fail(.invalidCharacter(bad))
        }
        guard value.first != "-" else { throw fail(.leadingHyphen) }
        guard value.last != "-" else { throw fail(.trailingHyphen) }
    }

    /// Checks that `value` is an identifier: 1–128 characters of `[A-Za-z0-9._-]`.
    package static func identifier(_ value: String, field: String) throws(ValidationError) {
        func fail(_ problem: ValidationError.Problem) -> ValidationError {
            ValidationError(field: field, value: value, problem: problem, kind: .identifier)
        }
        guard !value.isEmpty else { throw fail(.empty) }
        // Bytes, not Characters: every record read from Redis holds several identifiers, and Unicode
        // property lookups per character dominated decoding (GET /v1/status).
        if value.utf8.count <= identifierMaximumLength, value.utf8.allSatisfy(isIdentifierByte) { return }
        guard value.count <= identifierMaximumLength else {
            throw fail(.tooLong(length: value.count, maximum: identifierMaximumLength))
        }
        let bad = value.first { $0.asciiValue.map { !isIdentifierByte($0) } ?? true } ?? " "
        throw fail(.invalidCharacter(bad))
    }

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// The JSON key a decoded value sits under (array indexes skipped), for error messages.
    static func fieldName(_ codingPath: [any CodingKey], default defaultName: String) -> String {
        codingPath.last(where: { $0.intValue == nil })?.stringValue ?? defaultName
    }

    private static func isLowercaseAlphanumeric(_ character: Character) -> Bool {
        character.asciiValue.map(isLowercaseAlphanumericByte) ?? false
    }

    private static func isLowercaseAlphanumericByte(_ ascii: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(ascii) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(ascii)
    }
}
