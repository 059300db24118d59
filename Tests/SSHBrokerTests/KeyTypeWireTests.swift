import Foundation
import PazSchemas
import Testing

@Suite("ssh.user-credentials keyType on the wire")
struct KeyTypeWireTests {
    private let machine = MachineRef(clusterId: "c-web", machineId: "m-web-1")

    private func encoded(_ request: UserCredentialsRequest) throws -> String {
        String(decoding: try MessageCodec.encodeValue(request), as: UTF8.self)
    }

    @Test("absent keyType is omitted (the 1.0 wire form); a set one is its raw value")
    func encoding() throws {
        #expect(try encoded(UserCredentialsRequest(machine: machine, principal: "paz", ttlSeconds: 300))
            == #"{"machine":{"clusterId":"c-web","machineId":"m-web-1"},"principal":"paz","ttlSeconds":300}"#)
        #expect(try encoded(UserCredentialsRequest(machine: machine, principal: "paz", keyType: .ecdsa))
            == #"{"keyType":"ecdsa","machine":{"clusterId":"c-web","machineId":"m-web-1"},"principal":"paz"}"#)
        #expect(SSHKeyType.allCases.map(\.rawValue) == ["ed25519", "ecdsa"])
    }

    @Test("commands with and without keyType decode; an unknown key type is an invalid field")
    func decoding() throws {
        for keyType in [nil, SSHKeyType.ed25519, .ecdsa] {
            let command = CommandEnvelope(
                tenantId: "t-acme", trace: .newTrace(),
                payload: .sshUserCredentials(UserCredentialsRequest(machine: machine, principal: "paz", keyType: keyType)))
            let decoded = try MessageCodec.decode(CommandPayload.self, from: try MessageCodec.encode(command))
            #expect(decoded.payload == command.payload)
        }
        let command = CommandEnvelope(
            tenantId: "t-acme", trace: .newTrace(),
            payload: .sshUserCredentials(UserCredentialsRequest(machine: machine, principal: "paz", keyType: .ecdsa)))
        let text = String(decoding: try MessageCodec.encode(command), as: UTF8.self)
            .replacingOccurrences(of: #""keyType":"ecdsa""#, with: #""keyType":"rsa""#)
        #expect(throws: SchemaError.self) { try MessageCodec.decode(CommandPayload.self, from: Data(text.utf8)) }
        do {
            _ = try MessageCodec.decode(CommandPayload.self, from: Data(text.utf8))
        } catch {
            #expect(error.reason == "invalid-field")
        }
    }
}
