import Foundation
import PazHTTP

/// The form fields of one EC2 query API call (`Action`, `Version` and the action's parameters), in
/// order, encoded as `application/x-www-form-urlencoded` (``AWSQueryForm``).
package struct EC2Query: Sendable, Hashable {
    /// The EC2 API version every call uses.
    package static let apiVersion = "2016-11-15"

    package let action: String
    package private(set) var parameters: [(name: String, value: String)] = []

    /// A call of `action` with no parameters yet.
    package init(_ action: String) {
        self.action = action
    }

    /// Adds one parameter.
    package mutating func add(_ name: String, _ value: String) {
        parameters.append((name, value))
    }

    /// Adds `name.1`, `name.2`, … for `values` (EC2's list encoding).
    package mutating func add(list name: String, _ values: [String]) {
        for (index, value) in values.enumerated() {
            add("\(name).\(index + 1)", value)
        }
    }

    /// Adds `Filter.N.Name` / `Filter.N.Value.M` for each filter, in order.
    package mutating func add(filters: [EC2Filter]) {
        for (index, filter) in filters.enumerated() {
            add("Filter.\(index + 1).Name", filter.name)
            add(list: "Filter.\(index + 1).Value", filter.values)
        }
    }

    /// Adds `TagSpecification.N` for each resource type, every one carrying `tags`.
    package mutating func add(tagSpecifications resourceTypes: [String], tags: [EC2Tag]) {
        for (index, type) in resourceTypes.enumerated() {
            let prefix = "TagSpecification.\(index + 1)"
            add("\(prefix).ResourceType", type)
            for (tagIndex, tag) in tags.enumerated() {
                add("\(prefix).Tag.\(tagIndex + 1).Key", tag.key)
                add("\(prefix).Tag.\(tagIndex + 1).Value", tag.value)
            }
        }
    }

    /// The request body: `Action=…&Version=…&name=value…`, encoded as ``AWSQueryForm`` does.
    package var formBody: String {
        AWSQueryForm.encode([("Action", action), ("Version", Self.apiVersion)] + parameters.map { ($0.name, $0.value) })
    }

    package static func == (lhs: EC2Query, rhs: EC2Query) -> Bool {
        lhs.formBody == rhs.formBody
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(formBody)
    }
}

/// A `Filter.N` of a Describe call: `name` matches any of `values`.
package struct EC2Filter: Sendable, Hashable {
    package var name: String
    package var values: [String]

    package init(_ name: String, _ values: [String]) {
        self.name = name
        self.values = values
    }

    /// Resources carrying tag `key` = `value`.
    package static func tag(_ key: String, _ value: String) -> EC2Filter {
        EC2Filter("tag:\(key)", [value])
    }
}

/// A resource tag.
package struct EC2Tag: Sendable, Hashable, Codable {
    package var key: String
    package var value: String

    package init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}
