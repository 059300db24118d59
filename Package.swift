// swift-tools-version: 6.1
import PackageDescription

/// Settings applied to every Swift target (system-library targets are skipped).
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// A C library wrapped by exactly one Swift module: `C<Lib>` system-library target.
/// `pkgConfig` is nil where the library's .pc file adds flags SwiftPM prohibits (hiredis).
func cLibrary(_ name: String, pkgConfig: String?, apt: String) -> Target {
    .systemLibrary(name: name, path: "Shared/\(name)", pkgConfig: pkgConfig, providers: [.apt([apt])])
}

let log = Target.Dependency.product(name: "Logging", package: "swift-log")

let package = Package(
    name: "paz-machine",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "paz-bench", targets: ["PazBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C libraries (one system-library target each; only their wrapper imports them).
        cLibrary("CRabbitMQ", pkgConfig: "librabbitmq", apt: "librabbitmq-dev"),
        cLibrary("CHiredis", pkgConfig: nil, apt: "libhiredis-dev"),
        cLibrary("CLibSSH2", pkgConfig: "libssh2", apt: "libssh2-1-dev"),
        cLibrary("CCurl", pkgConfig: "libcurl", apt: "libcurl4-openssl-dev"),

        // Shared modules.
        .target(name: "PazConcurrency", path: "Shared/Concurrency"),
        .target(name: "PazSchemas", path: "Shared/Schemas"),
        .target(name: "PazAMQP", dependencies: ["CRabbitMQ", "PazConcurrency", log], path: "Shared/AMQP"),
        .target(name: "PazRedis", dependencies: ["CHiredis", "PazConcurrency", log], path: "Shared/Redis"),
        .target(name: "PazSSH", dependencies: ["CLibSSH2", "PazConcurrency", log], path: "Shared/SSH"),
        .target(name: "PazHTTP", dependencies: ["CCurl", log], path: "Shared/HTTP"),
        .target(name: "PazLocalServers", dependencies: [log], path: "Shared/LocalServers"),

        // Benchmarks: one executable, one subcommand per case.
        .executableTarget(
            name: "PazBench",
            dependencies: [
                "PazAMQP", "PazRedis", "PazLocalServers", log,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/PazBench"
        ),

        // Tests: real servers come from PazTestSupport, started once per run.
        .target(name: "PazTestSupport", dependencies: ["PazLocalServers"], path: "Tests/Support"),
        .testTarget(name: "ConcurrencyTests", dependencies: ["PazConcurrency"]),
        .testTarget(name: "SchemasTests", dependencies: ["PazSchemas"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AMQPTests", dependencies: ["PazAMQP", "PazTestSupport", log]),
        .testTarget(name: "RedisTests", dependencies: ["PazRedis", "PazTestSupport"]),
        .testTarget(name: "SSHTests", dependencies: ["PazSSH", "PazTestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["PazHTTP", "PazTestSupport"]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
