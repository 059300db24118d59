import Foundation
import PazGatewayAPI
@testable import PazMachineCLI
import Testing

@Suite("Output: tables, ages, JSON, problems")
struct OutputTests {
    @Test("tables align columns and show empty cells as -")
    func table() {
        let text = Table(["NAME", "STATE", "IP"], rows: [["web-1", "running", "127.0.0.2"], ["a-much-longer-name", "", "10.0.0.1"]]).render()
        #expect(text == """
            NAME                 STATE     IP
            web-1                running   127.0.0.2
            a-much-longer-name   -         10.0.0.1

            """)
    }

    @Test("ages", arguments: [(0.4, "just now"), (12, "12s ago"), (61, "1m ago"), (7300, "2h ago"), (200_000, "2d ago"), (-5, "just now")])
    func ages(seconds: Double, text: String) {
        #expect(Format.age(seconds) == text)
    }

    static func operation(state: Components.Schemas.OperationState, failedMachine: Bool = false) -> Components.Schemas.Operation {
        let date = Date(timeIntervalSince1970: 1_795_000_000.25)
        let problem = Components.Schemas.Problem(_type: "urn:paz:problem:ssh-timeout", title: "SSH timeout", status: 504, detail: "no answer on 127.0.0.2:22")
        return Components.Schemas.Operation(
            id: "op_01", kind: .cluster_create,
            target: .init(_type: .cluster, cluster: "web", clusterId: "cls_01"),
            state: state,
            machines: [
                .init(machine: "web-1", machineId: "mch_1", state: .succeeded, step: "done", updatedAt: date),
                .init(machine: "web-2", machineId: "mch_2", state: failedMachine ? .failed : .running, step: "waiting-for-ssh",
                      message: "VM booted", error: failedMachine ? problem : nil, updatedAt: date),
            ],
            error: failedMachine ? .init(_type: "urn:paz:problem:operation-failed", title: "Operation failed", status: 502) : nil,
            createdAt: date, updatedAt: date)
    }

    @Test("JSON output is the API object: its field names, RFC 3339 dates")
    func jsonShape() throws {
        let text = try Format.json(Self.operation(state: .running))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["id"] as? String == "op_01")
        #expect(object["kind"] as? String == "cluster.create")
        #expect(object["state"] as? String == "running")
        #expect(object["createdAt"] as? String == "2026-11-18T11:06:40.250Z")
        let machines = try #require(object["machines"] as? [[String: Any]])
        #expect(machines.map { $0["machine"] as? String } == ["web-1", "web-2"])
        #expect((object["target"] as? [String: Any])?["type"] as? String == "cluster")
        // And it decodes back into the generated type.
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(decoder.singleValueContainer().decode(String.self))
        }
        #expect(try decoder.decode(Components.Schemas.Operation.self, from: Data(text.utf8)).id == "op_01")
    }

    @Test("--output json writes JSON on stdout only; text writes the table")
    func emit() throws {
        let directory = try temporaryDirectory("emit")
        defer { try? FileManager.default.removeItem(at: directory) }
        let list = Components.Schemas.ClusterList(clusters: [])
        let json = CapturedTerminal()
        try makeContext(json, directory: directory, format: .json).emit(list) { _ in "table" }
        #expect(json.out == "{\n  \"clusters\" : [\n\n  ]\n}\n")
        #expect(json.err.isEmpty)
        let text = CapturedTerminal()
        try makeContext(text, directory: directory).emit(list, text: ClusterList.render)
        #expect(text.out == "NAME   DRIVER   MACHINES   RUNNING   STOPPED   OTHER   CREATED\n")
    }

    @Test("progress lines: one per machine change, none when nothing changed")
    func progress() {
        var log = ProgressLog()
        let first = log.lines(for: Self.operation(state: .running))
        #expect(first == "  web-1: succeeded [done]\n  web-2: running [waiting-for-ssh] VM booted\n")
        #expect(log.lines(for: Self.operation(state: .running)).isEmpty)
        #expect(log.lines(for: Self.operation(state: .failed, failedMachine: true))
            == "  web-2: failed [waiting-for-ssh] VM booted — SSH timeout: no answer on 127.0.0.2:22\n")
    }

    @Test("problems read `<title>: <detail> (field: x)`; exit codes")
    func problems() {
        let problem = Components.Schemas.Problem(
            _type: "urn:paz:problem:unknown-option", title: "Unknown driver option", status: 422,
            detail: "Driver \"qemu\" has no option \"cpu\".", field: "options.cpu")
        let error = CLIError.problem(problem)
        #expect(error.description == "Unknown driver option: Driver \"qemu\" has no option \"cpu\". (field: options.cpu)")
        #expect(error.exitCode == 1)
        let failed = CLIError.operationFailed(Self.operation(state: .failed, failedMachine: true))
        #expect(failed.exitCode == 2)
        #expect(failed.description == "operation op_01 (cluster.create) failed: Operation failed\n  web-2: SSH timeout: no answer on 127.0.0.2:22")
        #expect(CLIError.notLoggedIn.description.contains("paz-machine login --gateway"))
        #expect(CLIError.notLoggedIn.description.contains("paz-machine up"))
    }

    @Test("a problem document, or a bare error body, becomes a Problem")
    func problemBodies() {
        let body = Data(#"{"type":"urn:paz:problem:name-taken","title":"Name taken","status":409,"field":"name","extra":1}"#.utf8)
        let problem = ProblemMiddleware.problem(status: 409, body: body)
        #expect(problem.title == "Name taken" && problem.field == "name")
        let bare = ProblemMiddleware.problem(status: 502, body: Data("Bad Gateway".utf8))
        #expect(CLIError.problem(bare).description == "HTTP 502: Bad Gateway")
    }

    @Test("the operation waiter reports failure through the exit code, success on stdout")
    func report() throws {
        let directory = try temporaryDirectory("report")
        defer { try? FileManager.default.removeItem(at: directory) }
        let captured = CapturedTerminal()
        let waiter = OperationWaiter(context: makeContext(captured, directory: directory))
        try waiter.report(Self.operation(state: .succeeded))
        #expect(captured.out == "cluster.create succeeded: web-1, web-2\n")
        #expect(throws: CLIError.operationFailed(Self.operation(state: .failed, failedMachine: true))) {
            try waiter.report(Self.operation(state: .failed, failedMachine: true))
        }
    }
}
