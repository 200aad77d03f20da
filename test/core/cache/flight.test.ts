/**
 * Flight: one upstream exchange fanned out to coalesced subscribers. The producer is driven by
 * hand (the test calls onHead/onData/onEnd/onError) and each subscriber is a recording sink.
 */
import t from 'tap'
import { Flight, type FlightOptions } from '../../../src/core/cache/flight.js'
import type { InFlight, ResponseSink } from '../../../src/core/chain/origin.js'
import { ChaperoneError } from '../../../src/core/errors.js'
import { recorder } from '../../helpers/recording-sink.js'


/** A producer handle that counts aborts. */
function producer() {
  const aborts: (ChaperoneError | undefined)[] = []
  const p: InFlight & { aborts: typeof aborts } = { aborts, abort: (reason) => void aborts.push(reason) }
  return p
}

const tick = () => new Promise<void>((r) => setImmediate(r))
const HEAD = ['content-type', 'text/event-stream']

function flight(o: Partial<FlightOptions> = {}) {
  let clock = 1000
  const f = new Flight({ retainBytes: 1 << 20, highWaterBytes: 1 << 16, now: () => clock, ...o })
  const p = producer()
  f.attach(p)
  let resumes = 0
  const resume = () => void resumes++
  return {
    f,
    p,
    resume,
    resumes: () => resumes,
    advance: (ms: number) => void (clock += ms),
  }
}

t.test('a late joiner gets everything from the start, then the rest live', async (t) => {
  const { f, resume } = flight()
  const owner = recorder()
  f.join(owner.sink)
  f.onHead(200, [...HEAD], resume)
  t.equal(f.onData(Buffer.from('a')), true)
  t.equal(f.onData(Buffer.from('b')), true)
  await tick()
  t.same(owner.data(), ['a', 'b'])
  t.ok(f.joinable)
  const late = recorder()
  f.join(late.sink)
  t.same(late.events, [], 'nothing inside join()')
  await tick()
  t.same(late.events, [['head', 200, HEAD], ['data', 'a'], ['data', 'b']], 'caught up from the start')
  f.onData(Buffer.from('c'))
  t.same(late.data(), ['a', 'b', 'c'], 'then live')
  f.onEnd()
  t.same(owner.kinds(), ['head', 'data', 'data', 'data', 'end'])
  t.same(late.kinds(), ['head', 'data', 'data', 'data', 'end'])
  t.equal(f.subscribers, 0, 'finished subscribers are gone')
  // A complete, recorded flight can still be joined: the joiner gets the whole answer.
  t.ok(f.joinable)
  const after = recorder()
  f.join(after.sink)
  await tick()
  t.same(after.events, [['head', 200, HEAD], ['data', 'a'], ['data', 'b'], ['data', 'c'], ['end']])
})

t.test('sink callbacks never run inside join(), even when everything is already there', async (t) => {
  const { f, resume } = flight()
  f.join(recorder().sink)
  f.onHead(200, [...HEAD], resume)
  f.onData(Buffer.from('x'))
  f.onEnd()
  const r = recorder()
  let inside = true
  const wrapped: ResponseSink = {
    onHead: (s, h, res) => (t.notOk(inside, 'onHead after join returned'), r.sink.onHead(s, h, res)),
    onData: (c) => (t.notOk(inside, 'onData after join returned'), r.sink.onData(c)),
    onEnd: () => (t.notOk(inside, 'onEnd after join returned'), r.sink.onEnd()),
    onError: (e) => (t.notOk(inside, 'onError after join returned'), r.sink.onError(e)),
  }
  f.join(wrapped)
  inside = false
  await tick()
  t.same(r.kinds(), ['head', 'data', 'end'])
})

t.test('a slow subscriber does not delay the others or the producer while the flight records', async (t) => {
  const { f, resume, resumes } = flight({ retainBytes: 1000, highWaterBytes: 10 })
  const fast = recorder()
  const slow = recorder()
  f.join(fast.sink)
  f.join(slow.sink)
  f.onHead(200, [...HEAD], resume)
  await tick()
  slow.accept = false
  const answers = ['one', 'two', 'three', 'four', 'five'].map((s) => f.onData(Buffer.from(s + '-'.repeat(20))))
  t.same(answers, [true, true, true, true, true], 'the producer is never paused while recording, however far behind the slow one is')
  f.onEnd()
  t.same(fast.data().length, 5)
  t.same(fast.kinds().at(-1), 'end', 'the fast one finished')
  t.same(slow.data().length, 1, 'the slow one took one chunk and paused')
  t.notOk(slow.kinds().includes('end'), 'no end while it is paused')
  const result = await f.result
  t.equal(result.kind, 'complete', 'the flight completed although one subscriber lags')
  slow.resume()
  t.same(slow.data(), fast.data(), 'the slow one gets everything, in order, once it resumes')
  t.same(slow.kinds().at(-1), 'end')
  t.equal(resumes(), 0)
})

