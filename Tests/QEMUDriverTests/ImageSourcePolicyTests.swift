import Foundation
import PazDriverKit
import PazHTTP
import PazServiceKit
import PazTestSupport
import Testing
@testable import PazQEMUDriver

/// The operator's image source policy, through the image cache: refusals touch nothing, name the setting
/// to change, and leave the cache empty.
@Suite("Image sources")
struct ImageSourcePolicyTests {
    /// The refusal `body` throws; records an issue unless it is ``ImageCacheError/sourceNotAllowed``
    /// naming `setting` and mapped to `invalidArgument(image-url)`.
    func refusal(
        _ setting: ImageSourcePolicy.Setting, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> URL
    ) async -> String {
        do {
            let path = try await body()
            Issue.record("expected a refusal, got \(path.path)", sourceLocation: sourceLocation)
            return ""
        } catch let error as ImageCacheError {
            guard case .sourceNotAllowed(_, _, let named) = error, named == setting else {
                Issue.record("expected sourceNotAllowed(\(setting)), got \(error)", sourceLocation: sourceLocation)
                return ""
            }
            #expect(error.description.contains(setting.display), sourceLocation: sourceLocation)
            #expect(error.driverError == .invalidArgument(field: "image-url", message: error.description), sourceLocation: sourceLocation)
            return error.description
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
            return ""
        }
    }

    @Test func fileURLsOutsideTheAllowedDirectoriesAreRefusedWithoutReading() async throws {
        try await CacheHarness.with { harness in
            let allowed = harness.scratch.appendingPathComponent("images")
            try FileManager.default.createDirectory(at: allowed, withIntermediateDirectories: true)
            let outside = harness.scratch.appendingPathComponent("outside.img")
            try randomBytes(1000).write(to: outside)
            // Inside the allowed directory: links out, a FIFO (reading it would block forever), a directory.
            try FileManager.default.createSymbolicLink(atPath: allowed.appendingPathComponent("passwd.img").path, withDestinationPath: "/etc/passwd")
            try FileManager.default.createSymbolicLink(atPath: allowed.appendingPathComponent("zero.img").path, withDestinationPath: "/dev/zero")
            try FileManager.default.createSymbolicLink(atPath: allowed.appendingPathComponent("up").path, withDestinationPath: harness.scratch.path)
            #expect(mkfifo(allowed.appendingPathComponent("fifo.img").path, 0o600) == 0)
            try FileManager.default.createDirectory(at: allowed.appendingPathComponent("dir.img"), withIntermediateDirectories: true)
            let cache = harness.cache(sources: ImageSourcePolicy(fileDirectories: [allowed.path], maxBytes: 10_000))
            let anyDigest = try digest(Data(), .sha256)

            for path in ["/etc/passwd", "/dev/zero", allowed.path + "/../outside.img", allowed.path + "/%2e%2e/outside.img",
                         allowed.path + "-sibling/x.img", allowed.path] {
                let message = await refusal(.fileDirectories) { try await cache.baseImage(url: "file://" + path, digest: anyDigest) }
                #expect(message.contains("is not below an allowed directory"), "\(path): \(message)")
            }
            for name in ["passwd.img", "zero.img", "up/outside.img", "fifo.img", "dir.img", "missing.img"] {
                let url = allowed.appendingPathComponent(name).absoluteString
                let message = await refusal(.fileDirectories) { try await cache.baseImage(url: url, digest: anyDigest) }
                #expect(message.contains("does not exist, is not a regular file, or leads"), "\(name): \(message)")
            }
            for url in ["file://otherhost" + outside.path, "file://" + allowed.path + "/a.img?x=1"] {
                _ = await refusal(.fileDirectories) { try await cache.baseImage(url: url, digest: anyDigest) }
            }
            // Refused before the cache directory was even made.
            #expect(!FileManager.default.fileExists(atPath: harness.cacheDirectory.path))

            // Nothing is allowed when no directory is configured.
            let none = await refusal(.fileDirectories) {
                try await harness.cache(sources: ImageSourcePolicy()).baseImage(url: outside.absoluteString, digest: anyDigest)
            }
            #expect(none.contains("the operator allows no file:// image directories"))
        }
    }

