import t from 'tap'
import { boxedFor, report, ttlMs, type PenaltyConfig, type PenaltyState } from '../../../src/core/ratelimit/penalty.js'
import { mulberry32 } from '../../helpers/prng.js'

const T0 = 1_700_000_000_000
const cfg: PenaltyConfig = { threshold: 10, halfLifeMs: 60_000, boxMs: 1000, maxBoxMs: 5000, strikeMemoryMs: 30_000 }

/** A subject as a store keeps it: every report replaces the state. */
function subject(c: PenaltyConfig = cfg) {
  let state: PenaltyState | undefined
  return {
    report(nowMs: number, points: number) {
      state = report(state, nowMs, points, c)
      return boxedFor(state, nowMs)
    },
    get state() {
      return state!
    },
  }
}

t.test('points halve every half-life, exactly', async (t) => {
  const s = subject()
  s.report(T0, 8)
  s.report(T0 + 60_000, 0)
  t.equal(s.state.points, 4, 'one half-life')
  s.report(T0 + 180_000, 0)
  t.equal(s.state.points, 1, 'two more')
  s.report(T0 + 180_000 + 30_000, 0)
  // 2^-0.5 by Math.pow may miss √½ by an ulp.
  t.ok(Math.abs(s.state.points - Math.SQRT1_2) < 1e-15, `half a half-life: 1/√2 (${s.state.points})`)
  const decayed = s.state.points
  s.report(T0 + 210_000, 3)
  t.equal(s.state.points, decayed + 3, 'new points add undecayed')
  t.equal(s.state.updatedMs, T0 + 210_000)

  const back = subject()
  back.report(T0, 8)
  back.report(T0 - 5000, 0)
  t.equal(back.state.points, 8, 'a clock running backwards decays nothing')
})

t.test('the threshold: reached by the decayed sum, inclusive', async (t) => {
  const s = subject()
  t.equal(s.report(T0, 9.5), 0)
  t.equal(s.report(T0 + 60_000, 5), 0, '4.75 + 5 is still short')
  t.equal(s.state.points, 9.75)
  t.equal(s.report(T0 + 60_000, 0.25), 1000, 'exactly the threshold boxes, for boxMs')
  t.match(s.state, { points: 0, strikes: 1, boxedUntilMs: T0 + 61_000, lastBoxMs: T0 + 60_000 }, 'points reset when the box starts')

  const once = subject()
  t.equal(once.report(T0, 25), 1000, 'one report past the threshold boxes at once')
  t.equal(boxedFor(once.state, T0 + 400), 600, 'the time left')
  t.equal(boxedFor(once.state, T0 + 1000), 0, 'free at the end')
  t.equal(boxedFor(undefined, T0), 0, 'no state: free')
})

t.test('each strike doubles the box, up to maxBoxMs', async (t) => {
  const s = subject()
  const lengths: number[] = []
  let now = T0
  for (let i = 0; i < 6; i++) {
    const length = s.report(now, 10)
    lengths.push(length)
    now += length
  }
  t.same(lengths, [1000, 2000, 4000, 5000, 5000, 5000])
  t.equal(s.state.strikes, 6)

  const huge = subject({ ...cfg, maxBoxMs: 3_600_000 })
  let at = T0
  for (let i = 0; i < 2000; i++) at += huge.report(at, 10)
  t.equal(huge.report(at, 10), 3_600_000, 'thousands of strikes: still the cap, never Infinity or NaN')
})

t.test('strikes are forgotten strikeMemoryMs after the last box ends', async (t) => {
  const s = subject()
  t.equal(s.report(T0, 10), 1000)
  t.equal(s.report(T0 + 1000, 10), 2000, 'boxed again right after: doubled')
  const end = T0 + 3000
  t.equal(s.report(end + 29_999, 10), 4000, 'within memory: doubled again')

  const r = subject()
  r.report(T0, 10)
  r.report(T0 + 1000, 10)
  t.equal(r.report(T0 + 3000 + 30_000, 10), 1000, 'a full strikeMemoryMs without a box: back to boxMs')
  t.equal(r.state.strikes, 1)

  const quiet = subject()
  quiet.report(T0, 10)
  quiet.report(T0 + 1000 + 30_000, 1)
  t.equal(quiet.state.strikes, 0, 'a report below the threshold forgets them too')
})

