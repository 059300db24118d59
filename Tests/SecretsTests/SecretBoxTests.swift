import Foundation
import PazSecrets
import Testing

@Suite struct SecretBoxTests {
    private let key = try! MasterKey(bytes: Array(repeating: 7, count: 32))

    @Test func sealedSecretsOpenOnlyWithTheSameKeyAndContext() throws {
        let box = SecretBox(masterKey: key)
        let sealed = try box.seal("-----BEGIN OPENSSH PRIVATE KEY-----", context: "tnt_a/mch_b")
        #expect(!sealed.contains("OPENSSH"))
        #expect(try box.openText(sealed, context: "tnt_a/mch_b") == "-----BEGIN OPENSSH PRIVATE KEY-----")
        #expect(throws: SecretError.openFailed(context: "tnt_a/mch_c")) {
            try box.open(sealed, context: "tnt_a/mch_c")
        }
        let other = SecretBox(masterKey: try MasterKey(bytes: Array(repeating: 8, count: 32)))
        #expect(throws: SecretError.self) { try other.open(sealed, context: "tnt_a/mch_b") }
    }

    @Test func sealingTwiceGivesDifferentCiphertexts() throws {
        let box = SecretBox(masterKey: key)
        #expect(try box.seal("x", context: "c") != box.seal("x", context: "c"))
    }

    @Test func tamperedOrForeignBlobsAreRejected() throws {
        let box = SecretBox(masterKey: key)
        var sealed = Array(try box.seal("secret", context: "c"))
        sealed[10] = sealed[10] == "A" ? "B" : "A"
        #expect(throws: SecretError.self) { try box.open(String(sealed), context: "c") }
        #expect(throws: SecretError.malformed) { try box.open("plain text", context: "c") }
    }

    @Test func masterKeyFileIsCreatedPrivateAndReadBack() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("paz-key-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let created = try MasterKey.create(at: url)
        let mode = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let box = SecretBox(masterKey: created)
        let sealed = try box.seal("v", context: "c")
        let loaded = try MasterKey.fromEnvironment(["PAZ_MASTER_KEY_FILE": url.path])
        #expect(try SecretBox(masterKey: loaded).openText(sealed, context: "c") == "v")
        #expect(!"\(loaded)".contains(try String(contentsOf: url, encoding: .utf8).prefix(8)))
        #expect(throws: SecretError.self) { try MasterKey.fromEnvironment([:]) }
        #expect(throws: SecretError.self) { try MasterKey.fromEnvironment(["PAZ_MASTER_KEY": "c2hvcnQ="]) }
    }

    @Test func tokensAreRandomAndStoredAsHashes() {
        let token = APIToken.generate()
        #expect(token.hasPrefix("pazt_") && token.count == 48)
        #expect(token != APIToken.generate())
        let hash = APIToken.hash(token)
        #expect(hash.count == 64 && !hash.contains(token))
        #expect(APIToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
