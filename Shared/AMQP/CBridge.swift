import CRabbitMQ
import Foundation

/// C memory for one librabbitmq call (strings, bodies, field tables), freed together by ``release()``.
///
/// Confined to the connection thread; never escapes the call it was made for.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    /// Copies `text` (UTF-8) into C memory.
    func bytes(_ text: String) -> amqp_bytes_t {
        bytes(Array(text.utf8))
    }

    /// Copies `data` into C memory.
    func bytes(_ data: [UInt8]) -> amqp_bytes_t {
        guard !data.isEmpty else { return amqp_bytes_t(len: 0, bytes: nil) }
        let memory = UnsafeMutableRawPointer.allocate(byteCount: data.count, alignment: 1)
        data.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        allocations.append(memory)
        return amqp_bytes_t(len: data.count, bytes: memory)
    }

    /// A NUL-terminated copy of `text`.
    func cString(_ text: String) -> UnsafePointer<CChar> {
        let memory = strdup(text)!
        allocations.append(UnsafeMutableRawPointer(memory))
        return UnsafePointer(memory)
    }

    /// An AMQP field table with `entries` (strings, 64-bit ints, booleans).
    func table(_ entries: [(String, AMQPHeaderValue)]) -> amqp_table_t {
        guard !entries.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let memory = UnsafeMutablePointer<amqp_table_entry_t>.allocate(capacity: entries.count)
        allocations.append(UnsafeMutableRawPointer(memory))
        for (index, (key, value)) in entries.enumerated() {
            var field = amqp_field_value_t()
            switch value {
            case .string(let text):
                field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
                field.value.bytes = bytes(text)
            case .int(let number):
                field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
                field.value.i64 = number
            case .bool(let flag):
                field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
                field.value.boolean = flag ? 1 : 0
            }
            (memory + index).initialize(to: amqp_table_entry_t(key: bytes(key), value: field))
        }
        return amqp_table_t(num_entries: Int32(entries.count), entries: memory)
    }

    /// Client properties for `connection.start-ok`: the connection name and a `capabilities` table
    /// with each of `capabilities` set to true (librabbitmq merges its own into it).
    func clientProperties(connectionName: String, capabilities: [String]) -> amqp_table_t {
        let memory = UnsafeMutablePointer<amqp_table_entry_t>.allocate(capacity: 2)
        allocations.append(UnsafeMutableRawPointer(memory))
        var name = amqp_field_value_t()
        name.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
        name.value.bytes = bytes(connectionName)
        var nested = amqp_field_value_t()
        nested.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
        nested.value.table = table(capabilities.map { ($0, .bool(true)) })
        memory.initialize(to: amqp_table_entry_t(key: bytes("connection_name"), value: name))
        (memory + 1).initialize(to: amqp_table_entry_t(key: bytes("capabilities"), value: nested))
        return amqp_table_t(num_entries: 2, entries: memory)
    }

    /// basic properties for a publish.
    func properties(_ properties: AMQPProperties) -> amqp_basic_properties_t {
        var result = amqp_basic_properties_t()
        var flags: amqp_flags_t = 0
        if properties.persistent {
            flags |= PAZ_FLAG_DELIVERY_MODE
            result.delivery_mode = 2
        }
        if let value = properties.messageID {
            flags |= PAZ_FLAG_MESSAGE_ID
            result.message_id = bytes(value)
        }
        if let value = properties.correlationID {
            flags |= PAZ_FLAG_CORRELATION_ID
            result.correlation_id = bytes(value)
        }
        if let value = properties.replyTo {
            flags |= PAZ_FLAG_REPLY_TO
            result.reply_to = bytes(value)
        }
        if let value = properties.contentType {
            flags |= PAZ_FLAG_CONTENT_TYPE
            result.content_type = bytes(value)
        }
        if let value = properties.type {
            flags |= PAZ_FLAG_TYPE
            result.type = bytes(value)
        }
        if let value = properties.expiration {
            flags |= PAZ_FLAG_EXPIRATION
            result.expiration = bytes(value)
        }
        if let value = properties.userID {
            flags |= PAZ_FLAG_USER_ID
            result.user_id = bytes(value)
        }
        if !properties.headers.isEmpty {
            flags |= PAZ_FLAG_HEADERS
            result.headers = table(properties.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        }
        result._flags = flags
        return result
    }

    /// Frees everything allocated so far.
    func release() {
        for memory in allocations { memory.deallocate() }
        allocations.removeAll()
    }

    deinit { release() }
}

