import Foundation
package import PazGatewayAPI

/// The dynamic part of a create command line: `--<driver>-<option> VALUE` flags (as Docker Machine),
/// checked against the driver's `createOptions`, with `PAZ_<DRIVER>_<OPTION>` environment fallbacks,
/// plus the positional arguments between them.
///
/// The argument parser cannot know these flags (they come from the live driver), so commands collect
/// every argument it does not recognise and hand them here with the driver's schema. A flag takes the
/// next argument as its value (`--x v` or `--x=v`); a boolean flag alone means `true`. An option given
/// several times (or, for `ip-address`, as a comma-separated list) has one value per machine.
package struct DriverArguments: Equatable, Sendable {
    /// Options whose single value may list one value per machine, separated by commas.
    package static let listOptions: Set<String> = ["ip-address"]

    /// Arguments that are not flags (the NAME), in order.
    package var positionals: [String]
    /// Option name → the values given on the command line, in order.
    package var values: [String: [String]]

    /// Parses `arguments` for `driver` whose options are `schema`. Unknown flags are usage errors that
    /// list the driver's flags.
    package init(_ arguments: [String], driver: String, schema: [Components.Schemas.DriverOption]) throws(CLIError) {
        positionals = []
        values = [:]
        var index = 0
        var flagsEnded = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if flagsEnded || !argument.hasPrefix("-") || argument == "-" {
                positionals.append(argument)
                continue
            }
            if argument == "--" {
                flagsEnded = true
                continue
            }
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let flag = String(parts[0])
            let inline = parts.count > 1 ? String(parts[1]) : nil
            guard let option = schema.first(where: { $0.flag == flag || "--\(driver)-\($0.name)" == flag }) else {
                throw .usage(Self.unknownFlagMessage(flag, driver: driver, schema: schema))
            }
            let value: String
            if let inline {
                value = inline
            } else if option._type == .boolean {
                if index < arguments.count, Self.booleanWords[arguments[index].lowercased()] != nil {
                    value = arguments[index]
                    index += 1
                } else {
                    value = "true"
                }
            } else {
                guard index < arguments.count else { throw .usage("\(flag) needs a value (\(option.description))") }
                value = arguments[index]
                index += 1
            }
            values[option.name, default: []].append(value)
        }
    }

    /// The option values for a create of `count` machines (nil: as many as the per-machine values
    /// say, else the server's default of one): those given once go to the cluster's `options`, those
    /// given once per machine to `machines[i].options`. Options not on the command line come from the
    /// environment (`envVar`). Returns the cluster options, the per-machine options (empty when none),
    /// and the machine count to send.
    package func resolve(
        schema: [Components.Schemas.DriverOption], environment: [String: String], count: Int?
    ) throws(CLIError) -> (options: Components.Schemas.OptionMap, machines: [Components.Schemas.OptionMap], count: Int?) {
        var shared: [String: Components.Schemas.OptionValue] = [:]
        var perMachine: [String: [Components.Schemas.OptionValue]] = [:]
        for option in schema {
            var raw = values[option.name] ?? []
            if raw.isEmpty, let fallback = environment[option.envVar], !fallback.isEmpty { raw = [fallback] }
            if Self.listOptions.contains(option.name) {
                raw = raw.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            }
            let converted = try raw.map { value throws(CLIError) in try Self.convert(value, for: option) }
            switch converted.count {
            case 0: break
            case 1: shared[option.name] = converted[0]
            default: perMachine[option.name] = converted
            }
        }
        let counts = Set(perMachine.values.map(\.count))
        guard counts.count <= 1 else {
            let listing = perMachine.map { "\($0.key): \($0.value.count)" }.sorted().joined(separator: ", ")
            throw .usage("options given once per machine must all have the same number of values (\(listing))")
        }
        var machineCount = count
        if let perMachineCount = counts.first {
            if let count, count != perMachineCount {
                let names = perMachine.keys.sorted().joined(separator: ", ")
                throw .usage("--count is \(count) but \(names) has \(perMachineCount) values: give one value per machine")
            }
            machineCount = perMachineCount
        }
        let machines = (0..<(counts.first ?? 0)).map { index in
            Components.Schemas.OptionMap(additionalProperties: perMachine.mapValues { $0[index] })
        }
        return (Components.Schemas.OptionMap(additionalProperties: shared), machines, machineCount)
    }

    /// `value` as the JSON type `option` takes. A string value `@PATH` is the content of the file PATH.
    package static func convert(_ value: String, for option: Components.Schemas.DriverOption) throws(CLIError) -> Components.Schemas.OptionValue {
        switch option._type {
        case .string:
            guard value.hasPrefix("@") else { return .StringValue(value) }
            let path = NSString(string: String(value.dropFirst())).expandingTildeInPath
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .usage("\(option.flag): cannot read the file \(path)")
            }
            return .StringValue(String(decoding: data, as: UTF8.self))
        case .integer:
            guard let number = Int64(value) else { throw .usage("\(option.flag) takes an integer, not \"\(value)\"") }
            if let minimum = option.minimum, number < minimum {
                throw .usage("\(option.flag) must be at least \(minimum)")
            }
            if let maximum = option.maximum, number > maximum {
                throw .usage("\(option.flag) must be at most \(maximum)")
            }
            return .IntegerValue(number)
        case .boolean:
            guard let flag = booleanWords[value.lowercased()] else {
                throw .usage("\(option.flag) takes true or false, not \"\(value)\"")
            }
            return .BooleanValue(flag)
        case ._enum:
            let allowed = option.values ?? []
            guard allowed.contains(value) else {
                throw .usage("\(option.flag) takes one of \(allowed.joined(separator: ", ")), not \"\(value)\"")
            }
            return .StringValue(value)
        }
    }

    private static let booleanWords = ["true": true, "false": false, "yes": true, "no": false, "1": true, "0": false]

    private static func unknownFlagMessage(_ flag: String, driver: String, schema: [Components.Schemas.DriverOption]) -> String {
        let known = schema.map(\.flag).sorted().joined(separator: ", ")
        if flag.hasPrefix("--\(driver)-") {
            return "driver \(driver) has no option \(flag); its options are: \(known.isEmpty ? "none" : known) "
                + "(see `paz-machine drivers \(driver)`)"
        }
        return "unknown option \(flag): driver options are spelled --\(driver)-<option> (see `paz-machine drivers \(driver)`)"
    }
}

/// `--machine-option N:NAME=VALUE`: an option value for the N-th machine (from 1) of a cluster create.
package struct MachineOptionArgument: Equatable, Sendable {
    package var machine: Int
    package var name: String
    package var value: String

    package init(_ text: String) throws(CLIError) {
        let usage = CLIError.usage("--machine-option takes N:OPTION=VALUE (machine number from 1, option without the driver prefix), not \"\(text)\"")
        guard let colon = text.firstIndex(of: ":"), let equals = text[colon...].firstIndex(of: "="),
              let machine = Int(text[..<colon]), machine >= 1
        else { throw usage }
        let name = String(text[text.index(after: colon)..<equals])
        guard !name.isEmpty else { throw usage }
        self.machine = machine
        self.name = name
        self.value = String(text[text.index(after: equals)...])
    }
}
