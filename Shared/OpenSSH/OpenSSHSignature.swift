import Crypto

// SSH signature blobs: `string algorithm, string signature`, where the Ed25519 signature is its
// 64 bytes (RFC 8709) and the ECDSA one is `mpint r, mpint s` (RFC 5656 §3.1.2).

extension OpenSSHPrivateKey {
    /// Signs `data` and returns the SSH signature blob (`ssh-ed25519` or `ecdsa-sha2-nistp256`, SHA-256).
    package func signature(for data: [UInt8]) throws(OpenSSHError) -> [UInt8] {
        var writer = SSHWireWriter()
        writer.writeString(algorithm.name)
        do {
            switch algorithm {
            case .ed25519:
                let key = try Curve25519.Signing.PrivateKey(rawRepresentation: secret)
                writer.writeString(Array(try key.signature(for: data)))
            case .ecdsaP256:
                let key = try P256.Signing.PrivateKey(rawRepresentation: secret)
                let raw = Array(try key.signature(for: data).rawRepresentation)
                var inner = SSHWireWriter()
                inner.writeMPInt(unsigned: Array(raw[0..<32]))
                inner.writeMPInt(unsigned: Array(raw[32..<64]))
                writer.writeString(inner.bytes)
            }
        } catch {
            throw .signingFailed("\(algorithm) signature failed (\(type(of: error)))")
        }
        return writer.bytes
    }
}

extension OpenSSHPublicKey {
    /// Checks that `signature` (an SSH signature blob) is this key's signature of `data`;
    /// throws ``OpenSSHError/signatureInvalid(_:)`` saying why not.
    package func verify(signature: [UInt8], for data: [UInt8]) throws(OpenSSHError) {
        var reader = SSHWireReader(signature, what: "signature")
        let name = try reader.readText("algorithm")
        guard name == algorithm.name else {
            throw .signatureInvalid("it is a \(name) signature, but the signing key is \(algorithm)")
        }
        let body = try reader.readString()
        try reader.expectEnd()
        let valid: Bool
        switch algorithm {
        case .ed25519:
            guard body.count == 64 else {
                throw .signatureInvalid("an Ed25519 signature has 64 bytes, this one \(body.count)")
            }
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBytes)
            valid = key?.isValidSignature(body, for: data) ?? false
        case .ecdsaP256:
            var inner = SSHWireReader(body, what: "signature")
            let r = try inner.readMPInt(unsignedWidth: 32, field: "r")
            let s = try inner.readMPInt(unsignedWidth: 32, field: "s")
            try inner.expectEnd()
            let key = try? P256.Signing.PublicKey(x963Representation: keyBytes)
            let ecdsa = try? P256.Signing.ECDSASignature(rawRepresentation: r + s)
            valid = ecdsa.map { key?.isValidSignature($0, for: data) ?? false } ?? false
        }
        guard valid else { throw .signatureInvalid("it was not made by \(self) over these bytes") }
    }

    /// True when `signature` (an SSH signature blob) is this key's signature of `data`.
    package func isValidSignature(_ signature: [UInt8], for data: [UInt8]) -> Bool {
        (try? verify(signature: signature, for: data)) != nil
    }
}
