/**
 * Calendar fields of a wall-clock instant by integer arithmetic on the proleptic Gregorian
 * calendar (Hinnant's days_from_civil / civil_from_days), so that reading the hour of a request
 * allocates no Date and never depends on the host's own time zone.
 */

export const MS_PER_DAY = 86_400_000

/** What a CEL timestamp accessor reads; values follow the CEL spec (months and day-of-month 0-based). */
export const WallField = {
  FullYear: 0,
  Month: 1,
  Date: 2,
  DayOfMonth: 3,
  DayOfWeek: 4,
  DayOfYear: 5,
  Hours: 6,
  Minutes: 7,
  Seconds: 8,
  Milliseconds: 9,
} as const
export type WallField = (typeof WallField)[keyof typeof WallField]

/** Days since 1970-01-01 of year-month-day, month 1–12. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146_097 + doe - 719_468
}

/**
 * One field of the wall-clock time `localMs` (milliseconds since 1970-01-01T00:00 of the wall
 * clock, i.e. the UTC instant plus the zone offset).
 */
export function wallField(localMs: number, field: WallField): number {
  const days = Math.floor(localMs / MS_PER_DAY)
  const msOfDay = localMs - days * MS_PER_DAY
  switch (field) {
    case WallField.Hours:
      return Math.floor(msOfDay / 3_600_000)
    case WallField.Minutes:
      return Math.floor(msOfDay / 60_000) % 60
    case WallField.Seconds:
      return Math.floor(msOfDay / 1000) % 60
    case WallField.Milliseconds:
      return msOfDay % 1000
    case WallField.DayOfWeek:
      // 1970-01-01 was a Thursday (4); Sunday is 0.
      return (((days + 4) % 7) + 7) % 7
  }
  const z = days + 719_468
  const era = Math.floor(z / 146_097)
  const doe = z - era * 146_097
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365)
  const doyMarch = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doyMarch + 2) / 153)
  const day = doyMarch - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  switch (field) {
    case WallField.FullYear:
      return year
    case WallField.Month:
      return month - 1
    case WallField.Date:
      return day
    case WallField.DayOfMonth:
      return day - 1
    default:
      return days - daysFromCivil(year, 1, 1)
  }
}
