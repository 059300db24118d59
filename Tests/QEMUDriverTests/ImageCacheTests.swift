import Crypto
import Foundation
import Logging
import PazDriverKit
import PazGuestConfig
import PazHTTP
import PazLocalServers
import PazSchemas
import PazTestSupport
import Testing
@testable import PazQEMUDriver

/// A Python HTTP server on 127.0.0.1 serving `/files/<name>` from a directory (after an optional
/// `?ms=` wait), counting requests per path; `/count?path=/files/<name>` answers the count;
/// `/redirect?to=<url>` answers 302 to `url`.
struct ImageServer: Sendable {
    let baseURL: String
    /// Files put here are served under `/files/`.
    let root: URL

    static let shared = SharedFixture<ImageServer> { try await ImageServer.start() }
    /// A second server, on another port: a source the test caches do not allow.
    static let other = SharedFixture<ImageServer> { try await ImageServer.start() }

    static func get() async throws -> ImageServer {
        try await shared.value()
    }

    /// The URL prefix that allows this server's files.
    var filesPrefix: URLPrefix {
        URLPrefix(baseURL + "/files")!
    }

    /// Writes `data` under a fresh name and returns the name.
    func add(_ data: Data, suffix: String = ".img") throws -> String {
        let name = UUID().uuidString + suffix
        try data.write(to: root.appendingPathComponent(name))
        return name
    }

    func url(_ name: String, _ query: String = "") -> String {
        "\(baseURL)/files/\(name)" + (query.isEmpty ? "" : "?\(query)")
    }

    /// Requests the server saw for `/files/<name>`.
    func count(_ name: String, client: HTTPClient) async throws -> Int {
        let response = try await client.send(HTTPRequest(url: "\(baseURL)/count?path=/files/\(name)"))
        return try #require(Int(response.bodyText))
    }

    private static let script = #"""
        import os, sys, threading, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        port, root = int(sys.argv[1]), sys.argv[2]
        counts, lock = {}, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/count":
                    with lock:
                        return self.reply(200, str(counts.get(query.get("path", ""), 0)).encode())
                with lock:
                    counts[url.path] = counts.get(url.path, 0) + 1
                if url.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", query["to"])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                time.sleep(int(query.get("ms", "0")) / 1000)
                file = os.path.join(root, os.path.basename(url.path))
                if not url.path.startswith("/files/") or not os.path.isfile(file):
                    return self.reply(404, b"not found")
                with open(file, "rb") as f:
                    self.reply(200, f.read())