t.test('reports while boxed add points but neither extend nor restart the box', async (t) => {
  const s = subject()
  s.report(T0, 10)
  t.equal(s.report(T0 + 200, 50), 800, 'same box, 800 ms left')
  t.equal(s.report(T0 + 999, 50), 1, 'still the same box')
  t.equal(s.state.strikes, 1)
  t.ok(s.state.points > 99 && s.state.points < 100, `points accumulate, decayed (${s.state.points})`)
  t.equal(s.state.boxedUntilMs, T0 + 1000)
  t.equal(boxedFor(s.state, T0 + 1000), 0, 'the box ends when it said')
  t.equal(s.report(T0 + 1500, 0), 2000, 'the first report after it, even of 0, starts the next box')
  t.equal(s.state.points, 0)

  const calm = subject()
  calm.report(T0, 10)
  calm.report(T0 + 500, 3)
  t.equal(calm.report(T0 + 1000, 0), 0, 'points below the threshold at the end: free')
})

t.test('ttlMs: as long as the box, the strikes or the points matter, and no longer', async (t) => {
  const fresh = report(undefined, T0, 5, cfg)
  // 5 points fall under 10/1024 after log2(512) = 9 half-lives.
  t.equal(ttlMs(fresh, T0, cfg), 9 * 60_000)
  t.equal(ttlMs(fresh, T0 + 60_000, cfg), 8 * 60_000, 'counts down')
  const faded = report(fresh, T0 + 9 * 60_000, 0, cfg)
  t.equal(faded.points, 10 / 1024, 'at the ttl the points are down to threshold / 1024')
  t.equal(ttlMs(faded, T0 + 9 * 60_000, cfg), 0, 'and the state can go')

  t.equal(ttlMs(report(undefined, T0, 0, cfg), T0, cfg), 0, 'a report of nothing needs no state')

  const boxed = report(undefined, T0, 10, cfg)
  t.equal(ttlMs(boxed, T0, cfg), 1000 + 30_000, 'the box, then the strike memory')
  const end = T0 + 1000 + 30_000
  t.equal(ttlMs(boxed, end, cfg), 0)
  t.same(report(boxed, end, 10, cfg), report(undefined, end, 10, cfg), 'past the ttl, the state answers like none')

  const long = { ...cfg, strikeMemoryMs: 0 }
  t.equal(ttlMs(report(undefined, T0, 10, long), T0 + 400, long), 600, 'without strike memory: the rest of the box')
})

t.test('random reports: boxes within bounds, ttl covers the box, dropping at the ttl changes nothing', async (t) => {
  const rnd = mulberry32(42)
  const c: PenaltyConfig = { threshold: 20, halfLifeMs: 5000, boxMs: 300, maxBoxMs: 4000, strikeMemoryMs: 10_000 }
  let state: PenaltyState | undefined
  let now = T0
  let boxes = 0
  let dropped = 0
  for (let i = 0; i < 5000; i++) {
    // Mostly a busy subject, now and then a long quiet spell.
    now += Math.floor(rnd() * (rnd() < 0.05 ? 120_000 : 2000))
    const points = Math.floor(rnd() * 12)
    // What a store does: drop a state whose ttl has passed.
    if (state && ttlMs(state, now, c) === 0) {
      if (boxedFor(report(state, now, points, c), now) !== boxedFor(report(undefined, now, points, c), now)) {
        t.fail(`dropping the state at step ${i} changed the answer`)
        break
      }
      state = undefined
      dropped++
    }
    const before = boxedFor(state, now)
    state = report(state, now, points, c)
    const left = boxedFor(state, now)
    if (before === 0 && left > 0) boxes++
    if (!(left <= c.maxBoxMs && state.points >= 0 && ttlMs(state, now, c) >= left)) {
      t.fail(`invariant broken at step ${i}: ${JSON.stringify(state)}`)
      break
    }
    if (before > 0 && left !== before) {
      t.fail(`a report while boxed moved the box at step ${i}`)
      break
    }
  }
  t.ok(boxes > 10 && dropped > 10, `both boxes (${boxes}) and drops (${dropped}) exercised`)
})
