import Foundation
import Logging
import PazCloudDriver
import PazDriverKit
package import PazHTTP
package import PazSchemas

/// Machines on AWS EC2 (or an EC2-compatible endpoint such as moto), through the EC2 query API.
///
/// - create: resolves the image, checks the real `RunInstances` with `DryRun=true` before anything is
///   spent, makes (or finds) the cluster's security group (port 22 from `ssh-cidr` only), asks the SSH
///   broker for the host identity, records the machine, launches ONE instance (`ClientToken` = machine
///   id; before any retry or redelivered create it looks for an instance tagged with the machine id
///   and adopts it), then waits for `running` and, with `ready-when=ssh`, for SSH with the issued
///   host key. A create that fails removes what it made.
/// - remove: terminates the instance (waits for `terminated`), then removes the cluster's security
///   group and key pairs once no instance of the cluster is left.
/// - states: one `DescribeInstances` per account and region for all the machines asked about.
/// - start / stop / restart (`RebootInstances`) / kill (forced stop).
/// - catalog: `DescribeImages`, `DescribeInstanceTypes`, `DescribeRegions` + zones, with the tenant's
///   stored driver defaults as credentials.
package struct EC2Driver: Driver {
    package let name: ResourceName = "ec2"
    package let version = "0.1.0"
    package let capabilities: [DriverCapability] = [
        .create, .remove, .start, .stop, .restart, .kill, .states, .catalog, .precheck, .probe,
    ]
    package var createOptions: [CreateOptionSpec] { EC2Options.specs }

    package let settings: EC2Settings
    let http: HTTPClient
    /// Each cluster's security group, made once per cluster.
    let groups = SharedResults<ClusterGroupKey, String>()
    /// The images creates resolved, described once a minute at most.
    let images = SharedResults<ImageKey, EC2Image>(lifetime: .seconds(60))
    /// Terminations of one account: the removals running at once share a `TerminateInstances`.
    let terminations = Rounds<EC2Client.Account, String, String>()
    /// Waits of one account: the creates, starts and stops waiting at once share a `DescribeInstances`.
    let looks = Rounds<EC2Client.Account, String, EC2Instance?>()
    /// Clean-up checks of one cluster: the removals finishing at once share one look for instances left.
    let cleanups = Rounds<ClusterGroupKey, ClusterID, [String]>()
    /// The launches that passed their DryRun check in the last minute (the machines of one cluster
    /// share theirs).
    let checkedLaunches = SharedResults<LaunchKey, Bool>(lifetime: .seconds(60))

    package init(settings: EC2Settings, http: HTTPClient) {
        self.settings = settings
        self.http = http
    }

    /// A client for one account and region, logging with the command's logger.
    func client(_ endpoint: EC2Endpoint, _ credentials: EC2Credentials, context: DriverContext) throws(DriverError) -> EC2Client {
        try settings.check(endpoint)
        return EC2Client(
            endpoint: endpoint,
            credentials: AWSCredentials(
                accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey,
                sessionToken: credentials.sessionToken),
            http: http, retry: settings.retry, logger: context.logger)
    }

    /// The machine's recorded data, or `notFound`.
    func machineData(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> EC2MachineData {
        guard let data = try await context.driverData(EC2MachineData.self, version: EC2MachineData.version, for: machine.machineId) else {
            throw .notFound("the ec2 driver has no record of machine \(machine.machineId)")
        }
        return data
    }

    /// The client for a recorded machine (its credentials are its sealed secret options).
    func client(for data: EC2MachineData, machine: MachineRef, context: DriverContext) async throws(DriverError) -> EC2Client {
        try client(data.endpoint, try EC2Credentials(try await context.secrets(for: machine.machineId)), context: context)
    }

    /// What the gateway and the user see of a machine.
    func details(_ machine: MachineRef, data: EC2MachineData, state: MachineState) -> MachineDetails {
        var addresses: [MachineAddress] = []
        if let ip = data.publicIp { addresses.append(MachineAddress(address: ip, scope: .public)) }
        if let ip = data.privateIp { addresses.append(MachineAddress(address: ip, scope: .private)) }
        return MachineDetails(
            machine: machine, state: state, observedAt: Date(), providerId: data.instanceId, addresses: addresses,
            ssh: data.sshHost.map { SSHEndpoint(host: $0, port: 22, user: data.user) }, size: data.instanceType,
            image: data.imageId, location: data.availabilityZone ?? data.endpoint.region,
            providerResources: ["securityGroup": data.securityGroupId])
    }

    /// The common state of an EC2 instance state name.
    static func state(of name: String) -> MachineState {
        switch name {
        case "pending": .starting
        case "running": .running
        case "stopping", "shutting-down": .stopping
        case "stopped": .stopped
        case "terminated": .notFound
        default: .unknown
        }
    }
}

/// Runs an EC2 call, turning its failure into a ``DriverError``.
func ec2<Value>(_ call: () async throws(EC2Error) -> Value) async throws(DriverError) -> Value {
    do {
        return try await call()
    } catch {
        throw error.driverError
    }
}