t.test('past retainBytes: no joiners, chunks dropped once passed, the producer follows the slowest', async (t) => {
  const { f, p, resume, resumes } = flight({ retainBytes: 10, highWaterBytes: 20 })
  const fast = recorder()
  const slow = recorder()
  f.join(fast.sink)
  f.join(slow.sink)
  f.onHead(200, [...HEAD], resume)
  await tick()
  slow.accept = false
  const chunk = (c: string) => Buffer.from(c.repeat(8))
  t.equal(f.onData(chunk('a')), true)
  t.ok(f.joinable, 'within retainBytes')
  t.equal(f.onData(chunk('b')), true)
  t.notOk(f.joinable, 'past retainBytes nobody joins: the start is no longer guaranteed')
  t.equal(f.onData(chunk('c')), true, 'the slowest is 16 bytes behind: under the high water mark')
  t.equal(f.onData(chunk('d')), false, 'the slowest is 24 bytes behind: the producer must pause')
  t.same(fast.data(), ['aaaaaaaa', 'bbbbbbbb', 'cccccccc', 'dddddddd'], 'the fast one got them all meanwhile')
  t.same(slow.data(), ['aaaaaaaa'])
  t.equal(resumes(), 0)
  // A subscriber joining now (against `joinable`) shows what is still kept: only what the
  // slowest has not passed, not the start.
  const peek = recorder()
  f.join(peek.sink)
  await tick()
  t.same(peek.data(), ['bbbbbbbb', 'cccccccc', 'dddddddd'], 'the chunk every subscriber passed was dropped')
  slow.resume()
  t.same(slow.data(), ['aaaaaaaa', 'bbbbbbbb', 'cccccccc', 'dddddddd'])
  t.equal(resumes(), 1, 'the producer is resumed once the slowest caught up')
  t.equal(f.onData(chunk('e')), true)
  const late = recorder()
  f.join(late.sink)
  await tick()
  t.same(late.data(), [], 'everything passed by everyone was dropped: nothing old is replayed')
  f.onEnd()
  t.same(late.kinds(), ['head', 'end'])
  t.same(await f.result, { kind: 'unrecorded' }, 'complete but too big to have been kept')
  t.same(p.aborts, [])
})

t.test('a shared byte budget bounds what every flight records together', async (t) => {
  let free = 20
  const budget = { take: (n: number) => (n <= free ? ((free -= n), true) : false), give: (n: number) => void (free += n) }
  const a = flight({ budget })
  const b = flight({ budget })
  const ra = recorder()
  const rb = recorder()
  a.f.join(ra.sink)
  b.f.join(rb.sink)
  a.f.onHead(200, [...HEAD], a.resume)
  b.f.onHead(200, [...HEAD], b.resume)
  await tick()
  a.f.onData(Buffer.from('x'.repeat(12)))
  t.equal(free, 8, 'the first flight took its bytes')
  t.ok(a.f.joinable)
  b.f.onData(Buffer.from('y'.repeat(12)))
  t.notOk(b.f.joinable, 'the second could not: it stops recording')
  t.equal(free, 8, 'and holds nothing of the budget')
  t.same(rb.data(), ['y'.repeat(12)], 'its client still gets the answer')
  b.f.onEnd()
  t.same(await b.f.result, { kind: 'unrecorded' })
  a.f.onEnd()
  t.equal((await a.f.result).kind, 'complete')
  t.equal(free, 8, 'a recording holds its bytes until it is released (stored)')
  a.f.release()
  a.f.release()
  t.equal(free, 20, 'released once, given back once')
})

t.test('every subscriber leaving stops the producer, unless keepAlive', async (t) => {
  {
    const { f, p, resume } = flight()
    const a = f.join(recorder().sink)
    const b = f.join(recorder().sink)
    f.onHead(200, [...HEAD], resume)
    a.abort()
    a.abort()
    t.same(p.aborts, [], 'one left, one still listens')
    b.abort()
    t.equal(p.aborts.length, 1, 'the last one left: the producer is stopped')
    t.equal(p.aborts[0]!.code, 'upstream_error')
    t.same(await f.result, { kind: 'abandoned' })
    t.notOk(f.joinable)
    t.equal(f.onData(Buffer.from('late')), true, 'later producer calls are ignored')
    f.onEnd()
    t.same(await f.result, { kind: 'abandoned' })
    // A producer attached after everyone left is stopped at once.
    const late = producer()
    f.attach(late)
    t.equal(late.aborts.length, 1)
  }
  {
    const { f, p, resume } = flight({ keepAlive: true })
    const a = f.join(recorder().sink)
    f.onHead(200, [...HEAD], resume)
    a.abort()
    t.same(p.aborts, [], 'keepAlive: a refresh goes on without listeners')
    f.onData(Buffer.from('x'))
    f.onEnd()
    const r = await f.result
    t.equal(r.kind, 'complete')
    if (r.kind === 'complete') t.same(r.recording.chunks.map(String), ['x'])
  }
})

