import t from 'tap'
import { gcra, type GcraSpec } from '../../../src/core/ratelimit/gcra.js'
import { mulberry32 } from '../../helpers/prng.js'

const T0 = 1_700_000_000_000

/** A bucket charged as a store would: the new TAT kept only when the request passed. */
function bucket(spec: Omit<GcraSpec, 'cost'>) {
  let tatMs: number | undefined
  return {
    take(nowMs: number, cost = 1) {
      const r = gcra({ tatMs }, nowMs, { ...spec, cost })
      if (r.allowed) tatMs = r.newTatMs
      return r
    },
    get tatMs() {
      return tatMs
    },
  }
}

t.test('steady rate: one unit per interval passes forever, a little faster does not', async (t) => {
  const b = bucket({ limit: 60, periodMs: 60_000, burst: 1 })
  let passed = 0
  for (let i = 0; i < 100; i++) if (b.take(T0 + i * 1000).allowed) passed++
  t.equal(passed, 100, 'exactly at the rate')

  const fast = bucket({ limit: 60, periodMs: 60_000, burst: 1 })
  let fastPassed = 0
  for (let i = 0; i < 100; i++) if (fast.take(T0 + i * 900).allowed) fastPassed++
  // With no burst to spare, a unit passes once a whole second has gone since the last: every
  // other arrival on a 0.9 s grid.
  t.equal(fastPassed, 50, 'at 1/0.9 s the excess is refused')
})

t.test('burst: a full bucket gives `burst` units at once, counting down', async (t) => {
  const b = bucket({ limit: 10, periodMs: 1000, burst: 5 })
  const remaining = [1, 2, 3, 4, 5].map(() => b.take(T0)).map((r) => (t.ok(r.allowed), r.remaining))
  t.same(remaining, [4, 3, 2, 1, 0])
  const sixth = b.take(T0)
  t.notOk(sixth.allowed)
  t.equal(sixth.remaining, 0)
  t.equal(sixth.resetMs, 500, 'five units of 100 ms to refill')
})

t.test('a full bucket reports its whole burst, even when the interval is no whole number of µs', async (t) => {
  // T = 60 s / 7: summed as floats, the 7th unit would overshoot τ by a rounding error.
  const b = bucket({ limit: 7, periodMs: 60_000, burst: 7 })
  t.equal(gcra({ tatMs: undefined }, T0, { limit: 7, periodMs: 60_000, burst: 7, cost: 0 }).remaining, 7)
  const results = Array.from({ length: 8 }, () => b.take(T0))
  t.same(results.map((r) => r.allowed), [true, true, true, true, true, true, true, false])
  t.same(results.map((r) => r.remaining), [6, 5, 4, 3, 2, 1, 0, 0])
})

t.test('refusal: exact retry-after, and the refused request changes nothing', async (t) => {
  const b = bucket({ limit: 60, periodMs: 60_000, burst: 1 })
  t.ok(b.take(T0).allowed)
  const tat = b.tatMs
  const refused = b.take(T0 + 250)
  t.notOk(refused.allowed)
  t.equal(refused.retryAfterMs, 750)
  t.equal(refused.newTatMs, tat, 'state unchanged')
  t.equal(b.take(T0 + 999).retryAfterMs, 1)
  t.ok(b.take(T0 + 1000).allowed, 'passes exactly when retry-after said')

  // Cost 3 on a bucket of 5 with 1 unit left: two more units (200 ms) must flow back.
  const c = bucket({ limit: 10, periodMs: 1000, burst: 5 })
  t.ok(c.take(T0, 4).allowed)
  const big = c.take(T0, 3)
  t.notOk(big.allowed)
  t.equal(big.remaining, 1, 'what is left, not what was asked')
  t.equal(big.retryAfterMs, 200)
  t.notOk(c.take(T0 + 199, 3).allowed)
  t.ok(c.take(T0 + 200, 3).allowed)
})