    @Test func aFileBelowAnAllowedDirectoryIsReadThroughItsResolvedPath() async throws {
        try await CacheHarness.with { harness in
            let allowed = harness.scratch.appendingPathComponent("images")
            try FileManager.default.createDirectory(at: allowed.appendingPathComponent("sub"), withIntermediateDirectories: true)
            let data = randomBytes(5000)
            try data.write(to: allowed.appendingPathComponent("sub/real.img"))
            // A symlink that stays inside, a `..` that stays inside, and the directory given through a symlink.
            try FileManager.default.createSymbolicLink(atPath: allowed.appendingPathComponent("link.img").path, withDestinationPath: "sub/real.img")
            let linkedDirectory = harness.scratch.appendingPathComponent("images-link")
            try FileManager.default.createSymbolicLink(atPath: linkedDirectory.path, withDestinationPath: allowed.path)
            let cache = harness.cache(sources: ImageSourcePolicy(fileDirectories: [linkedDirectory.path + "/"]))
            for path in ["/sub/real.img", "/link.img", "/sub/../sub/real.img"] {
                for directory in [allowed, linkedDirectory] {
                    let image = try await cache.baseImage(url: "file://" + directory.path + path, digest: try digest(data, .sha256))
                    #expect(try Data(contentsOf: image) == data)
                }
            }
        }
    }

    @Test func httpSourcesNotOnTheListAreRefusedWithoutARequest() async throws {
        let server = try await ImageServer.get()
        let other = try await ImageServer.other.value()
        let data = randomBytes(2000)
        let name = try other.add(data)
        try await CacheHarness.with { harness in
            let message = await refusal(.urlPrefixes) {
                try await harness.cache().baseImage(url: other.url(name), digest: try digest(data, .sha256))
            }
            #expect(message.contains("is not below any allowed prefix (\(server.baseURL)/files/)"), "\(message)")
            // Same host, another path of the allowed server; and tricks on the host part.
            for url in [server.baseURL + "/count?path=/files/x", server.baseURL + "/files/../count", server.baseURL + "/files/%2e%2e/count",
                        server.baseURL + "/files%2f..%2fcount", server.baseURL + "/filesx/a.img",
                        "http://evil.example@" + String(other.baseURL.dropFirst("http://".count)) + "/files/" + name] {
                _ = await refusal(.urlPrefixes) { try await harness.cache().baseImage(url: url, digest: try digest(data, .sha256)) }
            }
            let none = await refusal(.urlPrefixes) {
                try await harness.cache(sources: ImageSourcePolicy(fileDirectories: [harness.scratch.path]))
                    .baseImage(url: server.url(name), digest: try digest(data, .sha256))
            }
            #expect(none.contains("the operator allows no http(s) image sources"))
            let requests = try await other.count(name, client: harness.client)
            #expect(requests == 0)
            #expect(harness.entries() == [])
        }
    }

    @Test func aRedirectToASourceNotOnTheListIsRefusedBeforeItIsRequested() async throws {
        let server = try await ImageServer.get()
        let other = try await ImageServer.other.value()
        let data = randomBytes(3000)
        let name = try other.add(data)
        let local = try server.add(data)
        try await CacheHarness.with { harness in
            // The shared server's /redirect is allowed here; it sends the download to the other server.
            let sources = ImageSourcePolicy(urlPrefixes: [server.filesPrefix, URLPrefix(server.baseURL + "/redirect")!])
            let escaping = server.baseURL + "/redirect?to=" + other.url(name).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let message = await refusal(.urlPrefixes) {
                try await harness.cache(sources: sources).baseImage(url: escaping, digest: try digest(data, .sha256))
            }
            #expect(message.contains("image URL \(other.url(name)) is not allowed"), "\(message)")
            #expect(message.contains("redirected there"))
            #expect(try await other.count(name, client: harness.client) == 0)
            #expect(harness.entries() == [])

            // A redirect to an allowed source is followed.
            let staying = server.baseURL + "/redirect?to=" + "/files/\(local)"
            let image = try await harness.cache(sources: sources).baseImage(url: staying, digest: try digest(data, .sha256))
            #expect(try Data(contentsOf: image) == data)
            #expect(try await server.count(local, client: harness.client) == 1)
        }
    }

