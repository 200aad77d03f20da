/** replayEntry: a stored entry played into a sink, at once or paced, with backpressure and abort. */
import t from 'tap'
import { replayEntry } from '../../../src/core/cache/replay.js'
import type { CacheEntry } from '../../../src/core/cache/types.js'
import { recorder } from '../../helpers/recording-sink.js'


const EVENTS = ['data: one\n\n', 'data: two\n\n', 'data: three\n\n']

function sseEntry(at: number[] = [0, 2, 4]): CacheEntry {
  const body = Buffer.from(EVENTS.join(''))
  const ends: number[] = []
  let n = 0
  for (const e of EVENTS) ends.push((n += Buffer.byteLength(e)))
  return {
    meta: { key: 'k', route: 'r', createdAt: 0, freshUntil: 1, staleUntil: 2, tags: [], contentType: 'text/event-stream', bytes: body.byteLength },
    status: 200,
    headers: ['content-type', 'text/event-stream'],
    body,
    events: { ends, at },
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r))
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

async function until(cond: () => boolean, ms = 2000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(2)) if (cond()) return true
  return cond()
}

/** Timers this process has pending (Node ≥ 17 on every supported version). */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

t.test('instant: the head with the extra headers, the whole body at once, the end', async (t) => {
  const r = recorder()
  const entry = sseEntry()
  replayEntry(entry, r.sink, 'instant', ['x-chaperone-cache', 'hit', 'age', '3'])
  t.same(r.events, [], 'nothing before replayEntry has returned')
  await tick()
  t.same(r.events, [['head', 200, ['content-type', 'text/event-stream', 'x-chaperone-cache', 'hit', 'age', '3']], ['data', EVENTS.join('')], ['end']])
  t.same(entry.headers, ['content-type', 'text/event-stream'], 'the entry itself is not changed')

  // A body without events (JSON), and an empty body.
  const json = recorder()
  replayEntry({ ...entry, headers: ['content-type', 'application/json'], body: Buffer.from('{"a":1}'), events: undefined } as CacheEntry, json.sink, 'original', [])
  await tick()
  t.same(json.events, [['head', 200, ['content-type', 'application/json']], ['data', '{"a":1}'], ['end']], 'nothing to pace: one piece')
  const empty = recorder()
  replayEntry({ ...entry, body: new Uint8Array(0), events: undefined } as CacheEntry, empty.sink, 'instant', [])
  await tick()
  t.same(empty.kinds(), ['head', 'end'], 'no empty chunk is handed over')
})

t.test('instant, a body that is a view into a larger buffer: only its own bytes', async (t) => {
  const backing = Buffer.from('XXXXdata: one\n\nYYYY')
  const body = backing.subarray(4, 4 + 'data: one\n\n'.length)
  const r = recorder()
  replayEntry({ ...sseEntry(), body, events: undefined } as CacheEntry, r.sink, 'instant', [])
  await tick()
  t.same(r.data(), ['data: one\n\n'])
})

t.test('original: one event per onData, in order, at their offsets', async (t) => {
  const r = recorder()
  replayEntry(sseEntry([0, 15, 30]), r.sink, 'original', ['x-chaperone-cache', 'hit'])
  await tick()
  t.same(r.kinds().slice(0, 2), ['head', 'data'], 'the first event is due at once')
  t.notOk(r.kinds().includes('end'), 'later events wait for their time')
  t.ok(await until(() => r.kinds().includes('end')))
  t.same(r.data(), EVENTS, 'one onData per event, in order, boundaries kept')
  t.same(r.kinds(), ['head', 'data', 'data', 'data', 'end'])
})

t.test('original: bytes after the last boundary are not dropped', async (t) => {
  const entry = sseEntry([0, 1, 2])
  const body = Buffer.concat([Buffer.from(entry.body), Buffer.from('data: tail')])
  const r = recorder()
  replayEntry({ ...entry, body } as CacheEntry, r.sink, 'original', [])
  t.ok(await until(() => r.kinds().includes('end')))
  t.same(r.data(), [...EVENTS, 'data: tail'])
})

t.test('backpressure: a false onData waits for resume, the end included', async (t) => {
  for (const pacing of ['instant', 'original'] as const) {
    const r = recorder()
    r.accept = false
    replayEntry(sseEntry([0, 0, 0]), r.sink, pacing, [])
    await tick()
    await sleep(20)
    t.same(r.kinds(), ['head', 'data'], `${pacing}: one onData, then nothing until resume`)
    r.resume(pacing !== 'original')
    if (pacing === 'original') {
      await sleep(10)
      t.same(r.data(), EVENTS.slice(0, 2), 'original: the next event only, then paused again')
      r.resume()
    }
    t.ok(await until(() => r.kinds().includes('end')))
    t.same(r.data().join(''), EVENTS.join(''), `${pacing}: every byte once`)
    t.equal(r.kinds().filter((k) => k === 'end').length, 1)
  }
})

t.test('backpressure: a false onHead holds the body until resume; a stray resume is harmless', async (t) => {
  const r = recorder({ headOk: false })
  replayEntry(sseEntry(), r.sink, 'instant', [])
  await tick()
  await sleep(10)
  t.same(r.kinds(), ['head'])
  r.resume()
  t.same(r.kinds(), ['head', 'data', 'end'])
  r.resume()
  t.same(r.kinds(), ['head', 'data', 'end'], 'resuming a finished replay does nothing')
})

t.test('abort: nothing after it, and no timer left behind', async (t) => {
  {
    const r = recorder()
    const flight = replayEntry(sseEntry(), r.sink, 'instant', [])
    flight.abort()
    await tick()
    await sleep(10)
    t.same(r.events, [], 'aborted before the first call: nothing at all')
  }
  {
    const before = timers()
    const r = recorder()
    // The last events are far in the future: a timer left running would keep the process alive.
    const flight = replayEntry(sseEntry([0, 60_000, 120_000]), r.sink, 'original', [])
    await tick()
    t.same(r.kinds(), ['head', 'data'])
    t.equal(timers(), before + 1, 'one timer for the next event')
    flight.abort()
    t.equal(timers(), before, 'abort cleared it')
    flight.abort()
    await sleep(10)
    t.same(r.kinds(), ['head', 'data'], 'nothing after abort')
  }
  {
    // Aborted by the sink from inside onData (a filter cut the response).
    let flight: { abort(): void } | undefined
    const r = recorder({ onData: () => flight!.abort() })
    flight = replayEntry(sseEntry([0, 0, 0]), r.sink, 'original', [])
    await tick()
    await sleep(10)
    t.same(r.kinds(), ['head', 'data'], 'no further event and no end')
  }
  {
    // Aborted from inside onHead (the server refused the response), while paused.
    let flight: { abort(): void } | undefined
    const events: string[] = []
    flight = replayEntry(
      sseEntry(),
      {
        onHead: () => (events.push('head'), flight!.abort(), false),
        onData: () => (events.push('data'), true),
        onEnd: () => void events.push('end'),
        onError: () => void events.push('error'),
      },
      'instant',
      [],
    )
    await tick()
    t.same(events, ['head'])
  }
})
