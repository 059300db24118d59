// swift-tools-version: 6.2
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

/// A service is a library target (its code; tests build it in-process) in `Services/<folder>` and a
/// thin executable in `Services/<folder>/Main` whose `@main` only bootstraps and runs it.
func service(
    _ module: String, folder: String, dependencies: [Target.Dependency],
    exclude: [String] = [], resources: [Resource] = []
) -> [Target] {
    [
        .target(
            name: module, dependencies: dependencies, path: "Services/\(folder)",
            exclude: ["Main"] + exclude, resources: resources
        ),
        .executableTarget(name: module + "Main", dependencies: [.target(name: module)], path: "Services/\(folder)/Main"),
    ]
}

let serviceCore: [Target.Dependency] = [
    "PazSchemas", "PazStore", "PazAMQP", "PazRedis", "PazServiceKit", "PazControlPlane", log,
]

let package = Package(
    name: "paz-machine",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "paz-machine", targets: ["PazMachineCLIMain"]),
        .executable(name: "paz-gateway", targets: ["PazGatewayMain"]),
        .executable(name: "paz-driver-generic", targets: ["PazGenericDriverMain"]),
        .executable(name: "paz-driver-ec2", targets: ["PazEC2DriverMain"]),
        .executable(name: "paz-driver-digitalocean", targets: ["PazDigitalOceanDriverMain"]),
        .executable(name: "paz-driver-hetzner", targets: ["PazHetznerDriverMain"]),
        .executable(name: "paz-driver-qemu", targets: ["PazQEMUDriverMain"]),
        .executable(name: "paz-status-collector", targets: ["PazStatusCollectorMain"]),
        .executable(name: "paz-ssh-broker", targets: ["PazSSHBrokerMain"]),
        .executable(name: "paz-bench", targets: ["PazBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird", from: "2.1.0"),
    ],
    targets: [
        // C libraries (one system-library target each; only their wrapper imports them).
        cLibrary("CRabbitMQ", pkgConfig: "librabbitmq", apt: "librabbitmq-dev"),
        cLibrary("CHiredis", pkgConfig: nil, apt: "libhiredis-dev"),
        cLibrary("CLibSSH2", pkgConfig: "libssh2", apt: "libssh2-1-dev"),
        // libcurl's headers (libcurl4-openssl-dev); the library itself is loaded on first use (dlopen).
        .target(name: "CCurl", path: "Shared/CCurl", linkerSettings: [.linkedLibrary("dl")]),

        // Shared modules.
        .target(name: "PazConcurrency", path: "Shared/Concurrency"),
        .target(
            name: "PazJSON", path: "Shared/JSON",
            // The codec's state is one class whose buffers every container appends to: dynamic
            // exclusivity checks on those accesses cost more than the writing (measured in docs/benchmarks.md).
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        .target(name: "PazSchemas", dependencies: ["PazJSON"], path: "Shared/Schemas"),
        .target(name: "PazAMQP", dependencies: ["CRabbitMQ", "PazConcurrency", log], path: "Shared/AMQP"),
        .target(name: "PazRedis", dependencies: ["CHiredis", "PazConcurrency", log], path: "Shared/Redis"),
        .target(name: "PazSSH", dependencies: ["CLibSSH2", "PazConcurrency", log], path: "Shared/SSH"),
        .target(name: "PazHTTP", dependencies: ["CCurl", log], path: "Shared/HTTP"),
        .target(
            name: "PazSecrets", dependencies: [.product(name: "Crypto", package: "swift-crypto")], path: "Shared/Secrets"
        ),
        .target(name: "PazOpenSSH", dependencies: [.product(name: "Crypto", package: "swift-crypto")], path: "Shared/OpenSSH"),
        .target(name: "PazStore", dependencies: ["PazRedis", "PazSchemas", "PazSecrets"], path: "Shared/Store"),
        .target(
            name: "PazGatewayAPI",
            dependencies: [
                "PazSchemas",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Shared/GatewayAPI", exclude: ["generate.sh", "generate-access.py"],
            // Generated code: its unused-import warnings are silenced by the generator only from Swift 6.4 on.
            swiftSettings: [.unsafeFlags(["-suppress-warnings"])]
        ),
        .target(
            name: "PazGatewayServer",
            dependencies: ["PazGatewayAPI", .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            path: "Services/Gateway/API",
            // Generated code (see PazGatewayAPI).
            swiftSettings: [.unsafeFlags(["-suppress-warnings"])]
        ),
        .target(
            name: "PazGatewayClient",
            dependencies: [
                "PazGatewayAPI", "PazHTTP",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Shared/GatewayClient"
        ),
        .target(
            name: "PazLocalServers", dependencies: ["PazHTTP", log], path: "Shared/LocalServers",
            resources: [.copy("CloudSimulator")]
        ),
        .target(
            name: "PazServiceKit",
            dependencies: [
                "PazSchemas", log,
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            path: "Shared/ServiceKit"
        ),

        .target(
            name: "PazControlPlane",
            dependencies: [
                "PazAMQP", "PazRedis", "PazSchemas", "PazSecrets", "PazServiceKit", "PazStore", log,
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/ControlPlane"
        ),
        .target(
            name: "PazDriverKit",
            dependencies: serviceCore + [
                "PazSecrets", "PazSSH",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            path: "Shared/DriverKit"
        ),
        .target(name: "PazGuestConfig", dependencies: ["PazDriverKit", "PazSchemas"], path: "Shared/GuestConfig"),
        .target(
            name: "PazCloudDriver",
            dependencies: [
                "PazDriverKit", "PazGuestConfig", "PazHTTP", "PazOpenSSH", "PazSchemas", "PazServiceKit", "PazControlPlane", log,
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            path: "Shared/CloudDriver"
        ),

        // Services.
        ] + service(
            "PazGateway", folder: "Gateway",
            dependencies: serviceCore + [
                "PazSecrets", "PazGatewayAPI", "PazGatewayServer", "PazOpenSSH", "PazConcurrency",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["API", "validate-openapi.sh", "check_openapi_examples.py"], resources: [.copy("openapi.yaml")]
        ) + service(
            "PazGenericDriver", folder: "Drivers/Generic", dependencies: serviceCore + ["PazDriverKit", "PazSSH", "PazSecrets"]
        ) + service(
            "PazQEMUDriver", folder: "Drivers/QEMU",
            dependencies: serviceCore + [
                "PazDriverKit", "PazGuestConfig", "PazSSH", "PazSecrets", "PazHTTP", "PazOpenSSH", "PazLocalServers",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ) + service(
            "PazEC2Driver", folder: "Drivers/EC2",
            dependencies: serviceCore + [
                "PazDriverKit", "PazHTTP", "PazGuestConfig", "PazCloudDriver", .product(name: "Configuration", package: "swift-configuration"),
            ]
        ) + service(
            "PazDigitalOceanDriver", folder: "Drivers/DigitalOcean",
            dependencies: serviceCore + ["PazDriverKit", "PazHTTP", "PazCloudDriver"]
        ) + service(
            "PazHetznerDriver", folder: "Drivers/Hetzner", dependencies: serviceCore + ["PazDriverKit", "PazHTTP", "PazCloudDriver"]
        ) + service(
            "PazStatusCollector", folder: "StatusCollector",
            dependencies: serviceCore + [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ) + service(
            "PazSSHBroker", folder: "SSHBroker",
            dependencies: serviceCore + [
                "PazOpenSSH", "PazSecrets",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ) + service(
            "PazMachineCLI", folder: "CLI",
            dependencies: [
                "PazGatewayAPI", "PazGatewayClient", "PazHTTP", "PazLocalServers", "PazSecrets", "PazOpenSSH", "PazSchemas",
                "PazStore", log,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            ]
        ) + [

        // Benchmarks: one executable, one subcommand per case.
        .executableTarget(
            name: "PazBench",
            dependencies: [
                "PazAMQP", "PazRedis", "PazGatewayAPI", "PazGuestConfig", "PazLocalServers", "PazMachineCLI", "PazQEMUDriver", "PazEC2Driver", "PazHTTP",
                "PazSchemas", "PazStore", "PazControlPlane", log,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/PazBench"
        ),

        // Tests: real servers come from PazTestSupport, started once per run.
        .target(
            name: "PazTestSupport", dependencies: ["PazLocalServers", "PazHTTP", "PazRedis", "PazAMQP", "PazSchemas", log],
            path: "Tests/Support",
            resources: [.copy("EC2/Scripts")]
        ),
        .testTarget(name: "ConcurrencyTests", dependencies: ["PazConcurrency"]),
        .testTarget(name: "LocalServersTests", dependencies: ["PazLocalServers"]),
        .testTarget(
            name: "CloudSimulatorTests", dependencies: ["PazTestSupport", "PazLocalServers", "PazHTTP", log]
        ),
        .testTarget(name: "MotoSupportTests", dependencies: ["PazTestSupport", "PazLocalServers", "PazHTTP"]),
        .testTarget(
            name: "EC2DriverTests",
            dependencies: [
                "PazEC2Driver", "PazDriverKit", "PazGuestConfig", "PazSchemas", "PazHTTP", "PazTestSupport", "PazLocalServers",
                "PazRedis", "PazSecrets", "PazStore", log,
            ]
        ),
        .testTarget(
            name: "CloudDriverTests",
            dependencies: ["PazCloudDriver", "PazDigitalOceanDriver", "PazHetznerDriver", "PazDriverKit", "PazHTTP", "PazSchemas"]
        ),
        .testTarget(name: "SecretsTests", dependencies: ["PazSecrets"]),
        .testTarget(name: "OpenSSHTests", dependencies: ["PazOpenSSH"]),
        .testTarget(name: "StoreTests", dependencies: ["PazStore", "PazTestSupport", "PazLocalServers"]),
        .testTarget(name: "JSONTests", dependencies: ["PazJSON"]),
        .testTarget(name: "SchemasTests", dependencies: ["PazSchemas"], resources: [.copy("Fixtures")]),
        .testTarget(name: "AMQPTests", dependencies: ["PazAMQP", "PazLocalServers", "PazTestSupport", log]),
        .testTarget(name: "RedisTests", dependencies: ["PazRedis", "PazLocalServers", "PazTestSupport", log]),
        .testTarget(
            name: "PrivilegeTests",
            dependencies: [
                "PazAMQP", "PazRedis", "PazSchemas", "PazStore", "PazSecrets", "PazControlPlane", "PazLocalServers",
                "PazTestSupport", log,
            ]
        ),
        .testTarget(name: "SSHTests", dependencies: ["PazSSH", "PazTestSupport"]),
        .testTarget(
            name: "HTTPTests",
            dependencies: ["PazHTTP", "PazTestSupport", log, .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Server"), .copy("Fixtures")]
        ),
        .testTarget(
            name: "ServiceKitTests",
            dependencies: [
                "PazServiceKit", "PazLocalServers", log,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "PazGateway", "PazGatewayServer", "PazGatewayClient", "PazTestSupport", "PazLocalServers", "PazHTTP",
                "PazControlPlane", "PazConcurrency", log,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: ["PazControlPlane", "PazAMQP", "PazRedis", "PazServiceKit", "PazSchemas", "PazTestSupport", "PazLocalServers", log]
        ),
        .testTarget(
            name: "DriverKitTests",
            dependencies: serviceCore + [
                "PazDriverKit", "PazTestSupport", "PazLocalServers", "PazSecrets",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "GenericDriverTests",
            dependencies: serviceCore + [
                "PazGenericDriver", "PazDriverKit", "PazTestSupport", "PazLocalServers", "PazSecrets", "PazSSH",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "GuestConfigTests",
            dependencies: ["PazGuestConfig", "PazDriverKit", "PazSchemas", "PazTestSupport", "PazLocalServers"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "QEMUDriverTests",
            dependencies: serviceCore + [
                "PazQEMUDriver", "PazDriverKit", "PazGuestConfig", "PazTestSupport", "PazLocalServers", "PazSecrets", "PazSSH",
                "PazHTTP", "PazOpenSSH",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "StatusCollectorTests",
            dependencies: [
                "PazStatusCollector", "PazTestSupport", "PazLocalServers", "PazStore", "PazAMQP", "PazRedis",
                "PazSchemas", "PazServiceKit", "PazControlPlane", log,
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "SSHBrokerTests",
            dependencies: [
                "PazSSHBroker", "PazOpenSSH", "PazSecrets", "PazTestSupport", "PazLocalServers", "PazStore", "PazAMQP",
                "PazRedis", "PazSchemas", "PazServiceKit", log,
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "PazMachineCLI", "PazTestSupport", "PazLocalServers", "PazGatewayAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "PazMachineCLI", "PazGatewayAPI", "PazTestSupport", "PazLocalServers", "PazAMQP", "PazRedis", "PazSecrets",
                "PazSchemas", "PazStore", "PazControlPlane", log,
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
