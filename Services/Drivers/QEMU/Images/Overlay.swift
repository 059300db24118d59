package import Foundation
package import PazDriverKit

/// Formats a base image may have under an overlay.
package enum BaseImageFormat: String, Sendable, Hashable {
    case qcow2, raw
}

/// What `qemu-img info` says about a base image.
package struct BaseImageInfo: Sendable, Hashable {
    package var format: BaseImageFormat
    /// The disk size the guest sees, in bytes.
    package var virtualSize: UInt64

    package init(format: BaseImageFormat, virtualSize: UInt64) {
        self.format = format
        self.virtualSize = virtualSize
    }
}

/// Why a machine's overlay could not be made.
package enum OverlayError: Error, Sendable, CustomStringConvertible {
    /// `qemu-img` could not be run (missing, timed out, cancelled).
    case tool(ExternalToolError)
    /// `qemu-img` exited with `status`; `message` is its last line of error output.
    case qemuImgFailed(operation: String, status: Int32, message: String)
    /// `qemu-img info` printed something we could not read.
    case unreadableInfo(path: String, reason: String)
    /// The base is neither qcow2 nor raw.
    case unsupportedFormat(String, path: String)
    /// The base refers to other files (a backing or external data file); a downloaded image must not.
    case externalReference(path: String, file: String)
    /// The requested disk is smaller than the base image.
    case diskTooSmall(requestedGiB: Int, minimumGiB: Int)
    /// Something already exists at the overlay path.
    case alreadyExists(String)
    case filesystem(String)

    package var description: String {
        switch self {
        case .tool(let error):
            "\(error)"
        case .qemuImgFailed(let operation, let status, let message):
            "qemu-img \(operation) failed with exit status \(status): \(message)"
        case .unreadableInfo(let path, let reason):
            "could not read qemu-img info for \(path): \(reason)"
        case .unsupportedFormat(let format, let path):
            "base image \(path) is in \(format) format; only qcow2 and raw images can be used (convert it with qemu-img convert)"
        case .externalReference(let path, let file):
            "base image \(path) refers to another file (\(file)); use a self-contained qcow2 or raw image"
        case .diskTooSmall(let requested, let minimum):
            "a \(requested) GiB disk is smaller than the image; use at least \(minimum) GiB (disks can only grow)"
        case .alreadyExists(let path):
            "\(path) already exists; not overwriting a machine's disk"
        case .filesystem(let message):
            message
        }
    }

    /// The driver-facing error: a too-small disk or an unusable image is the user's to fix.
    package var driverError: DriverError {
        switch self {
        case .diskTooSmall: .invalidArgument(field: "disk", message: description)
        case .unsupportedFormat, .externalReference: .invalidArgument(field: "image-url", message: description)
        case .tool, .qemuImgFailed, .unreadableInfo, .alreadyExists, .filesystem: .internal(description)
        }
    }
}

/// Makes per-machine copy-on-write disks over a cached base image with `qemu-img`.
package struct OverlayCreator: Sendable {
    /// The `qemu-img` executable (a name looked up on PATH, or a path).
    package var qemuImg: String
    /// Bound of each `qemu-img` run.
    package var timeout: Duration

    package init(qemuImg: String = "qemu-img", timeout: Duration = .seconds(60)) {
        self.qemuImg = qemuImg
        self.timeout = timeout
    }

    /// The format and virtual size of `image`, which must be a self-contained qcow2 or raw image.
    package func inspect(_ image: URL) async throws(OverlayError) -> BaseImageInfo {
        let output = try await run("info", ["info", "--output=json", image.path])
        let info: QEMUImgInfo
        do {
            info = try JSONDecoder().decode(QEMUImgInfo.self, from: Data(output.utf8))
        } catch {
            throw .unreadableInfo(path: image.path, reason: "\(error)")
        }
        guard let format = BaseImageFormat(rawValue: info.format) else {
            throw .unsupportedFormat(info.format, path: image.path)
        }
        if let file = info.backingFilename ?? info.formatSpecific?.data?.dataFile {
            throw .externalReference(path: image.path, file: file)
        }
        return BaseImageInfo(format: format, virtualSize: info.virtualSize)
    }

    /// Creates the qcow2 overlay `overlay` (mode 0600) backed by `base`, as large as the base or
    /// `diskGiB` GiB, which may not be smaller; returns what the base is.
    @discardableResult
    package func create(at overlay: URL, base: URL, diskGiB: Int?) async throws(OverlayError) -> BaseImageInfo {
        let info = try await inspect(base)
        var size: [String] = []
        if let diskGiB {
            let bytes = UInt64(max(0, diskGiB)) << 30
            guard bytes >= info.virtualSize else {
                throw .diskTooSmall(requestedGiB: diskGiB, minimumGiB: Int((info.virtualSize + (1 << 30) - 1) >> 30))
            }
            size = ["\(bytes)"]
        }
        // Created here with O_EXCL and mode 0600, so an existing disk is never overwritten and the
        // overlay is never readable by others; qemu-img then truncates and fills it, keeping the mode.
        let descriptor = open(overlay.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let code = errno
            if code == EEXIST { throw .alreadyExists(overlay.path) }
            throw .filesystem("could not create \(overlay.path): \(String(cString: strerror(code)))")
        }
        close(descriptor)
        do throws(OverlayError) {
            _ = try await run(
                "create",
                ["create", "-q", "-f", "qcow2", "-F", info.format.rawValue, "-b", base.path, overlay.path] + size
            )
        } catch {
            unlink(overlay.path)
            throw error
        }
        return info
    }

    /// Runs `qemu-img arguments`; its stdout, or an error carrying its last error line.
    private func run(_ operation: String, _ arguments: [String]) async throws(OverlayError) -> String {
        let result: ExternalToolResult
        do throws(ExternalToolError) {
            result = try await ExternalTool.run(qemuImg, arguments, timeout: timeout)
        } catch {
            throw .tool(error)
        }
        guard result.status == 0 else {
            throw .qemuImgFailed(operation: operation, status: result.status, message: result.standardError.split(separator: "\n").last.map(String.init) ?? "")
        }
        return result.standardOutput
    }
}

/// The fields of `qemu-img info --output=json` we read.
private struct QEMUImgInfo: Decodable {
    struct FormatSpecific: Decodable {
        struct Details: Decodable {
            var dataFile: String?
            enum CodingKeys: String, CodingKey { case dataFile = "data-file" }
        }
        var data: Details?
    }

    var format: String
    var virtualSize: UInt64
    var backingFilename: String?
    var formatSpecific: FormatSpecific?

    enum CodingKeys: String, CodingKey {
        case format
        case virtualSize = "virtual-size"
        case backingFilename = "backing-filename"
        case formatSpecific = "format-specific"
    }
}