t.test('a producer error reaches every subscriber after the chunks it had not yet received', async (t) => {
  const { f, resume } = flight()
  const early = recorder()
  f.join(early.sink)
  const fast = recorder()
  const slow = recorder()
  f.onHead(200, [...HEAD], resume)
  f.join(fast.sink)
  f.join(slow.sink)
  await tick()
  slow.accept = false
  f.onData(Buffer.from('1'))
  f.onData(Buffer.from('2'))
  f.onError(new ChaperoneError('upstream_error', 'connection reset'))
  t.same(early.events.slice(1), [['data', '1'], ['data', '2'], ['error', 'connection reset']])
  t.same(fast.events.slice(1), [['data', '1'], ['data', '2'], ['error', 'connection reset']])
  t.same(slow.events.slice(1), [['data', '1']], 'paused: the rest waits')
  slow.resume()
  t.same(slow.events.slice(1), [['data', '1'], ['data', '2'], ['error', 'connection reset']])
  const r = await f.result
  t.equal(r.kind, 'failed')
  if (r.kind === 'failed') t.equal(r.error.message, 'connection reset')
  t.notOk(f.joinable, 'a failed flight takes no joiners')
  f.onEnd()
  t.equal(fast.kinds().filter((k) => k === 'end' || k === 'error').length, 1, 'one terminal call each')

  // An error before any head: the subscriber hears only the error.
  const g = flight()
  const waiting = recorder()
  g.f.join(waiting.sink)
  await tick()
  g.f.onError(new ChaperoneError('upstream_unavailable', 'refused'))
  t.same(waiting.events, [['error', 'refused']])
  t.same((await g.f.result).kind, 'failed')
})

t.test('interim 1xx heads are not passed on', async (t) => {
  const { f, resume } = flight()
  const r = recorder()
  f.join(r.sink)
  await tick()
  t.equal(f.onHead(100, [], resume), true)
  t.equal(f.onHead(103, ['link', '</x>; rel=preload'], resume), true)
  await tick()
  t.same(r.events, [], 'nothing for a 100 or a 103')
  f.onHead(200, [...HEAD], resume)
  f.onData(Buffer.from('body'))
  f.onEnd()
  t.same(r.events, [['head', 200, HEAD], ['data', 'body'], ['end']])
  const res = await f.result
  t.equal(res.kind === 'complete' && res.recording.status, 200)
})

t.test('an answer that may not be shared: joiners that can fetch on their own are evicted, the owner keeps it', async (t) => {
  const shareable = (h: readonly string[]) => !h.some((x) => x.toLowerCase() === 'set-cookie')
  {
    const { f, p, resume } = flight({ shareable })
    const owner = recorder()
    const x = recorder()
    const y = recorder()
    const evicted: string[] = []
    f.join(owner.sink)
    f.join(x.sink, () => evicted.push('x'))
    f.join(y.sink, () => evicted.push('y'))
    t.equal(f.subscribers, 3)
    t.equal(f.onHead(200, [...HEAD, 'Set-Cookie', 's=1'], resume), true)
    t.same(evicted, ['x', 'y'], 'each evicted once')
    t.equal(f.subscribers, 1)
    t.notOk(f.joinable, 'nobody joins a private answer')
    f.onData(Buffer.from('mine'))
    f.onEnd()
    await tick()
    t.same(owner.events, [['head', 200, [...HEAD, 'Set-Cookie', 's=1']], ['data', 'mine'], ['end']])
    t.same(x.events, [], 'an evicted subscriber hears nothing from the flight')
    t.same(y.events, [])
    t.same(p.aborts, [])
  }
  {
    // The owner left before the head: only evictable subscribers remain.
    const { f, p, resume } = flight({ shareable })
    const owner = f.join(recorder().sink)
    const x = recorder()
    let evictions = 0
    f.join(x.sink, () => evictions++)
    owner.abort()
    t.same(p.aborts, [], 'someone still listens')
    t.equal(f.onHead(200, ['set-cookie', 's=2'], resume), false, 'the producer is told to stop')
    t.equal(evictions, 1)
    t.equal(p.aborts.length, 1, 'nobody may receive it: the producer is aborted')
    t.same(await f.result, { kind: 'abandoned' })
    await tick()
    t.same(x.events, [])
  }
  {
    // A shareable answer keeps everyone.
    const { f, resume } = flight({ shareable })
    const x = recorder()
    let evictions = 0
    f.join(recorder().sink)
    f.join(x.sink, () => evictions++)
    f.onHead(200, [...HEAD], resume)
    f.onEnd()
    await tick()
    t.equal(evictions, 0)
    t.same(x.kinds(), ['head', 'end'])
  }
})

