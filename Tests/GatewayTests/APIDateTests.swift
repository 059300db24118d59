import Foundation
import OpenAPIRuntime
import PazGatewayAPI
import Testing

@Suite("Gateway API dates")
struct APIDateTests {
    @Test("written as the runtime's ISO 8601 transcoder writes them, whole seconds in UTC",
          arguments: [0, 1_764_908_470, 1_764_908_470.999, 951_782_400.5, 4_102_444_799.25, -86_400.75])
    func sameTextAsTheRuntime(seconds: Double) throws {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(try APIDateTranscoder().encode(date) == ISO8601DateTranscoder.iso8601.encode(date))
    }

    @Test func readWithOrWithoutAFractionAndWithOffsets() throws {
        let transcoder = APIDateTranscoder()
        let whole = try transcoder.decode("2026-12-05T17:21:10Z")
        #expect(whole == Date(timeIntervalSince1970: 1_796_491_270))
        #expect(try transcoder.decode("2026-12-05T17:21:10.250Z") == whole.addingTimeInterval(0.25))
        #expect(try transcoder.decode("2026-12-05T18:21:10+01:00") == whole)
        #expect(try transcoder.encode(transcoder.decode("2026-12-05T17:21:10.999Z")) == "2026-12-05T17:21:10Z")
        #expect(throws: DecodingError.self) { try transcoder.decode("2026-12-05 17:21:10") }
        #expect(throws: DecodingError.self) { try transcoder.decode("2026-02-30T00:00:00Z") }
    }
}
