package import Foundation

/// ISO 8601 timestamps as the schemas write them: UTC, millisecond precision,
/// `2026-11-22T04:25:00.123Z`.
///
/// Foundation's ISO 8601 format style truncates binary fractions (…59.999 becomes …59.998), which
/// would make golden fixtures drift, so this formatter works on whole milliseconds.
package enum Timestamp {
    /// What a timestamp looks like, for errors ("\"x\" is not <this>").
    static let shape = "an ISO 8601 timestamp like 2026-11-22T04:25:00.123Z"

    /// Formats `date` in UTC, rounded to the millisecond.
    package static func format(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (days, millisecondOfDay) = floorDivide(milliseconds, 86_400_000)
        let (year, month, day) = civilDate(fromDays: days)
        let seconds = millisecondOfDay / 1000
        // A year outside 0…9999 is written as `pad` writes it; every other field has its width.
        let unusualYear = (0...9999).contains(year) ? nil : pad(year, 4)
        // Every message carries one: written digit by digit into the string's own storage.
        return String(unsafeUninitializedCapacity: 20 + (unusualYear?.utf8.count ?? 4)) { text in
            var index = 0
            func put(_ value: Int64, _ width: Int) {
                var remaining = value
                for offset in stride(from: width - 1, through: 0, by: -1) {
                    text[index + offset] = UInt8(ascii: "0") + UInt8(remaining % 10)
                    remaining /= 10
                }
                index += width
            }
            func put(_ separator: Unicode.Scalar) {
                text[index] = UInt8(ascii: separator)
                index += 1
            }
            if let unusualYear {
                for byte in unusualYear.utf8 {
                    text[index] = byte
                    index += 1
                }
            } else {
                put(year, 4)
            }
            put("-"); put(month, 2); put("-"); put(day, 2); put("T")
            put(seconds / 3600, 2); put(":"); put(seconds / 60 % 60, 2); put(":"); put(seconds % 60, 2)
            put("."); put(millisecondOfDay % 1000, 3); put("Z")
            return index
        }
    }

    /// Formats `date` in UTC in whole seconds (truncated), `2026-11-22T04:25:00Z`: RFC 3339's
    /// internet date-time without a fraction, as the gateway API's dates are written.
    package static func formatSeconds(_ date: Date) -> String {
        let (days, secondOfDay) = floorDivide(Int64(date.timeIntervalSince1970.rounded(.down)), 86_400)
        let (year, month, day) = civilDate(fromDays: days)
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2) + "Z"
    }

    /// Formats `date` as HTTP's IMF-fixdate (RFC 9110 §5.6.7), in whole seconds (truncated):
    /// `Sat, 05 Dec 2026 23:14:46 GMT`, for the `Date` header.
    package static func formatHTTPDate(_ date: Date) -> String {
        let (days, secondOfDay) = floorDivide(Int64(date.timeIntervalSince1970.rounded(.down)), 86_400)
        let (year, month, day) = civilDate(fromDays: days)
        // 1970-01-01 was a Thursday.
        let weekday = Self.weekdays[Int(floorDivide(days + 4, 7).1)]
        return weekday + ", " + pad(day, 2) + " " + Self.months[Int(month) - 1] + " " + pad(year, 4) + " "
            + pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2) + " GMT"
    }

    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; nil if `text` is not such a timestamp.
    /// Fractions beyond milliseconds are rounded to the millisecond.
    package static func parse(_ text: String) -> Date? {
        var scanner = Digits(Array(text.utf8))
        guard let year = scanner.number(4), scanner.skip("-"), let month = scanner.number(2), scanner.skip("-"),
            let day = scanner.number(2), scanner.skip("T") || scanner.skip("t"),
            let hour = scanner.number(2), scanner.skip(":"), let minute = scanner.number(2), scanner.skip(":"),
            let second = scanner.number(2),
            (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var fraction = 0.0
        if scanner.skip(".") {
            var scale = 0.1
            var count = 0
            while let digit = scanner.number(1) {
                fraction += Double(digit) * scale
                scale /= 10
                count += 1
            }
            guard count > 0 else { return nil }
        }
        var offsetSeconds: Int64 = 0
        if scanner.skip("Z") || scanner.skip("z") {
            offsetSeconds = 0
        } else {
            let sign: Int64 = scanner.skip("+") ? 1 : scanner.skip("-") ? -1 : 0
            guard sign != 0, let offsetHours = scanner.number(2), scanner.skip(":"),
                let offsetMinutes = scanner.number(2), offsetHours < 24, offsetMinutes < 60
            else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard scanner.atEnd else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        let milliseconds = seconds * 1000 + Int64((fraction * 1000).rounded())
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// Encoding strategy for `JSONEncoder` writing ``formatSeconds(_:)``: the text of Foundation's
    /// `.iso8601` strategy, without the ICU calendar that strategy loads (megabytes resident).
    package static let secondsEncodingStrategy = JSONEncoder.DateEncodingStrategy.custom { date, encoder in
        var container = encoder.singleValueContainer()
        try container.encode(formatSeconds(date))
    }

    private struct Digits {
        let bytes: [UInt8]
        var index = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var atEnd: Bool { index == bytes.count }

        mutating func skip(_ character: Unicode.Scalar) -> Bool {
            guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
            index += 1
            return true
        }

        mutating func number(_ width: Int) -> Int64? {
            guard index + width <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<index + width] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            index += width
            return value
        }
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // Howard Hinnant's civil-calendar algorithms (days since 1970-01-01, proleptic Gregorian).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilDate(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
