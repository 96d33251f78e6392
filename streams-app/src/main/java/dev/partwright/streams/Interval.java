package dev.partwright.streams;

import java.time.DayOfWeek;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.time.temporal.TemporalAdjusters;
import java.util.Locale;

/**
 * The width of one range partition. Boundaries are computed as wall-clock instants in the
 * policy's declared zone, never in a session's zone: a day partition in Europe/Berlin is 23 or 25
 * hours long across DST changes, with no gap and no overlap.
 */
public enum Interval {
  HOUR("yyyyMMdd_HH"),
  DAY("yyyyMMdd"),
  WEEK("yyyyMMdd"),
  MONTH("yyyyMM");

  private final DateTimeFormatter suffix;

  Interval(String pattern) {
    this.suffix = DateTimeFormatter.ofPattern(pattern, Locale.ROOT);
  }

  /** Start of the partition that contains {@code t}. */
  public Instant floor(Instant t, ZoneId zone) {
    ZonedDateTime z = t.atZone(zone);
    ZonedDateTime start = switch (this) {
      case HOUR -> z.truncatedTo(ChronoUnit.HOURS);
      case DAY -> z.toLocalDate().atStartOfDay(zone);
      case WEEK -> z.toLocalDate().with(TemporalAdjusters.previousOrSame(DayOfWeek.MONDAY)).atStartOfDay(zone);
      case MONTH -> z.toLocalDate().withDayOfMonth(1).atStartOfDay(zone);
    };
    return start.toInstant();
  }

  /** Start of the partition after the one starting at {@code start}. */
  public Instant next(Instant start, ZoneId zone) {
    ZonedDateTime z = start.atZone(zone);
    return switch (this) {
      case HOUR -> start.plus(1, ChronoUnit.HOURS);
      case DAY -> z.toLocalDate().plusDays(1).atStartOfDay(zone).toInstant();
      case WEEK -> z.toLocalDate().plusWeeks(1).atStartOfDay(zone).toInstant();
      case MONTH -> z.toLocalDate().plusMonths(1).atStartOfDay(zone).toInstant();
    };
  }

  /** Deterministic name suffix of the partition starting at {@code start}, e.g. {@code p20261125}. */
  public String suffix(Instant start, ZoneId zone) {
    return "p" + suffix.format(start.atZone(zone));
  }

  public static Interval parse(String text) {
    try {
      return valueOf(text.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown interval '" + text + "': use hour, day, week or month");
    }
  }
}
