import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import PazServiceKit
import Synchronization

/// Lines a log handler wrote, captured in memory.
final class CapturedLines: Sendable {
    private let lines = Mutex<[String]>([])

    var output: LogOutput { LogOutput { [self] line in lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }
    var text: String { all.joined() }
}

/// A value shared between a test and the closures it hands to the kit.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
    func update<R>(_ body: (inout Value) -> R) -> R { storage.withLock { body(&$0) } }
}

/// An ordered record of what happened, to assert ordering.
typealias EventLog = Shared<[String]>

extension EventLog where Value == [String] {
    func record(_ event: String) { update { $0.append(event) } }
    func index(of event: String) -> Int? { value.firstIndex(of: event) }
}

/// A logger writing JSON lines into `captured` (no global bootstrap: tests share one process).
func testLogger(_ label: String, captured: CapturedLines = CapturedLines(), level: Logger.Level = .debug) -> Logger {
    Logger(label: label) { JSONLogHandler(label: $0, level: level, output: captured.output) }
}

/// A real HTTP GET over a loopback socket.
func httpGet(port: Int, path: String) async throws -> (status: Int, body: String) {
    let response = try await httpResponse(port: port, path: path)
    return (response.status, response.body)
}

/// `GET path` on 127.0.0.1:`port`: the status, body and header fields.
func httpResponse(port: Int, path: String) async throws -> (status: Int, body: String, headers: [String: String]) {
    guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else { throw URLError(.badURL) }
    let session = URLSession(configuration: .ephemeral)
    defer { session.finishTasksAndInvalidate() }
    let (data, response) = try await session.data(from: url)
    let http = response as? HTTPURLResponse
    var headers: [String: String] = [:]
    for (name, value) in http?.allHeaderFields ?? [:] {
        if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
    }
    return (http?.statusCode ?? -1, String(decoding: data, as: UTF8.self), headers)
}