            def reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        Server(("127.0.0.1", port), Handler).serve_forever()
        """#

    private static func start() async throws -> ImageServer {
        let directory = try ScratchDirectory.make(prefix: "paz-image-server")
        FixtureCleanup.removeAtExit(directory)
        let root = directory.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let scriptFile = directory.appendingPathComponent("image_server.py")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        let port = try LoopbackNetwork.freePort()
        let process = try ManagedProcess(
            executable: "python3", arguments: ["-u", scriptFile.path, "\(port)", root.path],
            logFile: directory.appendingPathComponent("server.log")
        )
        FixtureCleanup.stopAtExit(process)
        try await LoopbackNetwork.waitUntilListening(
            host: "127.0.0.1", port: port, timeout: .seconds(15), whileRunning: process, server: "image server"
        )
        return ImageServer(baseURL: "http://127.0.0.1:\(port)", root: root)
    }
}

/// Test scaffolding: a scratch cache directory and an HTTP client, removed/shut down afterwards.
/// ``sources`` allows `file://` below ``scratch`` and http from the shared ``ImageServer``'s `/files/`.
struct CacheHarness {
    let scratch: URL
    let cacheDirectory: URL
    let client: HTTPClient
    let sources: ImageSourcePolicy
    let logs = LogCapture()

    init() async throws {
        scratch = try ScratchDirectory.make(prefix: "paz-image-cache")
        FixtureCleanup.removeAtExit(scratch)
        cacheDirectory = scratch.appendingPathComponent("cache")
        client = HTTPClient(configuration: .init(connectTimeout: .seconds(5), threadName: "paz-qemu-test"), logger: logs.logger)
        sources = ImageSourcePolicy(fileDirectories: [scratch.path], urlPrefixes: [try await ImageServer.get().filesPrefix])
    }

    func cache(sources: ImageSourcePolicy? = nil) -> ImageCache {
        ImageCache(directory: cacheDirectory, sources: sources ?? self.sources, http: client, logger: logs.logger)
    }

    /// The names in the cache directory (none when it was never created).
    func entries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory.path)) ?? []).sorted()
    }

    static func with<T>(_ body: (CacheHarness) async throws -> T) async throws -> T {
        let harness = try await CacheHarness()
        do {
            let result = try await body(harness)
            await harness.client.shutdown()
            return result
        } catch {
            await harness.client.shutdown()
            throw error
        }
    }
}

/// `count` pseudo-random bytes (xorshift64 from a random seed: fast enough for megabytes in debug builds).
func randomBytes(_ count: Int) -> Data {
    var state = UInt64.random(in: 1 ... .max)
    let words = (0..<(count + 7) / 8).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
    return words.withUnsafeBytes { Data($0.prefix(count)) }
}

func digest(_ data: Data, _ algorithm: ImageDigest.Algorithm) throws -> ImageDigest {
    switch algorithm {
    case .sha256: try ImageDigest(parsing: "sha256:" + ImageDigest.hex(SHA256.hash(data: data)))
    case .sha512: try ImageDigest(parsing: "sha512:" + ImageDigest.hex(SHA512.hash(data: data)))
    }
}

func posixMode(_ url: URL) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
    return try #require(attributes[.posixPermissions] as? Int)
}

@Suite("Image digests")
struct ImageDigestTests {
    @Test func parsesThePublishedForms() throws {
        let hex256 = String(repeating: "aB", count: 32)
        let hex512 = String(repeating: "c0", count: 64)
        #expect(try ImageDigest(parsing: "sha256:\(hex256)").description == "sha256:" + hex256.lowercased())
        #expect(try ImageDigest(parsing: hex256).algorithm == .sha256)
        #expect(try ImageDigest(parsing: " SHA512:\(hex512) ").description == "sha512:\(hex512)")
    }

    @Test(arguments: [
        "", "sha256:", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:" + String(repeating: "a", count: 63),
        "sha512:" + String(repeating: "a", count: 64), String(repeating: "g", count: 64),
        "sha256:" + String(repeating: "１", count: 64),
    ])
    func rejectsEverythingElse(text: String) {
        #expect(throws: ImageCacheError.self) { try ImageDigest(parsing: text) }
    }

    @Test func invalidDigestNamesTheOption() {
        let error = #expect(throws: ImageCacheError.self) { try ImageDigest(parsing: "md5:abc") }
        #expect(error?.description.contains("use sha256:<64 hex digits> or sha512:<128 hex digits>") == true)
        #expect(error?.driverError == .invalidArgument(field: "image-digest", message: error?.description ?? ""))
    }
}

@Suite("Image cache")
struct ImageCacheTests {
    @Test(arguments: [ImageDigest.Algorithm.sha256, .sha512])
    func downloadVerifiesAndKeysTheEntry(algorithm: ImageDigest.Algorithm) async throws {
        let server = try await ImageServer.get()
        let data = randomBytes(1024 * 1024 + 17)
        let name = try server.add(data)
        let expected = try digest(data, algorithm)
        try await CacheHarness.with { harness in
            let path = try await harness.cache().baseImage(url: server.url(name), digest: expected)
            #expect(try Data(contentsOf: path) == data)
            let urlHash = ImageDigest.hex(SHA256.hash(data: Data(server.url(name).utf8)).prefix(8))
            #expect(path.lastPathComponent == "\(algorithm.rawValue)-\(expected.hex)-\(urlHash).img")
            #expect(path.deletingLastPathComponent().path == harness.cacheDirectory.path)
            #expect(harness.entries() == [path.lastPathComponent])
            #expect(try posixMode(harness.cacheDirectory) == 0o700)
            #expect(try posixMode(path) == 0o600)
            #expect(try await server.count(name, client: harness.client) == 1)
        }
    }

    @Test func secondCallIsACacheHit() async throws {
        let server = try await ImageServer.get()
        let data = randomBytes(200_000)
        let name = try server.add(data)
        try await CacheHarness.with { harness in
            let first = try await harness.cache().baseImage(url: server.url(name), digest: try digest(data, .sha256))
            let second = try await harness.cache().baseImage(url: server.url(name), digest: try digest(data, .sha256))
            #expect(first == second)
            #expect(try await server.count(name, client: harness.client) == 1)
        }
    }

    @Test func sameBytesAtAnotherURLAreAnotherEntry() async throws {
        let server = try await ImageServer.get()
        let data = randomBytes(10_000)
        let name = try server.add(data)
        try await CacheHarness.with { harness in
            let cache = harness.cache()
            let plain = try await cache.baseImage(url: server.url(name), digest: try digest(data, .sha256))
            let other = try await cache.baseImage(url: server.url(name, "v=2"), digest: try digest(data, .sha256))
            #expect(plain != other)
            #expect(harness.entries().count == 2)
            #expect(try await server.count(name, client: harness.client) == 2)
        }
    }

    @Test func wrongDigestLeavesNothing() async throws {
        let server = try await ImageServer.get()
        let data = randomBytes(500_000)
        let name = try server.add(data)
        let wrong = try digest(Data("something else".utf8), .sha256)
        try await CacheHarness.with { harness in
            let error = await #expect(throws: ImageCacheError.self) {
                try await harness.cache().baseImage(url: server.url(name), digest: wrong)
            }
            guard case .digestMismatch(let url, let expected)? = error else {
                Issue.record("expected digestMismatch, got \(String(describing: error))")
                return
            }
            #expect(url == server.url(name))
            #expect(expected == wrong)
            let message = error?.description ?? ""
            #expect(message.contains("the image's digest does not match image-digest (\(wrong))"))
            #expect(message.contains("nothing was cached"))
            // The digest of what was read appears nowhere: not in the error, not in the logs.
            for real in [try digest(data, .sha256), try digest(data, .sha512)] {
                #expect(!message.contains(real.hex))
                #expect(!harness.logs.text.contains(real.hex))
            }
            #expect(error?.driverError == .invalidArgument(field: "image-digest", message: message))
            #expect(harness.entries() == [])
        }
    }

    @Test func concurrentCallersShareOneDownload() async throws {
        let server = try await ImageServer.get()
        let data = randomBytes(1_000_000)
        let name = try server.add(data)
        let expected = try digest(data, .sha256)
        try await CacheHarness.with { harness in
            let cache = harness.cache()
            let url = server.url(name, "ms=500")
            let paths = try await withThrowingTaskGroup(of: URL.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await cache.baseImage(url: url, digest: expected) }
                }
                return try await group.reduce(into: [URL]()) { $0.append($1) }
            }
            #expect(paths.count == 4)
            #expect(Set(paths).count == 1)
            #expect(try Data(contentsOf: paths[0]) == data)
            #expect(try await server.count(name, client: harness.client) == 1)
        }
    }

    @Test func cancelledWaiterLeavesTheDownloadRunning() async throws {
        let server = try await ImageServer.get()
        let data = randomBytes(100_000)
        let name = try server.add(data)
        let expected = try digest(data, .sha256)
        try await CacheHarness.with { harness in
            let cache = harness.cache()
            let url = server.url(name, "ms=800")
            let leader = Task { try await cache.baseImage(url: url, digest: expected) }
            try await Task.sleep(for: .milliseconds(200))
            let waiter = Task { try await cache.baseImage(url: url, digest: expected) }
            try await Task.sleep(for: .milliseconds(100))
            waiter.cancel()
            let waited = await waiter.result
            guard case .failure(let error) = waited, case .cancelled? = error as? ImageCacheError else {
                Issue.record("expected the waiter to be cancelled, got \(waited)")
                return
            }
            #expect(try Data(contentsOf: try await leader.value) == data)
        }
    }

    @Test func twoCachesOnOneDirectoryDownloadOnce() async throws {
        let server = try await ImageServer.get()
        let data = randomBytes(2_000_000)
        let name = try server.add(data)
        let expected = try digest(data, .sha512)
        try await CacheHarness.with { harness in
            // Two instances with their own HTTP clients: as two processes would, they meet only at the lock.
            let otherClient = HTTPClient(configuration: .init(threadName: "paz-qemu-test-2"), logger: harness.logs.logger)
            let url = server.url(name, "ms=500")
            async let first = harness.cache().baseImage(url: url, digest: expected)
            async let second = ImageCache(
                directory: harness.cacheDirectory, sources: harness.sources, http: otherClient, logger: harness.logs.logger)
                .baseImage(url: url, digest: expected)
            let paths = try await [first, second]
            await otherClient.shutdown()
            #expect(paths[0] == paths[1])
            #expect(try digest(try Data(contentsOf: paths[0]), .sha512) == expected)
            #expect(harness.entries() == [paths[0].lastPathComponent])
            #expect(try await server.count(name, client: harness.client) == 1)
            #expect(harness.logs.text.contains("image cached by another process"))
        }
    }

    @Test func fileURLsAreCopiedAndVerified() async throws {
        try await CacheHarness.with { harness in
            let source = harness.scratch.appendingPathComponent("local image.qcow2")
            let data = randomBytes(300_000)
            try data.write(to: source)
            let path = try await harness.cache().baseImage(url: source.absoluteString, digest: try digest(data, .sha256))
            #expect(try Data(contentsOf: path) == data)
            #expect(FileManager.default.fileExists(atPath: source.path))

            let missing = harness.scratch.appendingPathComponent("missing.img").absoluteString
            let error = await #expect(throws: ImageCacheError.self) {
                try await harness.cache().baseImage(url: missing, digest: try digest(data, .sha256))
            }
            #expect(error?.driverError == .invalidArgument(field: "image-url", message: error?.description ?? ""))
            #expect(harness.entries() == [path.lastPathComponent])
        }
    }

    @Test func notFoundIsAClearErrorAndLeavesNothing() async throws {
        let server = try await ImageServer.get()
        try await CacheHarness.with { harness in
            let url = server.url("no-such-image.qcow2")
            let error = await #expect(throws: ImageCacheError.self) {
                try await harness.cache().baseImage(url: url, digest: try digest(Data(), .sha256))
            }
            guard case .downloadFailed(_, .badStatus(404))? = error else {
                Issue.record("expected downloadFailed(404), got \(String(describing: error))")
                return
            }
            let message = error?.description ?? ""
            #expect(message.contains("could not download image \(url): the server answered HTTP 404"))
            #expect(error?.driverError == .invalidArgument(field: "image-url", message: message))
            #expect(harness.entries() == [])
        }
    }

    @Test func unreachableServerIsRetriable() async throws {
        let port = try LoopbackNetwork.freePort()
        try await CacheHarness.with { harness in
            let error = await #expect(throws: ImageCacheError.self) {
                try await harness.cache(sources: ImageSourcePolicy(urlPrefixes: [URLPrefix("http://127.0.0.1:\(port)")!]))
                    .baseImage(url: "http://127.0.0.1:\(port)/x.img", digest: try digest(Data(), .sha256))
            }
            #expect(error?.driverError.isRetriable == true)
            #expect(harness.entries() == [])
        }
    }

    @Test(arguments: ["ftp://127.0.0.1/image.img", "image.img", "/var/lib/image.img", "data:,x"])
    func otherURLsAreUnsupported(url: String) async throws {
        try await CacheHarness.with { harness in
            let error = await #expect(throws: ImageCacheError.self) {
                try await harness.cache().baseImage(url: url, digest: try digest(Data(), .sha256))
            }
            guard case .unsupportedURL? = error else {
                Issue.record("expected unsupportedURL, got \(String(describing: error))")
                return
            }
            #expect(error?.driverError == .invalidArgument(field: "image-url", message: error?.description ?? ""))
        }
    }

    @Test func credentialsInTheURLAreNotLogged() async throws {
        let server = try await ImageServer.get()
        let data = randomBytes(1000)
        let name = try server.add(data)
        try await CacheHarness.with { harness in
            _ = try await harness.cache().baseImage(url: server.url(name, "token=hunter2-secret"), digest: try digest(data, .sha256))
            let wrong = try digest(Data(), .sha256)
            _ = try? await harness.cache().baseImage(url: server.url(name, "X-Amz-Signature=sig-secret"), digest: wrong)
            let logs = harness.logs.text
            #expect(logs.contains("image downloaded"))
            #expect(logs.contains("image.bytes=1000"))
            #expect(!logs.contains("hunter2-secret"))
            #expect(!logs.contains("sig-secret"))
        }
    }
}

@Suite("Overlays")
struct OverlayTests {
    /// A `format` image of `size` made by qemu-img (sparse, so a few KB on disk).
    func makeImage(_ format: String, size: String, in directory: URL, extra: [String] = []) async throws -> URL {
        let path = directory.appendingPathComponent(UUID().uuidString + "." + format)
        let result = try await ExternalTool.run("qemu-img", ["create", "-q", "-f", format] + extra + [path.path, size], timeout: .seconds(30))
        #expect(result.status == 0, "\(result.standardError)")
        return path
    }

    func imageInfo(_ image: URL) async throws -> [String: Any] {
        let result = try await ExternalTool.run("qemu-img", ["info", "--output=json", "-U", image.path], timeout: .seconds(30))
        return try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
    }

    @Test(arguments: ["qcow2", "raw"])
    func overlayIsBackedByTheCachedBase(format: String) async throws {
        let server = try await ImageServer.get()
        try await CacheHarness.with { harness in
            let made = try await makeImage(format, size: "16M", in: harness.scratch)
            let data = try Data(contentsOf: made)
            let name = try server.add(data)
            let base = try await harness.cache().baseImage(url: server.url(name), digest: try digest(data, .sha256))

            let overlay = harness.scratch.appendingPathComponent("machine-1.qcow2")
            let baseInfo = try await OverlayCreator().create(at: overlay, base: base, diskGiB: 1)
            #expect(baseInfo == BaseImageInfo(format: BaseImageFormat(rawValue: format)!, virtualSize: 16 << 20))
            let info = try await imageInfo(overlay)
            #expect(info["format"] as? String == "qcow2")
            #expect(info["backing-filename"] as? String == base.path)
            #expect(info["backing-filename-format"] as? String == format)
            #expect((info["virtual-size"] as? NSNumber)?.int64Value == 1 << 30)
            #expect(try posixMode(overlay) == 0o600)

            let sameSize = harness.scratch.appendingPathComponent("machine-2.qcow2")
            try await OverlayCreator().create(at: sameSize, base: base, diskGiB: nil)
            #expect((try await imageInfo(sameSize)["virtual-size"] as? NSNumber)?.int64Value == 16 << 20)
        }
    }

    @Test func diskSmallerThanTheBaseIsRefused() async throws {
        try await CacheHarness.with { harness in
            let base = try await makeImage("qcow2", size: "2561M", in: harness.scratch)
            let overlay = harness.scratch.appendingPathComponent("small.qcow2")
            let error = await #expect(throws: OverlayError.self) {
                try await OverlayCreator().create(at: overlay, base: base, diskGiB: 2)
            }
            guard case .diskTooSmall(requestedGiB: 2, minimumGiB: 3)? = error else {
                Issue.record("expected diskTooSmall(2, 3), got \(String(describing: error))")
                return
            }
            #expect(error?.description.contains("use at least 3 GiB") == true)
            #expect(error?.driverError == .invalidArgument(field: "disk", message: error?.description ?? ""))
            #expect(!FileManager.default.fileExists(atPath: overlay.path))
        }
    }

    @Test func existingOverlayIsNotOverwritten() async throws {
        try await CacheHarness.with { harness in
            let base = try await makeImage("qcow2", size: "16M", in: harness.scratch)
            let overlay = harness.scratch.appendingPathComponent("taken.qcow2")
            try Data("a machine's data".utf8).write(to: overlay)
            let error = await #expect(throws: OverlayError.self) {
                try await OverlayCreator().create(at: overlay, base: base, diskGiB: nil)
            }
            guard case .alreadyExists? = error else {
                Issue.record("expected alreadyExists, got \(String(describing: error))")
                return
            }
            #expect(try Data(contentsOf: overlay) == Data("a machine's data".utf8))
        }
    }

    @Test func otherFormatsAndExternalFilesAreRefused() async throws {
        try await CacheHarness.with { harness in
            let vmdk = try await makeImage("vmdk", size: "16M", in: harness.scratch)
            let vmdkError = await #expect(throws: OverlayError.self) { try await OverlayCreator().inspect(vmdk) }
            guard case .unsupportedFormat("vmdk", _)? = vmdkError else {
                Issue.record("expected unsupportedFormat(vmdk), got \(String(describing: vmdkError))")
                return
            }
            #expect(vmdkError?.driverError == .invalidArgument(field: "image-url", message: vmdkError?.description ?? ""))

            // A downloaded qcow2 naming a backing file could expose a host file to the guest.
            let hostFile = try await makeImage("raw", size: "1M", in: harness.scratch)
            let sneaky = try await makeImage("qcow2", size: "1M", in: harness.scratch, extra: ["-F", "raw", "-b", hostFile.path])
            let sneakyError = await #expect(throws: OverlayError.self) { try await OverlayCreator().inspect(sneaky) }
            guard case .externalReference(_, let file)? = sneakyError else {
                Issue.record("expected externalReference, got \(String(describing: sneakyError))")
                return
            }
            #expect(file == hostFile.path)
        }
    }

    @Test func missingQEMUImgSaysWhatToInstall() async throws {
        let error = await #expect(throws: OverlayError.self) {
            try await OverlayCreator(qemuImg: "qemu-img-not-installed").inspect(URL(fileURLWithPath: "/nonexistent"))
        }
        #expect(error?.description.contains("qemu-img-not-installed is not installed") == true)
    }
}

@Suite("QEMU catalog")
struct QEMUCatalogTests {
    @Test func imagesHaveUniqueIDsAndDescribeThemselves() throws {
        let ids = ImageCatalog.images.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(Set(ids).isSuperset(of: ["debian-12", "ubuntu-24.04", "flatcar-stable", "fedora-coreos-stable", "debian-12-paz-test"]))
        let debian = try #require(ImageCatalog.image(id: "debian-12")).catalogImage
        #expect(debian.extra["defaultUser"] == .string("debian"))
        #expect(debian.extra["guestConfiguration"] == .string("cloud-init"))
        #expect(debian.extra["digestSource"] == .object([
            "url": .string("https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS"),
            "algorithm": .string("sha512"), "format": .string("checksum-list"),
        ]))
        let flatcar = try #require(ImageCatalog.image(id: "flatcar-stable"))
        #expect(flatcar.guestConfig == .ignitionFlatcar)
        #expect(flatcar.defaultUser == "core")
        let coreOS = try #require(ImageCatalog.image(id: "fedora-coreos-stable"))
        #expect(coreOS.compression == .xz)
        #expect(coreOS.catalogImage.extra["guestConfiguration"] == .string("ignition-fcos"))
        #expect(ImageCatalog.image(id: "debian-12-paz-test")?.defaultUser == "paz")
    }

    @Test func searchMatchesIDAndNameInAnyCase() {
        #expect(ImageCatalog.catalogImages(matching: CatalogImagesQuery(search: "FLATCAR")).map(\.id) == ["flatcar-stable"])
        #expect(ImageCatalog.catalogImages(matching: CatalogImagesQuery(search: "bookworm")).map(\.id) == ["debian-12"])
        #expect(ImageCatalog.catalogImages(matching: CatalogImagesQuery()).count == ImageCatalog.images.count)
    }

    @Test func sizes() throws {
        let sizes = SizeCatalog.sizes.map(\.catalogSize)
        #expect(sizes.map(\.id) == ["small", "medium", "large"])
        #expect(sizes.map(\.vcpus) == [1, 2, 4])
        #expect(sizes.map(\.ramMiB) == [1024, 2048, 4096])
        #expect(sizes.map(\.diskGiB) == [10, 20, 40])
        #expect(SizeCatalog.size(id: "medium")?.memoryMiB == 2048)
    }
}
