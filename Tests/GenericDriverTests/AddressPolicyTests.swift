import Foundation
import PazDriverKit
import PazGenericDriver
import PazSchemas
import PazServiceKit
import PazTestSupport
import Testing

@Suite("Generic driver address policy")
struct AddressPolicyTests {
    @Test(arguments: [
        "127.0.0.1", "127.255.255.254", "0.0.0.0", "169.254.169.254", "::1", "::", "fe80::1", "febf::1",
        "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    ])
    func theDefaultDeniesLoopbackAndLinkLocal(address: String) {
        let error = #expect(throws: AddressPolicyError.self) { try AddressPolicy(.generic).check(address) }
        guard case .denied? = error else {
            Issue.record("expected denied, got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("generic.addressDeny (GENERIC_ADDRESS_DENY)") == true)
        #expect(error?.driverError == .invalidArgument(field: "ip-address", message: error?.description ?? ""))
    }

    @Test(arguments: ["192.0.2.10", "10.1.2.3", "2001:db8::7", "fec0::1", "::ffff:192.0.2.10", "126.255.255.255", "128.0.0.1"])
    func theDefaultAllowsEverythingElse(address: String) throws {
        try AddressPolicy(.generic).check(address)
    }

    @Test(arguments: ["localhost", "example.org", "127.1", "0x7f.0.0.1", "fe80::1%lo", "[::1]", "127.0.0.1 ", ""])
    func onlyIPLiteralsAreAccepted(host: String) {
        let error = #expect(throws: AddressPolicyError.self) { try AddressPolicy(.generic).check(host) }
        #expect(error == .notAnIPAddress(host, owner: .generic))
        #expect(error?.description.contains("host names are not resolved") == true)
    }

    @Test func denyWinsOverAllowAndAllowIsExhaustive() throws {
        let local = try #require(AddressPolicy(.generic, allow: ["127.0.0.0/8"], deny: ["127.0.0.1/32"]))
        try local.check("127.0.0.2")
        try local.check("127.0.0.254")
        #expect(throws: AddressPolicyError.denied("127.0.0.1", block: try #require(CIDRBlock("127.0.0.1/32")), owner: .generic)) {
            try local.check("127.0.0.1")
        }
        let outside = #expect(throws: AddressPolicyError.self) { try local.check("192.0.2.1") }
        guard case .notAllowed? = outside else {
            Issue.record("expected notAllowed, got \(String(describing: outside))")
            return
        }
        #expect(outside?.description.contains("generic.addressAllow (GENERIC_ADDRESS_ALLOW)") == true)
        #expect(throws: AddressPolicyError.self) { try local.check("::1") }
    }

    @Test func blocksMatchByPrefix() throws {
        let block = try #require(CIDRBlock("10.20.0.0/14"))
        #expect(block.contains(try #require(IPAddress("10.23.255.255"))))
        #expect(!block.contains(try #require(IPAddress("10.24.0.0"))))
        #expect(!block.contains(try #require(IPAddress("::a14:1"))))  // another family
        let v6 = try #require(CIDRBlock("2001:db8:8000::/33"))
        #expect(v6.contains(try #require(IPAddress("2001:db8:ffff::1"))))
        #expect(!v6.contains(try #require(IPAddress("2001:db8:7fff::1"))))
        #expect(try #require(CIDRBlock("0.0.0.0/0")).contains(try #require(IPAddress("203.0.113.9"))))
        #expect(try #require(CIDRBlock("::ffff:127.0.0.0/104")).contains(try #require(IPAddress("127.9.9.9"))))
        for invalid in ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "host/8", "10.0.0.0/8/8", "10.0.0.0/+8"] {
            #expect(CIDRBlock(invalid) == nil, "\(invalid)")
        }
    }

    @Test func settingsAreReadFromTheEnvironmentAndReplaceTheDefaults() async throws {
        let configured = try AddressPolicy(.generic, reader: try await ConfigurationSources.makeReader(environment: [
            "GENERIC_ADDRESS_ALLOW": "127.0.0.0/8, 2001:db8::/32", "GENERIC_ADDRESS_DENY": "127.0.0.1",
        ]))
        try configured.check("127.0.0.3")
        try configured.check("2001:db8::1")
        #expect(throws: AddressPolicyError.self) { try configured.check("127.0.0.1") }
        #expect(throws: AddressPolicyError.self) { try configured.check("192.0.2.1") }
        #expect(try AddressPolicy(.generic, reader: try await ConfigurationSources.makeReader(environment: [:])) == AddressPolicy(.generic))

        let error = await #expect(throws: ServiceKitError.self) {
            _ = try AddressPolicy(.generic, reader: try await ConfigurationSources.makeReader(environment: ["GENERIC_ADDRESS_DENY": "127.0.0.1/40"]))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("GENERIC_ADDRESS_DENY"))
    }
}
