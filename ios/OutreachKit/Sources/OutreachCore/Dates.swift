import Foundation

/// Between the pickers and the core's wire forms (RFC 3339 instants,
/// `YYYY-MM-DD` days). No typed ISO strings anywhere on screen: the screens
/// use the system pickers and these turn their dates into the core's words.
public enum Dates {
    public static func instant(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    public static func parseInstant(_ s: String?) -> Date? {
        guard let s else { return nil }
        return ISO8601DateFormatter().date(from: s)
    }

    public static func day(_ date: Date) -> String {
        dayFormatter().string(from: date)
    }

    /// A `YYYY-MM-DD` day from the core, for a date picker (nil if unreadable).
    public static func parseDay(_ s: String) -> Date? {
        dayFormatter().date(from: s)
    }

    private static func dayFormatter() -> DateFormatter {
        let f = DateFormatter()
        f.calendar = Calendar(identifier: .iso8601)
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd"
        return f
    }
}
