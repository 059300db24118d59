import HTTPTypes
import PazGatewayAPI
import PazSchemas

/// The ranges and sizes openapi.yaml declares and the generated server does not enforce: every
/// integer is range-checked before any arithmetic, every string and collection from a request is
/// bounded (422 naming the field).
enum Bounds {
    /// `Quota.machines`.
    static let quota = 0...10_000
    /// `ClusterCreate.count` and the number of `machines` entries.
    static let machines = 1...10_000
    /// `size`, `image`, `location` (characters).
    static let identifierLength = 0...255
    /// Options in one `OptionMap`.
    static let optionsPerMap = 0...64
    /// One string option value, in characters (SSH private keys fit).
    static let optionValueLength = 0...16_384

    /// 400 unless `text` is a cluster name or id, as the `cluster` filter of list operations declares.
    static func check(clusterFilter text: String?) throws(GatewayProblem) {
        guard let text else { return }
        let crockford = Set("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)
        let isId = text.hasPrefix("cls_") && text.utf8.count == 30 && text.utf8.dropFirst(4).allSatisfy { crockford.contains($0) }
        guard isId || (try? ResourceName(text)) != nil else {
            throw GatewayProblem(
                .badRequest, "malformed-request", "Malformed request",
                detail: "cluster must be a cluster name (a DNS label) or id (cls_…)", field: "cluster")
        }
    }

    /// `value` when it lies in `range`; 422 naming `field` otherwise.
    @discardableResult
    static func check(_ value: Int, _ range: ClosedRange<Int>, field: String) throws(GatewayProblem) -> Int {
        guard range.contains(value) else {
            throw GatewayProblem.validation(
                "\(field) must be between \(range.lowerBound) and \(range.upperBound), not \(value)", field: field)
        }
        return value
    }

    /// 422 naming `field` when `text` has fewer or more characters than `range` allows (counted as
    /// JSON Schema's `maxLength` counts them: Unicode code points).
    static func check(text: String?, _ range: ClosedRange<Int>, field: String) throws(GatewayProblem) {
        guard let text else { return }
        let count = text.unicodeScalars.count
        guard range.contains(count) else {
            throw GatewayProblem.validation(
                "\(field) must be \(range.lowerBound) to \(range.upperBound) characters long, not \(count)", field: field)
        }
    }

    /// 422 when `options` has too many entries or a value that is too long.
    static func check(options: Components.Schemas.OptionMap?, field: String) throws(GatewayProblem) {
        guard let options else { return }
        let values = options.additionalProperties
        guard optionsPerMap.contains(values.count) else {
            throw GatewayProblem.validation("\(field) may hold at most \(optionsPerMap.upperBound) options", field: field)
        }
        for (name, value) in values {
            try check(text: name, 1...63, field: "\(field).\(name)")
            if case .StringValue(let text) = value { try check(text: text, optionValueLength, field: "\(field).\(name)") }
        }
    }

    /// 422 when a cluster or machine spec carries an over-long identifier or too many options.
    static func check(size: String?, image: String?, location: String?, options: Components.Schemas.OptionMap?,
                      prefix: String) throws(GatewayProblem) {
        try check(text: size, identifierLength, field: prefix + "size")
        try check(text: image, identifierLength, field: prefix + "image")
        try check(text: location, identifierLength, field: prefix + "location")
        try check(options: options, field: prefix + "options")
    }
}