t.test('no fixed-window reset at a minute boundary', async (t) => {
  const spec = { limit: 60, periodMs: 60_000, burst: 10 }
  const b = bucket(spec)
  let end = 0
  for (let i = 0; i < 20; i++) if (b.take(T0 + 59_000).allowed) end++
  let start = 0
  for (let i = 0; i < 20; i++) if (b.take(T0 + 60_000).allowed) start++
  t.equal(end, 10, 'the burst at the end of one minute')
  t.equal(start, 1, 'the next minute starts with what flowed back in 1 s, not a fresh burst')
  t.ok(end + start <= spec.burst + 1000 / (spec.periodMs / spec.limit))
})

t.test('in any span D, at most burst + D/T units pass (random arrivals and costs)', async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rnd = mulberry32(seed)
    const spec = { limit: 1 + Math.floor(rnd() * 100), periodMs: 1000 + Math.floor(rnd() * 60_000), burst: 1 + Math.floor(rnd() * 20) }
    const interval = spec.periodMs / spec.limit
    const b = bucket(spec)
    const passed: { at: number; cost: number }[] = []
    let now = T0
    for (let i = 0; i < 400; i++) {
      now += Math.floor(rnd() * interval * 2)
      const cost = 1 + Math.floor(rnd() * 3)
      if (b.take(now, cost).allowed) passed.push({ at: now, cost })
    }
    let worst = -Infinity
    for (let i = 0; i < passed.length; i++) {
      let units = 0
      for (let j = i; j < passed.length; j++) {
        units += passed[j]!.cost
        // 1 µs per charge is the most the floored arithmetic may admit early.
        worst = Math.max(worst, units - (spec.burst + (passed[j]!.at - passed[i]!.at + (j - i + 1) / 1000) / interval))
      }
    }
    t.ok(passed.length > 0, `seed ${seed}: some passed`)
    t.ok(worst <= 1e-9, `seed ${seed}: never above burst + D/T (worst excess ${worst})`)
  }
})

t.test('a cost above the burst is always refused, even after a long idle', async (t) => {
  const b = bucket({ limit: 10, periodMs: 1000, burst: 5 })
  t.notOk(b.take(T0, 6).allowed)
  t.notOk(b.take(T0 + 3_600_000, 6).allowed)
  t.equal(b.tatMs, undefined, 'nothing charged')
  t.ok(b.take(T0 + 3_600_000, 5).allowed, 'the burst itself fits')
})

t.test('cost 0 passes and changes nothing', async (t) => {
  const spec = { limit: 10, periodMs: 1000, burst: 5 }
  const empty = gcra({ tatMs: undefined }, T0, { ...spec, cost: 0 })
  t.match(empty, { allowed: true, remaining: 5, resetMs: 0, retryAfterMs: 0, newTatMs: T0 })
  const tatMs = T0 + 500
  const full = gcra({ tatMs }, T0, { ...spec, cost: 0 })
  t.match(full, { allowed: true, remaining: 0, resetMs: 500, newTatMs: tatMs })
  // A TAT beyond τ (the burst was lowered since): still a look, not a refusal.
  t.ok(gcra({ tatMs: T0 + 10_000 }, T0, { ...spec, cost: 0 }).allowed)
  t.equal(gcra({ tatMs: T0 + 10_000 }, T0, { ...spec, cost: 1 }).remaining, 0, 'never negative')
})

t.test('a TAT in the past is an empty bucket', async (t) => {
  const r = gcra({ tatMs: T0 - 3_600_000 }, T0, { limit: 10, periodMs: 1000, burst: 5, cost: 1 })
  t.match(r, { allowed: true, remaining: 4, resetMs: 100, newTatMs: T0 + 100 })
})

t.test('token budgets: 200000 per day, requests of 5000', async (t) => {
  const b = bucket({ limit: 200_000, periodMs: 86_400_000, burst: 200_000 })
  const first = b.take(T0, 5000)
  t.match(first, { allowed: true, remaining: 195_000, resetMs: 5000 * 432 })
  let passed = 1
  while (b.take(T0, 5000).allowed) passed++
  t.equal(passed, 40)
  const refused = b.take(T0, 5000)
  t.equal(refused.remaining, 0)
  t.equal(refused.retryAfterMs, 5000 * 432, '432 ms per token')
  t.equal(refused.resetMs, 86_400_000)
  t.equal(b.take(T0 + 432 * 1000, 1000).remaining, 0, '1000 tokens back after 432 s')
  t.notOk(b.take(T0 + 432 * 1000, 1).allowed)
})
