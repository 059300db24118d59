import Foundation
import Logging
import HTTPTypes
import OpenAPIRuntime
import PazAMQP
import PazControlPlane
import PazGatewayAPI
import PazSchemas
import PazStore

/// `/v1/drivers`: live drivers from the registry, catalogs over AMQP RPC.
extension Gateway {
    func listDrivers(_ input: Operations.ListDrivers.Input) async throws -> Operations.ListDrivers.Output {
        _ = try Principal.tenant()
        let announcements = try await stored { () async throws(StoreError) in try await store.liveDrivers() }
        let names = Array(Set(announcements.map(\.name))).sorted { $0.rawValue < $1.rawValue }
        let drivers = names.map { name in Self.apiDriver(announcements.filter { $0.name == name }) }
        return .ok(.init(body: .json(.init(drivers: drivers))))
    }

    func getDriver(_ input: Operations.GetDriver.Input) async throws -> Operations.GetDriver.Output {
        _ = try Principal.tenant()
        let replicas = try await liveReplicas(input.path.driver)
        return .ok(.init(body: .json(Self.apiDriver(replicas))))
    }

    func getDriverDefaults(_ input: Operations.GetDriverDefaults.Input) async throws -> Operations.GetDriverDefaults.Output {
        let tenant = try Principal.tenant()
        let driver = try await liveReplicas(input.path.driver)[0].name
        let record = try await stored { () async throws(StoreError) in
            try await store.driverDefaults(tenant: tenant, driver: driver)
        }
        return .ok(.init(body: .json(Self.apiDefaults(record, driver: driver))))
    }

    func setDriverDefaults(_ input: Operations.SetDriverDefaults.Input) async throws -> Operations.SetDriverDefaults.Output {
        let tenant = try Principal.tenant()
        guard case .json(let body) = input.body else { throw GatewayProblem.validation("JSON body required", field: "body") }
        try Bounds.check(options: body.options, field: "options")
        let replicas = try await liveReplicas(input.path.driver)
        let driver = replicas[0]
        let values = try OptionValidator(replicas: replicas).defaults(body.options)
        let record = try await stored { () async throws(StoreError) in
            try await store.setDriverDefaults(plain: values.plain, secrets: values.secrets, tenant: tenant, driver: driver.name)
        }
        logger.info("driver defaults stored", metadata: [
            "tenant": "\(tenant)", "driver": "\(driver.name)", "options": "\(record.options.keys.sorted())",
            "secretOptions": "\(record.secretOptionNames)",
        ])
        return .ok(.init(body: .json(Self.apiDefaults(record, driver: driver.name))))
    }

    func deleteDriverDefaults(_ input: Operations.DeleteDriverDefaults.Input) async throws
        -> Operations.DeleteDriverDefaults.Output
    {
        let tenant = try Principal.tenant()
        let driver = try await liveReplicas(input.path.driver)[0].name
        try await stored { () async throws(StoreError) in try await store.deleteDriverDefaults(tenant: tenant, driver: driver) }
        return .noContent(.init())
    }

    /// The tenant's stored defaults for `driver` with their secret values opened, to merge under a create's options.
    func driverDefaults(tenant: TenantID, driver: ResourceName) async throws -> OptionValidator.Resolved {
        try await stored { () async throws(StoreError) in
            let record = if let read = TenantVersions.read, read.key == .driverDefaults {
                try await store.driverDefaults(tenant: tenant, driver: driver, version: read.value)
            } else {
                try await store.driverDefaults(tenant: tenant, driver: driver)
            }
            guard let record else {
                return OptionValidator.Resolved()
            }
            return OptionValidator.Resolved(
                plain: record.options, secrets: try store.openSecrets(of: record, tenant: tenant, driver: driver))
        }
    }

    private static func apiDefaults(_ record: DriverDefaultsRecord?, driver: ResourceName) -> Components.Schemas.DriverDefaults {
        Components.Schemas.DriverDefaults(
            driver: driver.rawValue,
            options: .init(additionalProperties: (record?.options ?? [:]).compactMapValues(ResourceMapper.optionValue)),
            secretOptions: record?.secretOptionNames ?? [], updatedAt: record?.updatedAt)
    }

    func listDriverImages(_ input: Operations.ListDriverImages.Input) async throws -> Operations.ListDriverImages.Output {
        let limit = try Bounds.check(input.query.limit ?? 100, 1...1_000, field: "limit")
        try Bounds.check(text: input.query.search, 0...200, field: "search")
        let reply = try await driverQuery(
            input.path.driver, .catalogImages(CatalogImagesQuery(search: input.query.search)))
        guard case .catalogImages(let list) = reply else { throw Self.unexpectedReply(reply) }
        let images = try list.images.map {
            Components.Schemas.Image(id: $0.id, name: $0.name, extras: try Self.extras($0.extra))
        }
        return .ok(.init(body: .json(.init(images: Array(images.prefix(limit)), truncated: images.count > limit))))
    }

