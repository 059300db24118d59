import HTTPTypes
import PazGatewayAPI
import PazSchemas

/// Checks create options against a driver's announced `createOptions` (docs/api.md, "Driver options").
struct OptionValidator {
    let driver: ResourceName
    let specs: [CreateOptionSpec]

    /// The options of one machine, split into plain values (recorded, sent in commands) and secret
    /// ones (sealed per machine, never in commands or records).
    struct Resolved {
        var plain: [String: JSONValue] = [:]
        var secrets: [String: String] = [:]
    }

    /// Checks the cluster's options, then each machine's, and merges them per machine over the
    /// tenant's stored defaults for the driver (machine wins over cluster, cluster over defaults).
    /// - Parameter machineOptions: one entry per machine (nil = no per-machine options).
    func resolve(
        cluster: Components.Schemas.OptionMap?, defaults: Resolved = Resolved(),
        machines machineOptions: [Components.Schemas.OptionMap?], machineField: (Int) -> String
    ) throws(GatewayProblem) -> [Resolved] {
        let stored = defaults.plain.merging(defaults.secrets.mapValues { JSONValue.string($0) }) { $1 }
        let clusterValues = stored.merging(try check(cluster, field: "options")) { $1 }
        var result: [Resolved] = []
        for (index, options) in machineOptions.enumerated() {
            let values = clusterValues.merging(try check(options, field: machineField(index) + "options")) { $1 }
            var resolved = Resolved()
            for spec in specs {
                let name = spec.name.rawValue
                guard let value = values[name] ?? spec.default else {
                    if spec.required {
                        throw GatewayProblem.validation(
                            "driver \"\(driver)\" requires option \"\(name)\" (\(spec.description))", field: "options.\(name)")
                    }
                    continue
                }
                if spec.secret {
                    resolved.secrets[name] = Self.text(value)
                } else {
                    resolved.plain[name] = value
                }
            }
            result.append(resolved)
        }
        return result
    }

    /// The options recorded on the cluster (the base of machines added later): the cluster-wide
    /// values given, checked, plus the defaults, without secrets. Required options may come per
    /// machine instead, so they are not required here; ``resolve(cluster:machines:machineField:)``
    /// checks every machine has them.
    func clusterOptions(_ options: Components.Schemas.OptionMap?) throws(GatewayProblem) -> [String: JSONValue] {
        let given = try check(options, field: "options")
        var recorded: [String: JSONValue] = [:]
        for spec in specs where !spec.secret {
            if let value = given[spec.name.rawValue] ?? spec.default { recorded[spec.name.rawValue] = value }
        }
        return recorded
    }

    /// The options to store as the tenant's defaults: each declared, of its type and in range
    /// (`required` is not enforced), split into plain and secret values.
    func defaults(_ options: Components.Schemas.OptionMap) throws(GatewayProblem) -> Resolved {
        var resolved = Resolved()
        for (name, value) in try check(options, field: "options") {
            if specs.first(where: { $0.name.rawValue == name })?.secret == true {
                resolved.secrets[name] = Self.text(value)
            } else {
                resolved.plain[name] = value
            }
        }
        return resolved
    }

    /// Every option must be declared, of the declared type and in the declared range.
    private func check(_ options: Components.Schemas.OptionMap?, field: String) throws(GatewayProblem) -> [String: JSONValue] {
        var values: [String: JSONValue] = [:]
        for (name, value) in options?.additionalProperties ?? [:] {
            guard let spec = specs.first(where: { $0.name.rawValue == name }) else {
                throw GatewayProblem(
                    .unprocessableContent, "unknown-option", "Unknown driver option",
                    detail: "driver \"\(driver)\" has no option \"\(name)\"; see GET /v1/drivers/\(driver)",
                    field: "\(field).\(name)")
            }
            let matches: Bool = switch (spec.type, value) {
            case (.string, .StringValue), (.stringList, .StringValue), (.integer, .IntegerValue),
                (.boolean, .BooleanValue), (.number, .IntegerValue), (.number, .StringValue):
                true
            default: false
            }
            guard matches else {
                throw GatewayProblem.validation(
                    "option \"\(name)\" of driver \"\(driver)\" takes a \(spec.type.rawValue)", field: "\(field).\(name)")
            }
            if case .IntegerValue(let number) = value,
                number < (spec.minimum ?? .min) || number > (spec.maximum ?? .max)
            {
                throw GatewayProblem.validation(
                    "option \"\(name)\" of driver \"\(driver)\" must be between \(spec.minimum ?? .min) and \(spec.maximum ?? .max)",
                    field: "\(field).\(name)")
            }
            values[name] = ResourceMapper.jsonValue(value)
        }
        return values
    }

    private static func text(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        case .bool(let flag): String(flag)
        case .number(let number): number == number.rounded() ? String(Int64(number)) : String(number)
        default: ""
        }
    }
}

extension OptionValidator {
    /// The validator of the options every live replica of a driver announces.
    init(replicas: [DriverAnnouncement]) {
        self.init(driver: replicas[0].name, specs: replicas.commonCreateOptions)
    }
}

extension [DriverAnnouncement] {
    /// The create options every replica announces, as the first one specifies them. During a
    /// rollout an option only the newer version knows is refused (422) until every live replica
    /// knows it, so no command carries an option to a replica that would not understand it.
    var commonCreateOptions: [CreateOptionSpec] {
        guard let first else { return [] }
        let names = dropFirst().reduce(Set(first.createOptions.map(\.name))) { names, replica in
            names.intersection(replica.createOptions.map(\.name))
        }
        return first.createOptions.filter { names.contains($0.name) }
    }
}
