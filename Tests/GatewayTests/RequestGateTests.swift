@testable import PazGateway
import Testing

/// The request gate's checks that run on every request, without a server.
@Suite("Request gate: null finder and path templates")
struct RequestGateTests {
    @Test("a null outside strings is found; one inside a string, escaped quotes or split by other bytes is not")
    func nulls() {
        #expect(JSONNulls.contains(Array(#"{"a":null}"#.utf8)))
        #expect(JSONNulls.contains(Array(#"[1, null]"#.utf8)))
        #expect(JSONNulls.contains(Array("null".utf8)))
        #expect(!JSONNulls.contains(Array(#"{"a":"null"}"#.utf8)))
        #expect(!JSONNulls.contains(Array(#"{"a":"x\"null\"y"}"#.utf8)))
        #expect(!JSONNulls.contains(Array(#"{"a":"nu"}"#.utf8) + Array(#"ll"#.utf8)))
        #expect(!JSONNulls.contains(Array(#"{"name":"n","count":3,"ok":true}"#.utf8)))
        #expect(!JSONNulls.contains([UInt8]()))
    }

    @Test("a path matches its template's methods; parameters match any segment; unknown paths match none")
    func templates() {
        #expect(DeclaredMethods.allowed(path: "/v1/status")?.contains("GET") == true)
        #expect(DeclaredMethods.allowed(path: "/v1/clusters/web")?.contains("DELETE") == true)
        #expect(DeclaredMethods.allowed(path: "/v1/nothing-here") == nil)
        #expect(DeclaredMethods.allowed(path: "/v1/clusters/web/extra/deep/path") == nil)
    }
}
