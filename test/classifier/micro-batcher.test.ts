import t from 'tap'
import { MicroBatcher, QueueFullError } from '../../src/core/classifier/micro-batcher.js'

function recorder(opts: { maxBatch: number; maxWaitMs: number; maxQueue?: number; fail?: boolean; short?: boolean }) {
  const batches: number[][] = []
  let running = 0
  let overlap = false
  let release: (() => void) | undefined
  let gate: Promise<void> | undefined
  const b = new MicroBatcher<number, string>({
    maxBatch: opts.maxBatch,
    maxWaitMs: opts.maxWaitMs,
    maxQueue: opts.maxQueue ?? 1000,
    run: async (items) => {
      running++
      if (running > 1) overlap = true
      batches.push([...items])
      if (gate) await gate
      await new Promise((r) => setImmediate(r))
      running--
      if (opts.fail) throw new Error('model failed')
      return opts.short ? items.slice(1).map(String) : items.map((i) => `s${i}`)
    },
  })
  return {
    b,
    batches,
    overlap: () => overlap,
    hold: () => {
      gate = new Promise<void>((r) => (release = r))
    },
    release: () => {
      gate = undefined
      release?.()
    },
  }
}

t.test('a full batch runs at once, in order, one result per item', async (t) => {
  const r = recorder({ maxBatch: 4, maxWaitMs: 10_000 })
  const out = await Promise.all([1, 2, 3, 4].map((i) => r.b.submit(i)))
  t.same(out, ['s1', 's2', 's3', 's4'])
  t.same(r.batches, [[1, 2, 3, 4]], 'no wait for the timer when the batch is full')
})

t.test('a partial batch runs after maxWaitMs', async (t) => {
  const r = recorder({ maxBatch: 64, maxWaitMs: 5 })
  const out = await Promise.all([r.b.submit(1), r.b.submit(2)])
  t.same(out, ['s1', 's2'])
  t.same(r.batches, [[1, 2]], 'concurrent callers shared one run')
})

t.test('one batch at a time; what queued meanwhile goes next, split by maxBatch', async (t) => {
  const r = recorder({ maxBatch: 3, maxWaitMs: 1 })
  r.hold()
  const first = r.b.submit(0)
  await new Promise((res) => setTimeout(res, 20))
  t.same(r.batches, [[0]], 'the first batch is running')
  const rest = [1, 2, 3, 4, 5, 6, 7].map((i) => r.b.submit(i))
  t.equal(r.b.waiting, 7)
  r.release()
  const out = await Promise.all([first, ...rest])
  t.same(out, ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7'])
  t.same(r.batches, [[0], [1, 2, 3], [4, 5, 6], [7]])
  t.notOk(r.overlap(), 'never two runs at once')
})

t.test('the queue is bounded: past maxQueue a call is refused at once', async (t) => {
  const r = recorder({ maxBatch: 1, maxWaitMs: 0, maxQueue: 2 })
  r.hold()
  const a = r.b.submit(1) // running
  await new Promise((res) => setImmediate(res))
  const b = r.b.submit(2)
  const c = r.b.submit(3)
  await t.rejects(r.b.submit(4), QueueFullError)
  r.release()
  t.same(await Promise.all([a, b, c]), ['s1', 's2', 's3'])
})

t.test('an aborted caller is dropped before its batch runs', async (t) => {
  const r = recorder({ maxBatch: 8, maxWaitMs: 5 })
  const ac = new AbortController()
  const gone = r.b.submit(1, ac.signal)
  const kept = r.b.submit(2)
  ac.abort(new Error('client gone'))
  await t.rejects(gone, /client gone/)
  t.equal(await kept, 's2')
  t.same(r.batches, [[2]])
  await t.rejects(r.b.submit(3, ac.signal), /client gone/, 'an already aborted signal never queues')
})

t.test('a failed run or a short answer rejects every item of that batch only', async (t) => {
  const failing = recorder({ maxBatch: 2, maxWaitMs: 1, fail: true })
  await t.rejects(Promise.all([failing.b.submit(1), failing.b.submit(2)]), /model failed/)
  const short = recorder({ maxBatch: 2, maxWaitMs: 1, short: true })
  const results = await Promise.allSettled([short.b.submit(1), short.b.submit(2)])
  t.same(results.map((x) => x.status), ['rejected', 'rejected'])
  t.match(String((results[0] as PromiseRejectedResult).reason), /returned 1 results/)
})
