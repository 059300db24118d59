import Foundation
package import PazSchemas

/// Typed reads of a `machine.create`'s options, each failing with an `invalidArgument` that names
/// the option. Drivers parse their options with it.
package struct CreateOptionValues: Sendable {
    package let values: [String: JSONValue]

    package init(_ values: [String: JSONValue]) {
        self.values = values
    }

    /// A non-empty string, or nil when absent (or JSON null, or empty).
    package func optionalString(_ name: String) -> String? {
        values[name]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A non-empty string, `value` when absent.
    package func string(_ name: String, default value: String) throws(DriverError) -> String {
        guard let raw = values[name], raw != .null else { return value }
        guard let text = raw.stringValue, !text.isEmpty else {
            throw .invalidArgument(field: name, message: "\(name) must be a non-empty string")
        }
        return text
    }

    /// One of `allowed` (a string), `value` when absent.
    package func choice(_ name: String, _ allowed: [String], default value: String) throws(DriverError) -> String {
        let text = try string(name, default: value)
        guard allowed.contains(text) else {
            throw .invalidArgument(field: name, message: "\(name) must be one of \(allowed.joined(separator: ", ")), not '\(text)'")
        }
        return text
    }

    /// true or false (also as text), `value` when absent.
    package func boolean(_ name: String, default value: Bool) throws(DriverError) -> Bool {
        guard let raw = values[name], raw != .null else { return value }
        guard let flag = raw.boolValue ?? raw.stringValue.flatMap({ Bool($0.lowercased()) }) else {
            throw .invalidArgument(field: name, message: "\(name) must be true or false")
        }
        return flag
    }

    /// An integer in `range` (also as text), `value` when absent.
    package func integer(_ name: String, default value: Int?, in range: ClosedRange<Int>) throws(DriverError) -> Int? {
        guard let raw = values[name], raw != .null else { return value }
        guard let number = raw.numberValue ?? raw.stringValue.flatMap(Double.init), number.rounded() == number,
              range.contains(Int(number)) else {
            throw .invalidArgument(field: name, message: "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(number)
    }

    /// An integer in `range`, `value` when absent.
    package func integer(_ name: String, default value: Int, in range: ClosedRange<Int>) throws(DriverError) -> Int {
        try integer(name, default: Optional(value), in: range) ?? value
    }

    /// A required IPv4 CIDR block (`203.0.113.0/24`): the source a cloud firewall lets reach port 22.
    package func sshCIDR(_ name: String = "ssh-cidr") throws(DriverError) -> String {
        guard let cidr = optionalString(name) else {
            throw .invalidArgument(field: name, message: "\(name) is required: the source range allowed to reach port 22, e.g. 203.0.113.0/24")
        }
        guard cidr.range(of: #"^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$"#, options: .regularExpression) != nil,
              cidr.split(separator: "/")[0].split(separator: ".").allSatisfy({ Int($0).map { $0 <= 255 } ?? false })
        else {
            throw .invalidArgument(field: name, message: "\(name) '\(cidr)' is not an IPv4 CIDR block such as 203.0.113.0/24")
        }
        return cidr
    }

    /// The login user a new machine's first boot creates: a POSIX user name other than root, `paz`
    /// when absent.
    package func loginUser(_ name: String = "ssh-user") throws(DriverError) -> String {
        let user = try string(name, default: "paz")
        guard user.range(of: "^[a-z_][a-z0-9_-]{0,31}$", options: .regularExpression) != nil, user != "root" else {
            throw .invalidArgument(field: name, message: "\(name) must be a POSIX user name other than root")
        }
        return user
    }
}

extension CreateOptionSpec {
    /// Option `name` of `driver`'s create options, with the CLI's environment fallback
    /// `PAZ_<DRIVER>_<NAME>` (`-` as `_`) and, for integers, `range` as the bounds the gateway checks.
    package static func driverOption(
        _ driver: String, _ name: String, _ type: ValueType, required: Bool = false, default value: JSONValue? = nil,
        in range: ClosedRange<Int>? = nil, _ description: String, secret: Bool = false
    ) -> CreateOptionSpec {
        CreateOptionSpec(
            name: ResourceName(stringLiteral: name), type: type, required: required, default: value,
            envVar: "PAZ_\(driver.uppercased())_" + name.uppercased().replacingOccurrences(of: "-", with: "_"),
            description: description, secret: secret, minimum: range.map { Int64($0.lowerBound) },
            maximum: range.map { Int64($0.upperBound) })
    }
}
