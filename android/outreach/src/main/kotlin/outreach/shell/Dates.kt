package outreach.shell

import java.time.LocalDate
import java.time.OffsetDateTime
import java.time.ZoneId
import java.time.ZonedDateTime
import java.time.format.DateTimeFormatter
import java.time.format.DateTimeParseException
import java.time.temporal.ChronoUnit

/**
 * Between the platform's date and time pickers and the core's wire forms:
 * an instant is RFC 3339 with the phone's offset (`2026-11-27T10:00:00Z`
 * style, which the core stores in UTC), a date is `YYYY-MM-DD`. Nobody types
 * either: the screens show pickers and a localised rendering.
 */
object Dates {
    /** The core's form of a picked moment, to the second. */
    fun instant(t: ZonedDateTime): String =
        t.truncatedTo(ChronoUnit.SECONDS).format(DateTimeFormatter.ISO_OFFSET_DATE_TIME)

    /** The core's form of a picked day. */
    fun date(d: LocalDate): String = d.format(DateTimeFormatter.ISO_LOCAL_DATE)

    /** A stored instant in the phone's zone, for the pickers (null if absent or unreadable). */
    fun parseInstant(s: String?, zone: ZoneId = ZoneId.systemDefault()): ZonedDateTime? = s?.let {
        try {
            OffsetDateTime.parse(it).atZoneSameInstant(zone)
        } catch (_: DateTimeParseException) {
            null
        }
    }

    fun parseDate(s: String?): LocalDate? = s?.let {
        try {
            LocalDate.parse(it)
        } catch (_: DateTimeParseException) {
            null
        }
    }
}
