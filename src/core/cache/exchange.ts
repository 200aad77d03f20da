import type { ForwardRequest, InFlight, Origin, ResponseSink } from '../chain/origin.js'
import type { LogPort } from '../chain/types.js'
import { ChaperoneError } from '../errors.js'
import { buildEntry, type EntryPlan } from './build-entry.js'
import { responseShareable } from './cache-control.js'
import { Flight, type ByteBudget } from './flight.js'
import { replayEntry, type Pacing } from './replay.js'
import type { CacheEntry, CacheMetricsPort, CacheStore, EntryUsage, FillLock, LockResult } from './types.js'

/** What one request on a cache route needs to be answered from, or into, the cache. */
export interface ExchangePlan extends EntryPlan {
  readonly pacing: Pacing
  readonly coalesce: boolean
  readonly lockTtlMs: number
  readonly lockWaitMs: number
}

export interface ExchangeDeps {
  readonly store: CacheStore
  readonly metrics: CacheMetricsPort | undefined
  readonly log: LogPort
  readonly now: () => number
  readonly random: () => number
  /** Bytes all flights' recordings may hold together (DEFAULT_FLIGHT_BYTES when absent). */
  readonly flightBytes?: number
}

/** The response header that says how the cache answered (hit, stale, coalesced, miss). */
export const CACHE_STATUS_HEADER = 'x-chaperone-cache'

/** Back-pressure bound of a flight that no longer records (see Flight). */
const FLIGHT_HIGH_WATER = 256 * 1024
const POLL_FIRST_MS = 20
const POLL_MAX_MS = 250

/** A flight and the usage of its answer, known once it is complete (for the tokens saved). */
interface Pending {
  readonly flight: Flight
  readonly usage: Promise<EntryUsage | undefined>
}

/**
 * Identical requests in flight on this replica, and the bytes their recordings hold, per store:
 * the registry lives as long as the store (the process), so a policy reload does not split a
 * flight in two.
 */
interface Registry {
  readonly flights: Map<string, Pending>
  readonly budget: ByteBudget
}
const registries = new WeakMap<CacheStore, Registry>()
function registryOf(store: CacheStore, budgetBytes: number): Registry {
  let r = registries.get(store)
  if (!r) {
    let free = budgetBytes
    const budget: ByteBudget = {
      take: (n) => (n <= free ? ((free -= n), true) : false),
      give: (n) => void (free += n),
    }
    registries.set(store, (r = { flights: new Map(), budget }))
  }
  return r
}
const flightsOf = (deps: ExchangeDeps) => registryOf(deps.store, deps.flightBytes ?? DEFAULT_FLIGHT_BYTES).flights
const budgetOf = (deps: ExchangeDeps) => registryOf(deps.store, deps.flightBytes ?? DEFAULT_FLIGHT_BYTES).budget

/** What the recordings of every flight may hold together when the process does not say. */
export const DEFAULT_FLIGHT_BYTES = 64 * 1024 * 1024

/** Serves a stored entry; on a stale one, also refreshes it in the background. */
export function serveEntry(entry: CacheEntry, stale: boolean, plan: ExchangePlan, deps: ExchangeDeps, req: ForwardRequest, sink: ResponseSink, next: Origin): InFlight {
  const age = Math.max(0, Math.floor((deps.now() - entry.meta.createdAt) / 1000))
  if (stale) refresh(plan, deps, req, next)
  return replayEntry(entry, sink, plan.pacing, [CACHE_STATUS_HEADER, stale ? 'stale' : 'hit', 'age', String(age)])
}

/**
 * A miss: join the identical request already in flight on this replica, or start one. A new
 * flight asks for the fill lock first; while another replica holds it, this one waits (bounded)
 * for that replica's entry, and fetches itself when the holder gives up or dies.
 */
export function fetchThrough(plan: ExchangePlan, deps: ExchangeDeps, req: ForwardRequest, sink: ResponseSink, next: Origin): InFlight {
  const flights = flightsOf(deps)
  const existing = plan.coalesce ? flights.get(plan.key) : undefined
  if (existing?.flight.joinable) {
    deps.metrics?.lookup(plan.route, 'coalesced')
    let own: InFlight | undefined
    let left = false
    const joined = existing.flight.join(labelled(sink, 'coalesced'), () => {
      // The answer turned out to be private to the request that caused it: fetch our own.
      if (!left) own = next.forward(req, labelled(sink, 'miss'))
    })
    // Saved only when it got an answer without asking the upstream: not evicted, not gone, not failed.
    void Promise.all([existing.flight.result, existing.usage]).then(([r, u]) => {
      if (!own && !left && (r.kind === 'complete' || r.kind === 'unrecorded')) deps.metrics?.saved(plan.route, u)
    })
    return {
      abort(reason) {
        left = true
        joined.abort(reason)
        own?.abort(reason)
      },
    }
  }
  deps.metrics?.lookup(plan.route, 'miss')
  const flight = new Flight({ retainBytes: plan.maxEntryBytes, highWaterBytes: FLIGHT_HIGH_WATER, now: deps.now, shareable: responseShareable, budget: budgetOf(deps) })
  const mine = flight.join(labelled(sink, 'miss'))
  const usage = produce(flight, plan, deps, req, next).catch((err: unknown) => {
    // A bug here must fail the requests waiting on the flight, never leave them hanging.
    deps.log.error({ err: String(err), key: plan.key }, 'cache fill failed')
    flight.onError(new ChaperoneError('internal_error', 'cache fill failed'))
    return undefined
  })
  const pending: Pending = { flight, usage }
  if (plan.coalesce) flights.set(plan.key, pending)
  void usage.finally(() => {
    if (flights.get(plan.key) === pending) flights.delete(plan.key)
    flight.release()
  })
  return mine
}

