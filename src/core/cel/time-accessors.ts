/**
 * The CEL timestamp accessors (getHours, getDayOfWeek…), with and without a time zone argument.
 * They replace the library's own, which build an Intl.DateTimeFormat on every call (~130 µs) and
 * round-trip through the host's local time zone (wrong answers around the host's DST changes).
 */
import { CelScalar, celMethod, objectType, type CelFunc } from '@bufbuild/cel'
import { wallField, WallField } from './civil-time.js'
import { timeZone } from './time-zone.js'

export const TIMESTAMP_TYPE = objectType('google.protobuf.Timestamp')

interface TimestampFields {
  readonly seconds: bigint
  readonly nanos: number
}

const ACCESSORS: ReadonlyArray<readonly [string, WallField]> = [
  ['getFullYear', WallField.FullYear],
  ['getMonth', WallField.Month],
  ['getDate', WallField.Date],
  ['getDayOfMonth', WallField.DayOfMonth],
  ['getDayOfWeek', WallField.DayOfWeek],
  ['getDayOfYear', WallField.DayOfYear],
  ['getHours', WallField.Hours],
  ['getMinutes', WallField.Minutes],
  ['getSeconds', WallField.Seconds],
  ['getMilliseconds', WallField.Milliseconds],
]

/** The accessors whose optional argument is a time zone, and the field each reads. */
export const TIME_ZONE_FIELDS: ReadonlyMap<string, WallField> = new Map(ACCESSORS)

function epochMs(ts: TimestampFields): number {
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000)
}

export function unknownTimeZoneMessage(name: string): string {
  return `unknown time zone "${name}" (use an IANA name such as "Europe/Berlin", or an offset such as "+01:00")`
}

export const timeAccessors: readonly CelFunc[] = ACCESSORS.flatMap(([name, field]) => [
  celMethod(name, TIMESTAMP_TYPE, [], CelScalar.INT, function () {
    return BigInt(wallField(epochMs(this.message as unknown as TimestampFields), field))
  }),
  celMethod(name, TIMESTAMP_TYPE, [CelScalar.STRING], CelScalar.INT, function (zoneName) {
    const zone = timeZone(zoneName)
    if (zone === undefined) throw new Error(unknownTimeZoneMessage(zoneName))
    const ms = epochMs(this.message as unknown as TimestampFields)
    return BigInt(wallField(ms + zone.offsetAt(ms), field))
  }),
])
