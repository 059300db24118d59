import Foundation
import PazSchemas
import Testing

@Suite struct ValidationTests {
    @Test(arguments: ["a", "web", "web-1", "0", "1a2b", "a-b-c", String(repeating: "x", count: 63)])
    func goodNamesAreAccepted(_ name: String) throws {
        #expect(try ResourceName(name, field: "clusterName").rawValue == name)
    }

    @Test(arguments: [
        ("", ValidationError.Problem.empty),
        (String(repeating: "x", count: 64), .tooLong(length: 64, maximum: 63)),
        ("Web", .invalidCharacter("W")),
        ("web_1", .invalidCharacter("_")),
        ("web.1", .invalidCharacter(".")),
        ("web 1", .invalidCharacter(" ")),
        ("wéb", .invalidCharacter("é")),
        ("-web", .leadingHyphen),
        ("web-", .trailingHyphen),
        ("-", .leadingHyphen),
    ])
    func badNamesAreRejectedNamingTheField(_ name: String, _ problem: ValidationError.Problem) {
        let error = #expect(throws: ValidationError.self) { try ResourceName(name, field: "machineName") }
        #expect(error?.problem == problem)
        #expect(error?.field == "machineName")
        #expect(error?.message.hasPrefix("machineName") == true)
    }

    @Test(arguments: ["t-acme", "0b6f6c1e-8a51-4f0e-9d0a-3f2f5f7f0c01", "Op_1.2", String(repeating: "a", count: 128)])
    func goodIdentifiersAreAccepted(_ value: String) throws {
        #expect(try TenantID(value).rawValue == value)
    }

    @Test(arguments: ["", "t acme", "t:acme", "t/acme", "ténant", String(repeating: "a", count: 129)])
    func badIdentifiersAreRejected(_ value: String) {
        let error = #expect(throws: ValidationError.self) { try TenantID(value, field: "tenantId") }
        #expect(error?.field == "tenantId")
    }

    @Test func randomIdentifiersAreValidAndDistinct() throws {
        let first = OperationID.random()
        #expect(try OperationID(first.rawValue) == first)
        #expect(first != OperationID.random())
    }

    @Test func generatedIdentifiersArePrefixedULIDsAsTheAPIDocuments() throws {
        let pattern = /^(tnt|cls|mch|op)_[0-9A-HJKMNP-TV-Z]{26}$/
        for id in [TenantID.random().rawValue, ClusterID.random().rawValue, MachineID.random().rawValue,
                   OperationID.random().rawValue] {
            #expect(id.wholeMatch(of: pattern) != nil, "\(id)")
        }
        #expect(ClusterID.random().rawValue.hasPrefix("cls_"))
        let earlier = ULID.make(now: Date(timeIntervalSince1970: 1_700_000_000))
        let later = ULID.make(now: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(earlier < later, "ULIDs sort by time")
        #expect(ULID.make(now: Date(timeIntervalSince1970: 0)).hasPrefix("0000000000"))
        // The ULID specification's example: 1469918176385 ms is 01ARYZ6S41.
        #expect(ULID.make(now: Date(timeIntervalSince1970: 1_469_918_176.3855)).hasPrefix("01ARYZ6S41"))
    }

    @Test func identifiersEncodeAsPlainStrings() throws {
        let data = try MessageCodec.encodeValue(["tenant": TenantID("t-acme")])
        #expect(String(decoding: data, as: UTF8.self) == #"{"tenant":"t-acme"}"#)
        #expect(
            try MessageCodec.decodeValue(MachineRef.self, from: Data(#"{"clusterId":"c","machineId":"m"}"#.utf8))
                == MachineRef(clusterId: "c", machineId: "m"))
    }
}