/** Fetches a fresh copy of a stale entry for the requests after this one; nobody waits on it. */
function refresh(plan: ExchangePlan, deps: ExchangeDeps, req: ForwardRequest, next: Origin): void {
  const flights = flightsOf(deps)
  if (flights.has(plan.key)) return
  // Requests may join it (a client's no-cache), so a private answer must not reach them either.
  const flight = new Flight({ retainBytes: plan.maxEntryBytes, highWaterBytes: FLIGHT_HIGH_WATER, now: deps.now, keepAlive: true, shareable: responseShareable, budget: budgetOf(deps) })
  // When another replica is refreshing it already, this refresh ends at once unless a request
  // joined it meanwhile: that one waits for the other replica's entry like any miss.
  const usage = produce(flight, plan, deps, req, next, true).catch((err: unknown) => {
    deps.log.warn({ err: String(err), key: plan.key }, 'cache refresh failed')
    flight.onError(new ChaperoneError('internal_error', 'cache refresh failed'))
    return undefined
  })
  const pending: Pending = { flight, usage }
  flights.set(plan.key, pending)
  void usage.finally(() => {
    if (flights.get(plan.key) === pending) flights.delete(plan.key)
    flight.release()
  })
}

/** Fills the flight, from the upstream or from another replica's entry; resolves to the answer's usage. */
async function produce(flight: Flight, plan: ExchangePlan, deps: ExchangeDeps, req: ForwardRequest, next: Origin, useLock = plan.coalesce): Promise<EntryUsage | undefined> {
  let lock: LockResult = useLock ? await deps.store.lock(plan.key, plan.lockTtlMs) : { kind: 'unavailable' }
  if (lock.kind === 'held') {
    const deadline = deps.now() + plan.lockWaitMs
    let pause = POLL_FIRST_MS
    while (lock.kind === 'held') {
      if (flight.subscribers === 0) {
        flight.onError(new ChaperoneError('upstream_error', 'every waiting client left'))
        return undefined
      }
      if (deps.now() >= deadline) {
        deps.log.info({ key: plan.key, waitedMs: plan.lockWaitMs }, 'cache fill lock still held elsewhere; fetching without it')
        lock = { kind: 'unavailable' }
        break
      }
      await sleep(Math.min(pause, Math.max(1, deadline - deps.now())))
      pause = Math.min(POLL_MAX_MS, pause * 2)
      const entry = await deps.store.get(plan.key)
      // Only a fresh one: a stale entry is the old answer the lock holder is replacing, and the
      // requests here asked for a new one (a miss, a client's no-cache, a refresh).
      if (entry && entry.meta.freshUntil > deps.now()) {
        // Another replica filled it: play it to everyone waiting here.
        flight.attach(replayEntry(entry, flight, 'instant', []))
        return entry.meta.usage
      }
      lock = await deps.store.lock(plan.key, plan.lockTtlMs)
    }
  }
  return fetchAndStore(flight, plan, deps, req, next, lock)
}

async function fetchAndStore(flight: Flight, plan: ExchangePlan, deps: ExchangeDeps, req: ForwardRequest, next: Origin, lock: LockResult): Promise<EntryUsage | undefined> {
  const held: FillLock | undefined = lock.kind === 'acquired' ? lock.lock : undefined
  // Renewed while the upstream answers, so waiters elsewhere know the holder is alive; a holder
  // that dies stops renewing and the lock frees itself after lockTtl.
  const renew = held ? setInterval(() => void held.renew(plan.lockTtlMs).catch(() => false), Math.max(100, Math.floor(plan.lockTtlMs / 3))) : undefined
  renew?.unref?.()
  try {
    // Before any answer a flight is unjoinable only once abandoned: every client left while the
    // lock was awaited, so nobody wants this answer (a refresh is kept alive, never abandoned).
    if (!flight.joinable) return undefined
    flight.attach(next.forward(req, flight))
    const r = await flight.result
    if (r.kind !== 'complete') {
      deps.metrics?.notStored(plan.route, r.kind === 'unrecorded' ? 'too_large' : 'aborted')
      return undefined
    }
    const built = buildEntry(r.recording, plan, deps.now(), deps.random())
    if (!built.ok) {
      deps.metrics?.notStored(plan.route, built.reason)
      return undefined
    }
    // Stored before the lock goes, so that a replica waiting on it finds the entry.
    await deps.store.set(built.entry)
    deps.metrics?.stored(plan.route, built.entry.meta.bytes)
    return built.entry.meta.usage
  } finally {
    if (renew) clearInterval(renew)
    await held?.release()
  }
}

/** The sink, with the cache status added to the head it receives. */
function labelled(sink: ResponseSink, status: 'miss' | 'coalesced'): ResponseSink {
  return {
    onHead: (s, headers, resume) => sink.onHead(s, [...headers, CACHE_STATUS_HEADER, status], resume),
    onData: (c) => sink.onData(c),
    onEnd: () => sink.onEnd(),
    onError: (e) => sink.onError(e),
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
