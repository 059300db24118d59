import Foundation
@testable import PazOpenSSH
import Testing

@Suite("SSH wire encoding")
struct WireTests {
    @Test("integers, strings and mpints are encoded as RFC 4251 says")
    func encoding() throws {
        var writer = SSHWireWriter()
        writer.writeUInt32(0x0102_0304)
        writer.writeUInt64(0x0102_0304_0506_0708)
        writer.writeString("ab")
        writer.writeMPInt(unsigned: [0, 0, 0x80, 1])
        writer.writeMPInt(unsigned: [0, 0x7F])
        writer.writeMPInt(unsigned: [0, 0])
        #expect(writer.bytes == [
            1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 2, 0x61, 0x62,
            0, 0, 0, 3, 0, 0x80, 1, 0, 0, 0, 1, 0x7F, 0, 0, 0, 0,
        ])
        var reader = SSHWireReader(writer.bytes, what: "test")
        #expect(try reader.readUInt32() == 0x0102_0304)
        #expect(try reader.readUInt64() == 0x0102_0304_0506_0708)
        #expect(try reader.readText("s") == "ab")
        #expect(try reader.readMPInt(unsignedWidth: 3, field: "a") == [0, 0x80, 1])
        #expect(try reader.readMPInt(unsignedWidth: 2, field: "b") == [0, 0x7F])
        #expect(try reader.readMPInt(unsignedWidth: 1, field: "c") == [0])
        #expect(reader.isAtEnd)
        #expect(throws: OpenSSHError.truncated("test")) { try reader.readUInt32() }
    }

    @Test("lengths past the end, negative and oversized mpints are refused")
    func refusals() {
        var huge = SSHWireReader([0xFF, 0xFF, 0xFF, 0xFF, 1], what: "test")
        #expect(throws: OpenSSHError.truncated("test")) { try huge.readString() }
        var negative = SSHWireReader([0, 0, 0, 1, 0x80], what: "test")
        #expect(throws: OpenSSHError.self) { try negative.readMPInt(unsignedWidth: 32, field: "x") }
        var long = SSHWireReader([0, 0, 0, 3, 1, 2, 3], what: "test")
        #expect(throws: OpenSSHError.self) { try long.readMPInt(unsignedWidth: 2, field: "x") }
        var text = SSHWireReader([0, 0, 0, 1, 0xFF], what: "test")
        #expect(throws: OpenSSHError.self) { try text.readText("x") }
    }

    @Test("ECDSA scalars with a leading zero byte or the top bit set survive our file and ssh-keygen", arguments: [
        [UInt8](repeating: 0, count: 2) + [UInt8](repeating: 0x5A, count: 30), [0x80] + [UInt8](repeating: 0x11, count: 31),
    ])
    func ecdsaScalarEdgeCases(secret: [UInt8]) throws {
        let key = try OpenSSHPrivateKey(algorithm: .ecdsaP256, secret: secret)
        let file = key.openSSHFile(comment: "edge")
        let parsed = try OpenSSHPrivateKey(openSSHFile: file)
        #expect(parsed.secret == secret && parsed.publicKey == key.publicKey)
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.write(file, to: "id")
            let derived = try keygen.run(["-y", "-f", "id"]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(derived == key.publicKey.line(comment: "edge"))
        }
    }
}