extension String {
    /// Decodes librabbitmq bytes as UTF-8.
    init(amqp bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Copies librabbitmq bytes.
    init(amqp bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else {
            self = []
            return
        }
        self = Array(UnsafeRawBufferPointer(start: base, count: bytes.len))
    }
}

extension AMQPProperties {
    /// Copies decoded basic properties out of librabbitmq's frame memory.
    init(decoded properties: amqp_basic_properties_t) {
        let flags = properties._flags
        func text(_ flag: amqp_flags_t, _ value: amqp_bytes_t) -> String? {
            flags & flag != 0 ? String(amqp: value) : nil
        }
        var headers: [String: AMQPHeaderValue] = [:]
        if flags & PAZ_FLAG_HEADERS != 0, let entries = properties.headers.entries {
            for index in 0..<Int(properties.headers.num_entries) {
                let entry = entries[index]
                if let value = AMQPHeaderValue(field: entry.value) { headers[String(amqp: entry.key)] = value }
            }
        }
        self.init(
            messageID: text(PAZ_FLAG_MESSAGE_ID, properties.message_id),
            correlationID: text(PAZ_FLAG_CORRELATION_ID, properties.correlation_id),
            replyTo: text(PAZ_FLAG_REPLY_TO, properties.reply_to),
            contentType: text(PAZ_FLAG_CONTENT_TYPE, properties.content_type),
            type: text(PAZ_FLAG_TYPE, properties.type),
            headers: headers,
            expiration: text(PAZ_FLAG_EXPIRATION, properties.expiration),
            persistent: flags & PAZ_FLAG_DELIVERY_MODE != 0 && properties.delivery_mode == 2,
            userID: text(PAZ_FLAG_USER_ID, properties.user_id)
        )
    }
}

extension AMQPHeaderValue {
    /// Converts the field kinds we use (strings, integers, booleans); nil for others (arrays, tables…).
    init?(field: amqp_field_value_t) {
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_UTF8.rawValue, AMQP_FIELD_KIND_BYTES.rawValue: self = .string(String(amqp: field.value.bytes))
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: self = .bool(field.value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: self = .int(Int64(field.value.i8))
        case AMQP_FIELD_KIND_U8.rawValue: self = .int(Int64(field.value.u8))
        case AMQP_FIELD_KIND_I16.rawValue: self = .int(Int64(field.value.i16))
        case AMQP_FIELD_KIND_U16.rawValue: self = .int(Int64(field.value.u16))
        case AMQP_FIELD_KIND_I32.rawValue: self = .int(Int64(field.value.i32))
        case AMQP_FIELD_KIND_U32.rawValue: self = .int(Int64(field.value.u32))
        case AMQP_FIELD_KIND_I64.rawValue: self = .int(field.value.i64)
        case AMQP_FIELD_KIND_U64.rawValue, AMQP_FIELD_KIND_TIMESTAMP.rawValue: self = .int(Int64(truncatingIfNeeded: field.value.u64))
        default: return nil
        }
    }
}

extension Duration {
    /// As a C `timeval`.
    var timeval: timeval {
        let (seconds, attoseconds) = components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }

    /// Whole milliseconds, rounded up, clamped to Int32 (for poll()).
    var pollMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(0, milliseconds))
    }
}

/// librabbitmq's text for a status code.
func libraryMessage(_ status: Int32) -> String {
    String(cString: amqp_error_string2(status))
}
