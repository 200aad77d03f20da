/**
 * Time zones as CEL names them: an IANA name ("Europe/Berlin", "UTC") or a fixed offset
 * ("+05:30", "-08:00"). The UTC offset of an IANA zone comes from Intl (the tz database Node
 * ships); building an Intl.DateTimeFormat costs ~100 µs and formatting ~2 µs, so each zone keeps
 * one formatter and remembers the offset of the last minute it was asked about: conditions are
 * evaluated on "now", which changes minute far less often than requests arrive.
 */
import { daysFromCivil, MS_PER_DAY } from './civil-time.js'

export interface TimeZone {
  /** Milliseconds to add to a UTC instant to get the wall-clock time in this zone. */
  offsetAt(epochMs: number): number
}

class FixedZone implements TimeZone {
  constructor(private readonly offset: number) {}

  offsetAt(): number {
    return this.offset
  }
}

/**
 * Before 1600 Intl answers in the Julian calendar, which would read as an offset of days; the tz
 * database has nothing but local mean time that early, so the offset of 1600 stands in.
 */
const EARLIEST_RULE_MS = daysFromCivil(1600, 1, 1) * MS_PER_DAY

class IanaZone implements TimeZone {
  private minute = Number.NaN
  private offset = 0

  constructor(private readonly format: Intl.DateTimeFormat) {}

  offsetAt(epochMs: number): number {
    // Transitions fall on whole minutes in every zone since local mean time ended.
    const minute = Math.floor(epochMs / 60_000)
    if (minute !== this.minute) {
      this.offset = this.compute(Math.max(epochMs, EARLIEST_RULE_MS))
      this.minute = minute
    }
    return this.offset
  }

  private compute(epochMs: number): number {
    let year = 0
    let month = 0
    let day = 0
    let hour = 0
    let minute = 0
    let second = 0
    for (const part of this.format.formatToParts(epochMs)) {
      const v = Number(part.value)
      switch (part.type) {
        case 'year':
          year = v
          break
        case 'month':
          month = v
          break
        case 'day':
          day = v
          break
        case 'hour':
          hour = v
          break
        case 'minute':
          minute = v
          break
        case 'second':
          second = v
          break
      }
    }
    const wall = daysFromCivil(year, month, day) * MS_PER_DAY + hour * 3_600_000 + minute * 60_000 + second * 1000
    return wall - (epochMs - (((epochMs % 1000) + 1000) % 1000))
  }
}

const FIXED_OFFSET = /^([+-]?)(\d\d):(\d\d)$/
const UTC = new FixedZone(0)
/** Names come from policies and, through non-constant arguments, from request data: bounded. */
const MAX_CACHED = 1024
/** Unknown names are remembered too (as null): Intl takes ~100 µs to refuse one. */
const zones = new Map<string, TimeZone | null>([['UTC', UTC]])

/** The zone named `name`, or undefined when neither the tz database nor the offset syntax knows it. */
export function timeZone(name: string): TimeZone | undefined {
  const cached = zones.get(name)
  if (cached !== undefined) return cached ?? undefined
  const zone = createZone(name)
  if (zones.size < MAX_CACHED) zones.set(name, zone ?? null)
  return zone
}

function createZone(name: string): TimeZone | undefined {
  const fixed = FIXED_OFFSET.exec(name)
  if (fixed !== null) {
    const hours = Number(fixed[2])
    const minutes = Number(fixed[3])
    if (hours > 23 || minutes > 59) return undefined
    const offset = (hours * 60 + minutes) * 60_000
    return new FixedZone(fixed[1] === '-' ? -offset : offset)
  }
  try {
    return new IanaZone(
      new Intl.DateTimeFormat('en-US', {
        timeZone: name,
        calendar: 'gregory',
        numberingSystem: 'latn',
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      }),
    )
  } catch {
    return undefined
  }
}
