/// Bodies of the AWS query APIs (EC2, IAM): `application/x-www-form-urlencoded` name=value pairs in
/// the order given.
///
/// Encoded exactly as moto re-encodes a form before it checks a SigV4 signature (Python's
/// `urlencode`): the RFC 3986 unreserved characters `A-Z a-z 0-9 - _ . ~` stay, a space becomes `+`,
/// every other byte of the UTF-8 text becomes `%XX` with upper-case hex. moto signs what it
/// re-encoded, not the bytes it received, so a body encoded differently (`:` left raw, `%20` for a
/// space, lower-case hex) fails its signature check; AWS itself accepts this encoding too.
package enum AWSQueryForm {
    /// `name=value&…` for `parameters`.
    package static func encode(_ parameters: [(String, String)]) -> String {
        parameters.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }

    private static func escape(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "):
                result += "+"
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += byte < 16 ? "%0" + hex : "%" + hex
            }
        }
        return result
    }
}
