import PazSchemas
import Testing

@Suite("Random words for identifiers")
struct IdentifierRandomTests {
    @Test("words across several refills of the pool are distinct, and their bits vary")
    func distinctAcrossRefills() {
        var random = IdentifierRandom()
        let words = (0..<2_000).map { _ in random.next() }
        #expect(Set(words).count == words.count)
        // Each bit is set in roughly half the words: far from 0 or 2,000 for any bit.
        for bit in 0..<64 {
            let set = words.count { $0 & (1 << UInt64(bit)) != 0 }
            #expect((800...1_200).contains(set), "bit \(bit) set in \(set) of 2,000 words")
        }
    }

    @Test func ulidsAndTraceIdsStayUnique() {
        #expect(Set((0..<5_000).map { _ in ULID.make() }).count == 5_000)
        #expect(Set((0..<5_000).map { _ in TraceContext.newTrace().spanID }).count == 5_000)
    }

    @Test("hex words are 16 lowercase digits each, every digit position taking every value")
    func hexWords() {
        var random = IdentifierRandom()
        let texts = (0..<2_000).map { _ in random.hex(words: 2) }
        #expect(texts.allSatisfy { $0.utf8.count == 32 && $0.utf8.allSatisfy { "0123456789abcdef".utf8.contains($0) } })
        for position in 0..<32 {
            let digits = Set(texts.map { Array($0.utf8)[position] })
            #expect(digits.count == 16, "position \(position) took \(digits.count) values")
        }
    }
}
