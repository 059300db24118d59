import PazSchemas
import Testing

@Suite struct TraceContextTests {
    @Test(arguments: [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "00-00000000000000000000000000000001-0000000000000001-ff",
        "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-09",
    ])
    func validTraceparentRoundTrips(_ header: String) throws {
        let context = try #require(TraceContext(traceparent: header))
        #expect(context.traceparent == header)
        #expect(context.traceID == String(header.dropFirst(3).prefix(32)))
        #expect(context.spanID == String(header.dropFirst(36).prefix(16)))
    }

    @Test(arguments: [
        ("", "empty"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "no flags"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", "version 00 with a trailing field"),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "uppercase trace id"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", "all-zero trace id"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "all-zero span id"),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "version ff"),
        ("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", "misplaced dash"),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", "non-hex flags"),
        ("0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "non-hex version"),
        ("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", "wrong separators"),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", "future version, bad extension"),
    ])
    func invalidTraceparentIsRejected(_ header: String, _ why: String) {
        #expect(TraceContext(traceparent: header) == nil, "accepted although \(why)")
    }

    @Test func futureVersionIsReadAndWrittenAsVersion00() throws {
        let context = try #require(
            TraceContext(traceparent: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"))
        #expect(context.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    }

    @Test func tracestateIsKeptAndEmptyDropped() throws {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        #expect(
            TraceContext(traceparent: header, tracestate: "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")?.traceState
                == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        #expect(TraceContext(traceparent: header, tracestate: "  ")?.traceState == nil)
        #expect(TraceContext(traceparent: header, tracestate: nil)?.traceState == nil)
    }

    @Test func childKeepsTraceAndGetsANewSpan() throws {
        let parent = try #require(
            TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "paz=1"))
        let child = parent.child()
        #expect(child.traceID == parent.traceID)
        #expect(child.spanID != parent.spanID)
        #expect(child.flags == parent.flags)
        #expect(child.traceState == "paz=1")
        #expect(TraceContext(traceparent: child.traceparent, tracestate: child.traceState) == child)
    }

    @Test func newTraceIsValidAndRandom() throws {
        let first = TraceContext.newTrace()
        let second = TraceContext.newTrace(sampled: false)
        #expect(first.traceID != second.traceID)
        #expect(first.isSampled)
        #expect(!second.isSampled)
        #expect(second.traceparent.hasSuffix("-00"))
        #expect(TraceContext(traceparent: first.traceparent) == first)
        #expect(first.traceID.count == 32 && first.spanID.count == 16)
    }
}