    @Test func aDownloadLargerThanTheLimitIsStoppedAndRemoved() async throws {
        let server = try await ImageServer.get()
        let data = randomBytes(3_000_000)
        let name = try server.add(data)
        try await CacheHarness.with { harness in
            let local = harness.scratch.appendingPathComponent("big.img")
            try data.write(to: local)
            let small = ImageSourcePolicy(fileDirectories: [harness.scratch.path], urlPrefixes: [server.filesPrefix], maxBytes: 1_000_000)
            for url in [server.url(name), local.absoluteString] {
                let error = await #expect(throws: ImageCacheError.self) {
                    try await harness.cache(sources: small).baseImage(url: url, digest: try digest(data, .sha256))
                }
                guard case .tooLarge(_, 1_000_000)? = error else {
                    Issue.record("expected tooLarge, got \(String(describing: error))")
                    continue
                }
                #expect(error?.description.contains("qemu.imageMaxBytes (QEMU_IMAGE_MAX_BYTES)") == true)
                #expect(error?.driverError == .invalidArgument(field: "image-url", message: error?.description ?? ""))
                #expect(harness.entries() == [], "partial file left: \(harness.entries())")
            }
            // Exactly at the limit is fine.
            let exact = ImageSourcePolicy(urlPrefixes: [server.filesPrefix], maxBytes: Int64(data.count))
            let image = try await harness.cache(sources: exact).baseImage(url: server.url(name), digest: try digest(data, .sha256))
            #expect(try Data(contentsOf: image) == data)
        }
    }

    @Test func prefixesMatchWholeSegmentsOfOneOrigin() throws {
        let prefix = try #require(URLPrefix("HTTPS://Images.Example.org/pub/"))
        #expect(prefix.description == "https://images.example.org:443/pub/")
        let policy = ImageSourcePolicy(urlPrefixes: [prefix, try #require(URLPrefix("http://127.0.0.1:8080"))])
        for allowed in ["https://images.example.org/pub", "https://images.example.org:443/pub/a.img", "https://IMAGES.example.org/pub/x/y.img",
                        "https://user:pw@images.example.org/pub/a.img", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/any/thing.img"] {
            #expect(policy.refusal(http: allowed) == nil, "\(allowed)")
        }
        for refused in ["http://images.example.org/pub/a.img", "https://images.example.org:8443/pub/a.img", "https://images.example.org/pubx/a.img",
                        "https://images.example.org/a.img", "https://images.example.org.evil/pub/a.img", "https://images.example.org/pub/../a.img",
                        "https://images.example.org/pub/%2E%2E/a.img", "https://images.example.org/pub/..%2Fa.img",
                        "https://images.example.org\\@evil/pub/a.img", "http://127.0.0.1:80800/", "http://127.0.0.1/", "http://127.0.0.2:8080/",
                        "http://127.0.0.1:8080@evil.example/"] {
            #expect(policy.refusal(http: refused) != nil, "\(refused)")
        }
        for invalid in ["ftp://example.org/", "https://", "https://u:p@example.org/", "https://example.org/?q=1", "https://example.org/a/../b", "/pub"] {
            #expect(URLPrefix(invalid) == nil, "\(invalid)")
        }
    }

    @Test func settingsAreReadFromTheEnvironment() async throws {
        let settings = try QEMUSettings(reader: try await ConfigurationSources.makeReader(environment: [
            "QEMU_STATE_DIRECTORY": "/tmp/paz-settings-test",
            "QEMU_IMAGE_FILE_DIRECTORIES": "/srv/images, /var/cache/paz-images",
            "QEMU_IMAGE_URL_PREFIXES": "https://cloud.debian.org/images/,http://127.0.0.1:8080",
            "QEMU_IMAGE_MAX_BYTES": "1048576",
        ]))
        #expect(settings.imageSources.fileDirectories == ["/srv/images", "/var/cache/paz-images"])
        #expect(settings.imageSources.urlPrefixes.map(\.description) == ["https://cloud.debian.org:443/images/", "http://127.0.0.1:8080/"])
        #expect(settings.imageSources.maxBytes == 1 << 20)

        let defaults = try QEMUSettings(reader: try await ConfigurationSources.makeReader(environment: ["QEMU_STATE_DIRECTORY": "/tmp/x"]))
        #expect(defaults.imageSources.fileDirectories.isEmpty && defaults.imageSources.urlPrefixes.isEmpty)
        #expect(defaults.imageSources.maxBytes == ImageSourcePolicy.defaultMaxBytes)

        for (variable, value) in [("QEMU_IMAGE_FILE_DIRECTORIES", "relative/dir"), ("QEMU_IMAGE_URL_PREFIXES", "ftp://x/"),
                                  ("QEMU_IMAGE_MAX_BYTES", "0")] {
            let error = await #expect(throws: ServiceKitError.self) {
                _ = try QEMUSettings(reader: try await ConfigurationSources.makeReader(environment: [variable: value]))
            }
            #expect("\(error.map { "\($0)" } ?? "")".contains(variable), "\(variable)")
        }
    }
}
