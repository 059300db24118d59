/// Writes the RFC 4251 §5 data types OpenSSH keys and certificates are built from.
package struct SSHWireWriter: Sendable {
    /// The bytes written so far.
    package private(set) var bytes: [UInt8] = []

    /// An empty writer.
    package init() {}

    /// Appends a big-endian `uint32`.
    package mutating func writeUInt32(_ value: UInt32) {
        bytes.append(contentsOf: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) })
    }

    /// Appends a big-endian `uint64`.
    package mutating func writeUInt64(_ value: UInt64) {
        bytes.append(contentsOf: stride(from: 56, through: 0, by: -8).map { UInt8(truncatingIfNeeded: value >> $0) })
    }

    /// Appends a `string`: a `uint32` length and the bytes.
    package mutating func writeString(_ value: [UInt8]) {
        writeUInt32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// Appends a UTF-8 text `string`.
    package mutating func writeString(_ value: String) {
        writeString(Array(value.utf8))
    }

    /// Appends a non-negative `mpint` given as big-endian magnitude bytes: leading zeros are
    /// dropped, and a zero byte is prepended where the top bit is set; zero is the empty string.
    package mutating func writeMPInt(unsigned magnitude: [UInt8]) {
        var value = Array(magnitude.drop(while: { $0 == 0 }))
        if let first = value.first, first & 0x80 != 0 { value.insert(0, at: 0) }
        writeString(value)
    }

    /// Appends raw bytes with no length prefix.
    package mutating func writeRaw(_ value: [UInt8]) {
        bytes.append(contentsOf: value)
    }
}

/// Reads RFC 4251 §5 data types; running out of bytes throws ``OpenSSHError/truncated(_:)``.
package struct SSHWireReader: Sendable {
    private let bytes: [UInt8]
    private var offset = 0
    /// What is being read, for error messages ("certificate", "private key file", …).
    private let what: String

    /// A reader over `bytes`, which hold a `what` (named in errors).
    package init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    /// True when every byte has been read.
    package var isAtEnd: Bool { offset == bytes.count }

    /// The bytes not read yet.
    package var remaining: [UInt8] { Array(bytes[offset...]) }

    /// The number of bytes read so far.
    package var position: Int { offset }

    /// Reads `count` raw bytes.
    package mutating func readRaw(_ count: Int) throws(OpenSSHError) -> [UInt8] {
        guard count >= 0, bytes.count - offset >= count else { throw .truncated(what) }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Reads a big-endian `uint32`.
    package mutating func readUInt32() throws(OpenSSHError) -> UInt32 {
        try readRaw(4).reduce(0) { ($0 << 8) | UInt32($1) }
    }

    /// Reads a big-endian `uint64`.
    package mutating func readUInt64() throws(OpenSSHError) -> UInt64 {
        try readRaw(8).reduce(0) { ($0 << 8) | UInt64($1) }
    }

    /// Reads a `string` as bytes.
    package mutating func readString() throws(OpenSSHError) -> [UInt8] {
        let length = try readUInt32()
        guard length <= UInt32(bytes.count - offset) else { throw .truncated(what) }
        return try readRaw(Int(length))
    }

    /// Reads a `string` that must be UTF-8 text; `field` names it in the error otherwise.
    package mutating func readText(_ field: String) throws(OpenSSHError) -> String {
        let raw = try readString()
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw .malformed(what, "its \(field) is not UTF-8 text")
        }
        return text
    }

    /// Reads a non-negative `mpint` and returns its magnitude, left-padded with zeros to `width` bytes.
    package mutating func readMPInt(unsignedWidth width: Int, field: String) throws(OpenSSHError) -> [UInt8] {
        let raw = try readString()
        if let first = raw.first, first & 0x80 != 0 { throw .malformed(what, "its \(field) is negative") }
        let magnitude = Array(raw.drop(while: { $0 == 0 }))
        guard magnitude.count <= width else { throw .malformed(what, "its \(field) is longer than \(width) bytes") }
        return [UInt8](repeating: 0, count: width - magnitude.count) + magnitude
    }

    /// Throws unless every byte has been read.
    package func expectEnd() throws(OpenSSHError) {
        guard isAtEnd else { throw .malformed(what, "it has \(bytes.count - offset) unexpected trailing bytes") }
    }
}
