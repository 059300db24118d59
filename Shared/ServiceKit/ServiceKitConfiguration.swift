package import Configuration
import Foundation
package import Logging

/// How log lines are written: one JSON object per line (production) or readable text (development).
package enum LogFormat: String, Sendable, CaseIterable, ConfigurationValue {
    case json
    case text
}

extension Logger.Level: ConfigurationValue {
    package init?(configurationText text: String) { self.init(rawValue: text.lowercased()) }
    package static var expectedForm: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
}

/// The kit's own settings, and the model for every component's configuration struct.
///
/// | key | environment variable | default |
/// |---|---|---|
/// | `service.name` | `SERVICE_NAME` | `defaultServiceName`, else required |
/// | `log.level` | `LOG_LEVEL` | `info` |
/// | `log.format` | `LOG_FORMAT` | `json` |
/// | `ops.host` | `OPS_HOST` | `127.0.0.1` (loopback only) |
/// | `ops.port` | `OPS_PORT` | `9464`; `0` picks a free port |
/// | `shutdown.timeoutSeconds` | `SHUTDOWN_TIMEOUT_SECONDS` | `30` (then the group is cancelled) |
package struct ServiceKitConfiguration: Sendable, Equatable {
    /// The service's name: the logger label and the ops server's name.
    package var serviceName: String
    package var logLevel: Logger.Level
    package var logFormat: LogFormat
    /// Host of the ops endpoints (`/healthz`, `/readyz`, `/metrics`).
    package var opsHost: String
    /// Port of the ops endpoints; `0` lets the kernel choose (tests).
    package var opsPort: Int
    /// How long graceful shutdown may take before the remaining services are cancelled.
    package var shutdownTimeout: Duration

    /// Reads the settings from `reader`.
    /// - Parameter defaultServiceName: used when `service.name` is not set; `nil` makes it required.
    /// - Throws: ``ServiceKitError`` naming the key and environment variable of a missing or invalid value.
    package init(reader: ConfigReader, defaultServiceName: String? = nil) throws(ServiceKitError) {
        if let defaultServiceName {
            serviceName = try reader.value("service.name", default: defaultServiceName)
        } else {
            serviceName = try reader.required("service.name")
        }
        logLevel = try reader.value("log.level", default: .info)
        logFormat = try reader.value("log.format", default: .json)
        opsHost = try reader.value("ops.host", default: "127.0.0.1")
        opsPort = try reader.value("ops.port", default: 9464, in: 0...65_535)
        shutdownTimeout = .seconds(try reader.value("shutdown.timeoutSeconds", default: 30, in: 1...3600))
    }

    /// Settings given directly (tests, tools).
    package init(
        serviceName: String, logLevel: Logger.Level = .info, logFormat: LogFormat = .json,
        opsHost: String = "127.0.0.1", opsPort: Int = 9464, shutdownTimeout: Duration = .seconds(30)
    ) {
        self.serviceName = serviceName
        self.logLevel = logLevel
        self.logFormat = logFormat
        self.opsHost = opsHost
        self.opsPort = opsPort
        self.shutdownTimeout = shutdownTimeout
    }
}

/// Names one running replica of a service among its peers (driver registry entries, the status
/// collectors' poller lease).
package enum ServiceInstance {
    /// `<hostname>.<pid>`: unique among the replicas running at one time.
    package static var defaultID: String {
        "\(ProcessInfo.processInfo.hostName).\(ProcessInfo.processInfo.processIdentifier)"
    }
}