t.test('results: complete carries the recording with arrival times', async (t) => {
  const { f, resume, advance } = flight()
  f.join(recorder().sink)
  advance(5)
  f.onHead(200, ['content-type', 'application/json'], resume)
  advance(7)
  f.onData(Buffer.from('{"a":'))
  f.onData(Buffer.alloc(0))
  advance(4)
  f.onData(Buffer.from('1}'))
  f.onEnd()
  const r = await f.result
  t.equal(r.kind, 'complete')
  if (r.kind !== 'complete') return
  t.equal(r.recording.status, 200)
  t.same(r.recording.headers, ['content-type', 'application/json'])
  t.same(r.recording.chunks.map(String), ['{"a":', '1}'], 'empty chunks are not recorded')
  t.same(r.recording.at, [7, 11], 'ms after the head')
  t.equal(r.recording.bytes, 7)
  // Anything the producer says after its end changes neither the recording nor the result.
  f.onData(Buffer.from('more'))
  f.onError(new ChaperoneError('upstream_error', 'late'))
  t.same(r.recording.chunks.map(String), ['{"a":', '1}'])
  t.equal(f.joinable, true, 'still a complete answer to join')
})

t.test('re-entrancy: a subscriber that aborts inside its own callbacks', async (t) => {
  {
    // One of two: it hears nothing more; the other and the producer go on.
    const { f, p, resume } = flight()
    let mine: InFlight | undefined
    const quitter = recorder({ onData: (c) => c === '2' && mine!.abort() })
    const stayer = recorder()
    mine = f.join(quitter.sink)
    f.join(stayer.sink)
    f.onHead(200, [...HEAD], resume)
    for (const c of ['1', '2', '3']) t.equal(f.onData(Buffer.from(c)), true)
    f.onEnd()
    t.same(quitter.events.slice(1), [['data', '1'], ['data', '2']], 'nothing after its abort, not even the end')
    t.same(stayer.data(), ['1', '2', '3'])
    t.same(p.aborts, [])
    t.equal((await f.result).kind, 'complete')
  }
  {
    // The only one: the producer is stopped from inside its own onData call.
    const { f, p, resume } = flight()
    let mine: InFlight | undefined
    const quitter = recorder({ onData: () => mine!.abort() })
    mine = f.join(quitter.sink)
    f.onHead(200, [...HEAD], resume)
    f.onData(Buffer.from('1'))
    t.equal(p.aborts.length, 1)
    t.same(await f.result, { kind: 'abandoned' })
    f.onData(Buffer.from('2'))
    f.onEnd()
    t.same(quitter.events.slice(1), [['data', '1']])
  }
  {
    // A subscriber that refuses the head (a filter answered instead) and aborts from onHead.
    const { f, p, resume } = flight()
    let mine: InFlight | undefined
    const events: string[] = []
    mine = f.join({
      onHead: () => (events.push('head'), mine!.abort(), false),
      onData: () => (events.push('data'), true),
      onEnd: () => void events.push('end'),
      onError: () => void events.push('error'),
    })
    const other = recorder()
    f.join(other.sink)
    f.onHead(200, [...HEAD], resume)
    f.onData(Buffer.from('x'))
    f.onEnd()
    t.same(events, ['head'])
    t.same(other.kinds(), ['head', 'data', 'end'])
    t.same(p.aborts, [])
  }
})

t.test('a paused head holds the body and the end until resumed', async (t) => {
  const { f, resume } = flight()
  const r = recorder({ headOk: false })
  f.join(r.sink)
  f.onHead(200, [...HEAD], resume)
  f.onData(Buffer.from('x'))
  f.onEnd()
  await tick()
  t.same(r.kinds(), ['head'])
  r.resume()
  t.same(r.kinds(), ['head', 'data', 'end'])
})

t.test('a subscriber paused on its last chunk hears the end (or the error) only once it resumes', async (t) => {
  for (const terminal of ['end', 'error'] as const) {
    const { f, resume } = flight()
    const r = recorder()
    f.join(r.sink)
    f.onHead(200, [...HEAD], resume)
    r.accept = false
    f.onData(Buffer.from('last'))
    if (terminal === 'end') f.onEnd()
    else f.onError(new ChaperoneError('upstream_error', 'cut'))
    await tick()
    t.same(r.kinds(), ['head', 'data'], `${terminal}: pause means nothing more until resume`)
    r.resume()
    t.same(r.kinds(), ['head', 'data', terminal], `${terminal}: delivered on resume`)
    r.resume()
    t.equal(r.kinds().length, 3, 'a second resume changes nothing')
  }
})
