import { rawHeaderValue } from '../http/hop-by-hop.js'
import type { SseEvent } from '../sse/types.js'
import { StreamUsage, usageFromBody } from '../tokens/usage.js'
import { responseStorable } from './cache-control.js'
import { readResponse } from './completeness.js'
import type { Recording } from './flight.js'
import { createBoundaryFinder } from './sse-boundaries.js'
import type { CacheEntry, EntryUsage, NotStoredReason } from './types.js'

export interface EntryPlan {
  readonly key: string
  readonly route: string
  readonly tags: readonly string[]
  readonly ttlMs: number
  readonly ttlJitter: number
  readonly staleMs: number
  readonly maxEntryBytes: number
  /** Treat the upstream's Cache-Control: no-cache as "do not store" (see responseStorable). */
  readonly honorNoCache: boolean
  readonly model?: string
}

/** Headers that describe one delivery, not the answer: a replay gets its own. */
const NOT_STORED_HEADERS = new Set(['date', 'age', 'connection', 'keep-alive', 'transfer-encoding', 'x-request-id', 'x-chaperone-cache', 'proxy-connection', 'trailer', 'upgrade'])

/**
 * Turns what the upstream sent into an entry, or says why it must not be stored: only complete
 * 200 answers that the upstream did not mark private, no-store or no-cache, without cookies,
 * within maxEntryBytes. The entry is the upstream's own response: moderation runs on each replay.
 */
export function buildEntry(rec: Recording, plan: EntryPlan, now: number, random: number): { ok: true; entry: CacheEntry } | { ok: false; reason: NotStoredReason } {
  const storable = responseStorable(rec.status, rec.headers, { honorNoCache: plan.honorNoCache })
  if (!storable.ok) return storable
  if (rec.bytes > plan.maxEntryBytes) return { ok: false, reason: 'too_large' }
  const body = Buffer.concat(rec.chunks as Buffer[], rec.bytes)
  const contentType = (rawHeaderValue(rec.headers, 'content-type') ?? '').toLowerCase()
  const sse = contentType.startsWith('text/event-stream')
  const events = sse ? eventTimes(rec) : undefined
  const read = readResponse(contentType, body, events?.ends)
  if (!read.completeness.ok) return read.completeness
  const headers: string[] = []
  for (let i = 0; i < rec.headers.length; i += 2) {
    if (!NOT_STORED_HEADERS.has(rec.headers[i]!.toLowerCase())) headers.push(rec.headers[i]!, rec.headers[i + 1]!)
  }
  const ttl = Math.max(1000, Math.round(plan.ttlMs * (1 + plan.ttlJitter * (2 * random - 1))))
  const usage = read.events ? streamUsage(read.events) : usageFromBody(read.json)
  return {
    ok: true,
    entry: {
      meta: {
        key: plan.key,
        route: plan.route,
        createdAt: now,
        freshUntil: now + ttl,
        staleUntil: now + ttl + plan.staleMs,
        tags: plan.tags,
        contentType,
        bytes: body.byteLength,
        ...(usage ? { usage } : {}),
        ...(plan.model !== undefined ? { model: plan.model } : {}),
      },
      status: rec.status,
      headers,
      body,
      ...(events ? { events } : {}),
    },
  }
}

/** Where each event ends, and when the chunk that completed it arrived. */
function eventTimes(rec: Recording): { ends: number[]; at: number[] } {
  const finder = createBoundaryFinder()
  const ends: number[] = []
  const at: number[] = []
  rec.chunks.forEach((chunk, i) => {
    for (const end of finder.push(chunk)) {
      ends.push(end)
      at.push(rec.at[i] ?? 0)
    }
  })
  for (const end of finder.end()) {
    ends.push(end)
    at.push(rec.at[rec.at.length - 1] ?? 0)
  }
  return { ends, at }
}

function streamUsage(events: readonly SseEvent[]): EntryUsage | undefined {
  const usage = new StreamUsage()
  for (const ev of events) usage.push(ev)
  const r = usage.result()
  // Only what the upstream reported: an estimate would make the savings metrics guess.
  if (r.input === undefined && !r.reported) return undefined
  return { input: r.input ?? 0, output: r.output }
}
