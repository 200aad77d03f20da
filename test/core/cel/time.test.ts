import t from 'tap'
import { wallField, WallField } from '../../../src/core/cel/civil-time.js'
import { compileCondition, type CelActivation } from '../../../src/core/cel/index.js'
import { timeZone } from '../../../src/core/cel/time-zone.js'
import { mulberry32 } from '../../helpers/prng.js'

const at = (iso: string): CelActivation => ({
  principal: { roles: [], claims: {} },
  request: { method: 'GET', path: '/', headers: {} },
  time: new Date(iso),
  source: { ip: '127.0.0.1' },
})

function holds(expr: string, iso: string): boolean | { error: string } {
  const r = compileCondition(expr)
  if (!r.ok) throw new Error(r.message)
  return r.condition.evaluate(at(iso))
}

interface Asserts {
  same(found: unknown, wanted: unknown, message: string): boolean
}

/**
 * `call` reads exactly `expected` at `iso`: through the direct evaluator, through the library
 * (which int() sends it to), and not expected + 1.
 */
function reads(t: Asserts, call: string, iso: string, expected: number): void {
  const got = [holds(`${call} == ${expected}`, iso), holds(`int(${call}) == ${expected}`, iso), holds(`${call} == ${expected + 1}`, iso)]
  t.same(got, [true, true, false], `${call} at ${iso} is ${expected}`)
}

t.test('Europe/Berlin across both DST changes of 2025', async (t) => {
  // 30 March: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
  reads(t, 'time.getHours("Europe/Berlin")', '2025-03-30T00:59:59Z', 1)
  reads(t, 'time.getHours("Europe/Berlin")', '2025-03-30T01:00:00Z', 3)
  reads(t, 'time.getMinutes("Europe/Berlin")', '2025-03-30T01:00:00Z', 0)
  // 26 October: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:xx happens twice.
  reads(t, 'time.getHours("Europe/Berlin")', '2025-10-26T00:30:00Z', 2)
  reads(t, 'time.getHours("Europe/Berlin")', '2025-10-26T01:30:00Z', 2)
  reads(t, 'time.getHours("Europe/Berlin")', '2025-10-26T02:00:00Z', 3)
})

t.test('America/New_York across both DST changes of 2025, and the day of week', async (t) => {
  reads(t, 'time.getHours("America/New_York")', '2025-03-09T06:59:59Z', 1)
  reads(t, 'time.getHours("America/New_York")', '2025-03-09T07:00:00Z', 3)
  reads(t, 'time.getHours("America/New_York")', '2025-11-02T05:59:59Z', 1)
  reads(t, 'time.getHours("America/New_York")', '2025-11-02T06:00:00Z', 1)
  // Sunday 30 March 03:30 UTC is still Saturday evening in New York.
  reads(t, 'time.getDayOfWeek("America/New_York")', '2025-03-30T03:30:00Z', 6)
  reads(t, 'time.getDayOfWeek()', '2025-03-30T03:30:00Z', 0)
  t.equal(holds('time.getDayOfWeek("America/New_York") in [1, 2, 3, 4, 5]', '2025-03-30T03:30:00Z'), false)
  t.equal(holds('time.getDayOfWeek("America/New_York") in [1, 2, 3, 4, 5]', '2025-03-31T13:00:00Z'), true)
})

t.test('the southern hemisphere changes the other way', async (t) => {
  // Sydney leaves DST on 6 April 2025: 03:00 AEDT becomes 02:00 AEST at 16:00 UTC on the 5th.
  reads(t, 'time.getHours("Australia/Sydney")', '2025-04-05T15:59:59Z', 2)
  reads(t, 'time.getHours("Australia/Sydney")', '2025-04-05T16:00:00Z', 2)
  reads(t, 'time.getHours("Australia/Sydney")', '2025-04-05T17:00:00Z', 3)
  reads(t, 'time.getDate("Australia/Sydney")', '2025-04-05T16:00:00Z', 6)
})

t.test('offsets that are not whole hours, and the date line', async (t) => {
  reads(t, 'time.getMinutes("Asia/Kathmandu")', '2025-01-01T00:00:00Z', 45)
  reads(t, 'time.getHours("Asia/Kolkata")', '2025-01-01T00:00:00Z', 5)
  reads(t, 'time.getMinutes("+05:30")', '2025-01-01T00:00:00Z', 30)
  reads(t, 'time.getHours("-08:00")', '2025-01-01T00:00:00Z', 16)
  reads(t, 'time.getDate("-08:00")', '2025-01-01T00:00:00Z', 31)
  reads(t, 'time.getFullYear("-08:00")', '2025-01-01T00:00:00Z', 2024)
  reads(t, 'time.getDate("Pacific/Kiritimati")', '2025-01-01T10:00:00Z', 2)
  reads(t, 'time.getDayOfYear("Pacific/Kiritimati")', '2025-01-01T10:00:00Z', 1)
  reads(t, 'time.getHours("UTC")', '2025-01-01T10:00:00Z', 10)
})

