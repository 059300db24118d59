import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A read-only view of one element of an EC2 XML response, by local name (EC2 answers in the
/// `http://ec2.amazonaws.com/doc/2016-11-15/` namespace; the names are unique enough without it).
package struct EC2XML: @unchecked Sendable {
    // XMLDocument and XMLElement are classes; this view never mutates them and never hands them out.
    // The document is kept: its elements live only as long as it does.
    private let document: XMLDocument
    private let element: XMLElement

    private init(_ element: XMLElement, in document: XMLDocument) {
        self.document = document
        self.element = element
    }

    /// The document's root element; nil when `data` is not XML.
    static func parse(_ data: Data) -> EC2XML? {
        // FoundationXML crashes on an empty document; no answer starting with `<` is no XML anyway.
        guard data.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) == UInt8(ascii: "<"),
              let document = try? XMLDocument(data: data, options: []), let root = document.rootElement() else { return nil }
        return EC2XML(root, in: document)
    }

    /// The element's local name.
    package var name: String {
        element.localName ?? element.name ?? ""
    }

    /// The first child element called `name`.
    package func child(_ name: String) -> EC2XML? {
        childElements.first { $0.name == name }
    }

    /// Every child element called `name`.
    package func children(_ name: String) -> [EC2XML] {
        childElements.filter { $0.name == name }
    }

    /// The `item` children of the child set `name` (EC2's list encoding); empty when absent.
    package func items(_ name: String) -> [EC2XML] {
        child(name)?.children("item") ?? []
    }

    /// The text of the descendant at `path` (child names), nil when absent or empty.
    package func text(_ path: String...) -> String? {
        var current: EC2XML? = self
        for name in path {
            current = current?.child(name)
        }
        guard let value = current?.element.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
            return nil
        }
        return value
    }

    /// The first element called `name` anywhere below (depth first).
    package func descendant(_ name: String) -> EC2XML? {
        for child in childElements {
            if child.name == name { return child }
            if let found = child.descendant(name) { return found }
        }
        return nil
    }

    /// The tags of a `tagSet`.
    package var tags: [EC2Tag] {
        items("tagSet").compactMap { item in
            item.text("key").map { EC2Tag($0, item.text("value") ?? "") }
        }
    }

    private var childElements: [EC2XML] {
        (element.children ?? []).compactMap { $0 as? XMLElement }.map { EC2XML($0, in: document) }
    }
}
