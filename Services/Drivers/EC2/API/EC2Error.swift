import Foundation
package import PazDriverKit

/// Why an EC2 call failed.
package enum EC2Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// EC2 answered with an error document (`<Errors><Error><Code>…`).
    case api(action: String, code: String, message: String, status: Int, requestId: String?)
    /// No answer: the connection failed or timed out (after the client's retries).
    case transport(action: String, String)
    /// An answer that is not the XML EC2 sends.
    case malformedResponse(action: String, String)
    /// The calling task was cancelled, or the client shut down.
    case cancelled(action: String)

    /// The EC2 error code, if EC2 sent one.
    package var code: String? {
        if case .api(_, let code, _, _, _) = self { return code }
        return nil
    }

    /// Codes EC2 uses for throttling and passing server trouble: sent again after a jittered backoff.
    static let retriableCodes: Set<String> = [
        "RequestLimitExceeded", "Throttling", "ThrottlingException", "RequestThrottled", "RequestThrottledException",
        "ServiceUnavailable", "Unavailable", "InternalError", "InternalFailure", "ServerInternal",
    ]

    /// Codes meaning the credentials or their permissions are wrong.
    static let credentialCodes: Set<String> = [
        "AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature",
        "MissingAuthenticationToken", "ExpiredToken", "RequestExpired", "OptInRequired", "Blocked", "AccessDenied",
        "InvalidAccessKeyId", "UnrecognizedClientException",
    ]

    /// Throttling, 5xx and transport failures: worth another attempt.
    package var isRetriable: Bool {
        switch self {
        case .api(_, let code, _, let status, _): Self.retriableCodes.contains(code) || status >= 500
        case .transport: true
        case .malformedResponse, .cancelled: false
        }
    }

    /// The instance (or other resource) the call named does not exist.
    package var isNotFound: Bool {
        guard let code else { return false }
        return code.hasSuffix(".NotFound") || code == "InvalidInstanceID.Malformed"
    }

    /// What the user can do about it, as a ``DriverError``.
    package var driverError: DriverError {
        switch self {
        case .transport(let action, let detail):
            return .providerUnavailable("EC2 did not answer \(action): \(detail)")
        case .malformedResponse(let action, let detail):
            return .providerUnavailable("EC2 sent an unreadable answer to \(action): \(detail)")
        case .cancelled(let action):
            return .timeout("\(action) was cancelled before EC2 answered")
        case .api(let action, let code, let message, let status, _):
            let said = "EC2 refused \(action) (\(code)): \(message)"
            if Self.credentialCodes.contains(code) {
                return .invalidCredentials(
                    "\(said). Check access-key-id and secret-access-key (and session-token for temporary credentials), "
                        + "the region, and that the IAM policy allows ec2:\(action)")
            }
            if Self.retriableCodes.contains(code) || status >= 500 {
                return .providerUnavailable("\(said); EC2 is throttling or in trouble, the operation can be retried later")
            }
            return Self.classify(code: code, said: said)
        }
    }

    private static func classify(code: String, said: String) -> DriverError {
        switch code {
        case _ where code.hasPrefix("InvalidAMIID."):
            .invalidArgument(field: "ami", message: "\(said). Pick an AMI that exists in this region (paz-machine images ec2)")
        case _ where code.hasPrefix("InvalidKeyPair."):
            .invalidArgument(field: "key-name", message: said)
        case _ where code.hasPrefix("InvalidSubnetID.") || code.hasPrefix("InvalidSubnet"):
            .invalidArgument(field: "subnet-id", message: said)
        case _ where code.hasPrefix("InvalidVpcID."):
            .invalidArgument(field: "vpc-id", message: said)
        case "InvalidInstanceType":
            .invalidArgument(field: "instance-type", message: "\(said). See paz-machine sizes ec2")
        case _ where code.hasPrefix("InvalidUserData."):
            .invalidArgument(field: nil, message: said)
        case "InvalidParameterValue", "InvalidParameterCombination", "InvalidParameter", "MissingParameter",
             "UnknownParameter", "ValidationError", "InvalidInput", "InvalidRequest":
            .invalidArgument(field: nil, message: said)
        case "InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity":
            .providerUnavailable("\(said). AWS has no capacity for this instance type in this zone now: retry later, or pick another instance-type or subnet")
        case "InstanceLimitExceeded", "VcpuLimitExceeded", "ResourceLimitExceeded", "SecurityGroupLimitExceeded",
             "RulesPerSecurityGroupLimitExceeded", "InsufficientFreeAddressesInSubnet", "MaxIOPSLimitExceeded",
             "VolumeLimitExceeded":
            .conflict("\(said). An account or subnet quota is reached: remove machines or ask AWS for a higher quota")
        case "IncorrectInstanceState", "IncorrectState", "InvalidInstanceState", "DependencyViolation", "InvalidGroup.InUse":
            .conflict(said)
        case "Unsupported", "UnsupportedOperation", "InvalidAction":
            .unsupported(operation: "this request", reason: said)
        case _ where code.hasSuffix(".NotFound") || code.hasSuffix(".Malformed"):
            .notFound(said)
        default:
            .conflict(said)
        }
    }

    package var description: String {
        switch self {
        case .api(let action, let code, let message, let status, let requestId):
            "\(action): HTTP \(status) \(code): \(message)" + (requestId.map { " (request \($0))" } ?? "")
        case .transport(let action, let detail): "\(action): \(detail)"
        case .malformedResponse(let action, let detail): "\(action): unreadable answer: \(detail)"
        case .cancelled(let action): "\(action): cancelled"
        }
    }

    /// The error EC2 described in `body` (status `status`), or a malformed-response error.
    static func from(action: String, status: Int, body: Data) -> EC2Error {
        guard let root = EC2XML.parse(body), let error = root.descendant("Error"), let code = error.text("Code") else {
            let text = String(decoding: body.prefix(300), as: UTF8.self)
            if status >= 500 || status == 429 {
                return .api(action: action, code: status == 429 ? "Throttling" : "ServiceUnavailable",
                            message: "HTTP \(status) without an EC2 error document", status: status, requestId: nil)
            }
            return .malformedResponse(action: action, "HTTP \(status): \(text)")
        }
        return .api(action: action, code: code, message: error.text("Message") ?? "", status: status,
                    requestId: root.text("RequestID") ?? root.text("RequestId"))
    }
}