t.test('calendar fields follow the CEL definitions', async (t) => {
  reads(t, 'time.getMonth()', '2025-01-15T00:00:00Z', 0)
  reads(t, 'time.getDate()', '2025-01-15T00:00:00Z', 15)
  reads(t, 'time.getDayOfMonth()', '2025-01-15T00:00:00Z', 14)
  reads(t, 'time.getDayOfYear()', '2024-12-31T12:00:00Z', 365)
  reads(t, 'time.getDayOfYear()', '2025-12-31T12:00:00Z', 364)
  reads(t, 'time.getSeconds()', '2025-01-15T10:20:30.456Z', 30)
  reads(t, 'time.getMilliseconds()', '2025-01-15T10:20:30.456Z', 456)
})

t.test("the host's own time zone changes nothing", async (t) => {
  const saved = process.env.TZ
  // 02:30 on 9 March 2025 does not exist in Los Angeles; reading Berlin's wall clock through the
  // host's local time would turn it into 03:30.
  process.env.TZ = 'America/Los_Angeles'
  t.teardown(() => {
    if (saved === undefined) delete process.env.TZ
    else process.env.TZ = saved
  })
  t.equal(new Date(2025, 2, 9, 2, 30).getHours(), 3, 'the host is in Los Angeles')
  reads(t, 'time.getHours("Europe/Berlin")', '2025-03-09T01:30:00Z', 2)
  reads(t, 'time.getHours()', '2025-03-09T02:30:00Z', 2)
  reads(t, 'time.getDayOfYear("Europe/Berlin")', '2025-03-31T00:30:00Z', 89)
})

t.test('a time zone read from data is resolved at evaluation', async (t) => {
  const r = compileCondition('time.getHours(principal.claims.tz) == 9')
  if (!r.ok) throw new Error(r.message)
  const a = at('2025-06-02T07:00:00Z')
  a.principal.claims.tz = 'Europe/Paris'
  t.equal(r.condition.evaluate(a), true)
  a.principal.claims.tz = 'Asia/Tokyo'
  t.equal(r.condition.evaluate(a), false)
  a.principal.claims.tz = 'Nowhere/Town'
  t.match(r.condition.evaluate(a), { error: /unknown time zone "Nowhere\/Town"/ })
})

t.test('wall-clock arithmetic agrees with Date over years 1 to 9999', async (t) => {
  const rnd = mulberry32(7)
  const min = utcDate(1, 0, 1)
  const max = utcDate(10_000, 0, 1) - 1
  const fields = [WallField.FullYear, WallField.Month, WallField.Date, WallField.DayOfMonth, WallField.DayOfWeek, WallField.DayOfYear, WallField.Hours, WallField.Minutes, WallField.Seconds, WallField.Milliseconds]
  let mismatches = 0
  for (let i = 0; i < 20_000; i++) {
    const ms = Math.floor(min + rnd() * (max - min))
    const d = new Date(ms)
    const y = d.getUTCFullYear()
    const dayOfYear = (utcDate(y, d.getUTCMonth(), d.getUTCDate()) - utcDate(y, 0, 1)) / 86_400_000
    const expected = [y, d.getUTCMonth(), d.getUTCDate(), d.getUTCDate() - 1, d.getUTCDay(), dayOfYear, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    const got = fields.map((f) => wallField(ms, f))
    if (got.join() !== expected.join() && mismatches++ < 5) t.fail(`${d.toISOString()}: ${got.join()} vs ${expected.join()}`)
  }
  t.equal(mismatches, 0)
})

/** Date.UTC without its mapping of years 0–99 to 1900–1999. */
function utcDate(year: number, month: number, day: number): number {
  const d = new Date(0)
  d.setUTCFullYear(year, month, day)
  return d.getTime()
}

t.test('zone offsets agree with Intl, walking through decades of DST changes', async (t) => {
  const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/Santiago', 'Africa/Casablanca', 'Pacific/Chatham', 'America/St_Johns']
  const rnd = mulberry32(11)
  let mismatches = 0
  for (const name of zones) {
    const zone = timeZone(name)!
    const reference = new Intl.DateTimeFormat('en-US', { timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric' })
    for (let ms = Date.UTC(2010, 0, 1); ms < Date.UTC(2030, 0, 1); ms += Math.floor(rnd() * 48 * 3_600_000)) {
      const parts = Object.fromEntries(reference.formatToParts(ms).map((p) => [p.type, p.value]))
      const want = [parts.year, parts.month, parts.day, parts.hour, parts.minute].map(Number).join()
      const local = ms + zone.offsetAt(ms)
      const got = [wallField(local, WallField.FullYear), wallField(local, WallField.Month) + 1, wallField(local, WallField.Date), wallField(local, WallField.Hours), wallField(local, WallField.Minutes)].join()
      if (got !== want && mismatches++ < 5) t.fail(`${name} at ${new Date(ms).toISOString()}: ${got} vs ${want}`)
    }
  }
  t.equal(mismatches, 0)
})