    func listDriverSizes(_ input: Operations.ListDriverSizes.Input) async throws -> Operations.ListDriverSizes.Output {
        let reply = try await driverQuery(input.path.driver, .catalogSizes(CatalogSizesQuery()))
        guard case .catalogSizes(let list) = reply else { throw Self.unexpectedReply(reply) }
        let sizes = try list.sizes.map {
            Components.Schemas.Size(
                id: $0.id, name: $0.name, vcpus: $0.vcpus ?? 0, ramMiB: $0.ramMiB ?? 0, diskGiB: $0.diskGiB ?? 0,
                price: $0.pricePerHour.map { .init(hourly: $0, currency: "USD") }, extras: try Self.extras($0.extra))
        }
        return .ok(.init(body: .json(.init(sizes: sizes))))
    }

    func listDriverLocations(_ input: Operations.ListDriverLocations.Input) async throws
        -> Operations.ListDriverLocations.Output
    {
        let reply = try await driverQuery(input.path.driver, .catalogLocations(CatalogLocationsQuery()))
        guard case .catalogLocations(let list) = reply else { throw Self.unexpectedReply(reply) }
        let locations = try list.locations.map {
            Components.Schemas.Location(id: $0.id, name: $0.name, country: $0.country, extras: try Self.extras($0.extra))
        }
        return .ok(.init(body: .json(.init(locations: locations))))
    }

    /// The live replicas of `name`; 404 when none.
    func liveReplicas(_ name: String) async throws -> [DriverAnnouncement] {
        let announcements = try await stored { () async throws(StoreError) in try await store.liveDrivers() }
        let replicas = announcements.filter { $0.name.rawValue == name }
        guard !replicas.isEmpty else { throw GatewayProblem.notFound("driver \(name) (no live replica)") }
        return replicas
    }

    /// A query RPC (catalog, probe) to the driver's queue: 504 when no replica answers in time, 503
    /// when the broker is down.
    func driverQuery(_ driverName: String, _ query: CommandPayload) async throws -> ReplyPayload {
        let tenant = try Principal.tenant()
        let driver = try await liveReplicas(driverName)[0].name
        let envelope = CommandEnvelope(tenantId: tenant, trace: .newTrace(), payload: query)
        let reply: ReplyEnvelope
        do {
            reply = try await RPCClient(amqp: amqp).call(
                envelope, exchange: Routing.commandsExchange, routingKey: Routing.queryRoutingKey(driver: driver),
                timeout: configuration.catalogTimeout)
        } catch {
            switch error {
            case .timeout(let after):
                throw GatewayProblem(.gatewayTimeout, "timeout", "Driver timeout",
                                     detail: "no replica of driver \(driverName) answered within \(after); retry later")
            case .unroutable:
                throw GatewayProblem(
                    .serviceUnavailable, "driver-unavailable", "Driver unavailable",
                    detail: "no query queue of driver \"\(driverName)\" exists (no replica of this version started)",
                    retryAfter: 5)
            case .cancelled:
                throw CancellationError()
            case .unavailable(let detail):
                throw GatewayProblem(
                    .serviceUnavailable, "dependency-unavailable", "Dependency unavailable",
                    detail: "the message broker (RabbitMQ): \(detail); retry later", retryAfter: 5)
            case .unreadable(let detail):
                throw GatewayProblem(.badGateway, "provider-error", "Driver error", detail: "driver \(driverName) answered \(detail)")
            }
        }
        if case .failure(let failure) = reply.payload {
            throw GatewayProblem.driverFailed(failure)
        }
        return reply.payload
    }

    static func apiDriver(_ replicas: [DriverAnnouncement]) -> Components.Schemas.Driver {
        let first = replicas[0]
        let versions = Dictionary(grouping: replicas, by: \.version).map { version, group in
            Components.Schemas.DriverVersion(
                version: version, schemaVersion: "\(group[0].schemaVersion)", replicas: group.count,
                lastHeartbeat: group.map(\.startedAt).max() ?? first.startedAt)
        }.sorted { $0.version < $1.version }
        let options = replicas.commonCreateOptions.map { option in
            let envName = "PAZ_\(first.name.rawValue)_\(option.name.rawValue)".uppercased().replacingOccurrences(of: "-", with: "_")
            return Components.Schemas.DriverOption(
                name: option.name.rawValue, _type: apiType(option.type), required: option.required,
                _default: option.default.flatMap(ResourceMapper.optionValue), minimum: option.minimum,
                maximum: option.maximum, envVar: option.envVar ?? envName, flag: "--\(first.name.rawValue)-\(option.name.rawValue)", secret: option.secret,
                description: option.description)
        }
        return Components.Schemas.Driver(
            name: first.name.rawValue, versions: versions, schemaVersion: "\(first.schemaVersion)",
            capabilities: first.capabilities.map(\.rawValue), createOptions: options,
            lastHeartbeat: replicas.map(\.startedAt).max() ?? first.startedAt)
    }

    private static func apiType(_ type: CreateOptionSpec.ValueType) -> Components.Schemas.OptionType {
        switch type {
        case .string, .stringList, .number: .string
        case .integer: .integer
        case .boolean: .boolean
        }
    }

    private static func extras(_ values: [String: JSONValue]) throws -> Components.Schemas.Extras {
        let data = try JSONEncoder().encode(values)
        return .init(additionalProperties: try JSONDecoder().decode(OpenAPIObjectContainer.self, from: data))
    }

    private static func unexpectedReply(_ reply: ReplyPayload) -> GatewayProblem {
        GatewayProblem(.badGateway, "provider-error", "Driver error", detail: "the driver answered \(reply.kind.rawValue)")
    }

}
