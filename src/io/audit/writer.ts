/**
 * The audit writer. emit() is all the request path pays: one push onto a bounded in-memory queue.
 * A background loop takes batches, pseudonymizes them (the raw subject and matched texts never
 * leave this process's memory), chains them, writes each batch with one write call, fsyncs on
 * the interval and adds checkpoints every N records or T seconds.
 *
 * Order of what is written: system records (start, recovery) first, then records a failed write
 * left behind, then the spill (buffer mode), then the queue. When the sink fails it is reopened
 * with a backoff: the file sink resumes from disk, so a write cut short becomes a torn tail that
 * the next records acknowledge, and the records it lost are chained again.
 *
 * onFailure block: while the sink is down or the queue is full, accepting() is false; records
 * keep queueing while there is room (they are written once the sink is back) and past that are
 * counted lost. buffer: while the sink is down the loop moves the queue into the spill file, and
 * replays it in order first once the sink is back; what does not fit is counted lost.
 */
import { Chain, type ChainHead } from '../../core/audit/chain.js'
import { signCheckpoint, type CheckpointSigner } from '../../core/audit/checkpoint.js'
import { prepareDecision, prepareReload, type AuditEvent, type PreparedItem, type SubjectPseudonym } from '../../core/audit/events.js'
import { BoundedQueue } from '../../core/audit/bounded-queue.js'
import type { LogPort } from '../../core/chain/types.js'
import type { CheckpointCopy } from './checkpoint-copy.js'
import type { Pseudonymizer } from './pseudonymizer.js'
import { asError, SinkWriteError, type RecordSink, type SinkOpened } from './sink.js'
import type { SpillFile } from './spill.js'

/**
 * queue_full: emitted while the queue was full; spill_full / spill_error: did not fit in, or could
 * not be written to, the spill file; spill_torn: a spill record a crash cut short; closed:
 * emitted after close(), or still queued when it gave up; unsynced: written but not yet synced
 * when an fsync failed (at risk, counted as lost); invalid: not an audit event.
 */
export type LossReason = 'queue_full' | 'spill_full' | 'spill_error' | 'spill_torn' | 'closed' | 'unsynced' | 'invalid'
export const LOSS_REASONS: readonly LossReason[] = ['queue_full', 'spill_full', 'spill_error', 'spill_torn', 'closed', 'unsynced', 'invalid']

/** Called as things happen, for counters and logs; stats() gives the gauges. */
export interface AuditHooks {
  /** Records the sink took (checkpoints and system records included). */
  written?(records: number): void
  lost?(reason: LossReason, records: number): void
  sinkError?(error: Error, phase: 'open' | 'write' | 'sync'): void
  sinkRecovered?(downForMs: number): void
  checkpoint?(size: number): void
  checkpointCopyError?(error: Error): void
}

export interface AuditStats {
  readonly writer: string
  readonly accepting: boolean
  readonly sinkUp: boolean
  readonly queued: number
  readonly queueCapacity: number
  /** Age of the oldest queued record, ms (0 when the queue is empty). */
  readonly lagMs: number
  readonly written: number
  readonly checkpoints: number
  readonly lost: Readonly<Record<LossReason, number>>
  readonly lostTotal: number
  readonly sinkErrors: number
  readonly spill: { readonly records: number; readonly bytes: number; readonly replayed: number } | null
  readonly checkpointCopyErrors: number
  readonly pseudonyms: { readonly fallbacks: number; readonly redisErrors: number }
  /** Seq of the last record chained. */
  readonly seq: number
}

export interface AuditWriterOptions {
  readonly writer: string
  readonly sink: RecordSink
  readonly pseudonymizer: Pseudonymizer
  readonly queueRecords: number
  readonly batchRecords: number
  readonly fsyncMs: number
  readonly onFailure: 'block' | 'buffer'
  /** Required with onFailure: buffer. */
  readonly spill?: SpillFile
  readonly checkpoints: { readonly everyRecords: number; readonly everyMs: number; readonly signer?: CheckpointSigner; readonly copy?: CheckpointCopy }
  readonly retry: { readonly minMs: number; readonly maxMs: number }
  /** What the start record says about this process. */
  readonly process: { readonly pid: number; readonly version: string }
  readonly hooks?: AuditHooks
  readonly log?: Pick<LogPort, 'info' | 'warn' | 'error'>
  readonly now?: () => number
}

interface Queued {
  readonly event: AuditEvent
  readonly atMs: number
}

type Source = 'system' | 'retained' | 'spill' | 'queue' | 'none'

export class AuditWriter {
  readonly writer: string
  readonly #o: AuditWriterOptions
  readonly #now: () => number
  readonly #queue: BoundedQueue<Queued>
  readonly #chain: Chain
  readonly #lost = Object.fromEntries(LOSS_REASONS.map((r) => [r, 0])) as Record<LossReason, number>
  /** Start and recovery records, written before anything else. */
  readonly #system: PreparedItem[] = []
  /** Block mode: records a failed write left, written before the queue. */
  readonly #retained: PreparedItem[] = []
  readonly #waiters = new Set<() => void>()
  #started = false
  #sinkUp = false
  #downSince = 0
  #retryAt = 0
  #backoffMs: number
  #pumping = false
  #scheduled = false
  #closed = false
  #closing: Promise<boolean> | undefined
  #stopped = false
  #retryTimer: NodeJS.Timeout | undefined
  #syncTimer: NodeJS.Timeout | undefined
  #checkpointTimer: NodeJS.Timeout | undefined
  #cpSeq = 0
  #cpDue = false
  #unsynced = 0
  #lastSyncAt = 0
  #written = 0
  #checkpoints = 0
  #sinkErrors = 0
  #copyErrors = 0
  #replayed = 0
  #spillFull = false
  #spillFailed = false

  private constructor(o: AuditWriterOptions) {
    if (o.onFailure === 'buffer' && !o.spill) throw new Error('onFailure buffer needs a spill file')
    this.#o = o
    this.writer = o.writer
    this.#now = o.now ?? Date.now
    this.#queue = new BoundedQueue(o.queueRecords)
    this.#chain = new Chain(o.writer)
    this.#backoffMs = o.retry.minMs
  }

  /** Opens the sink (resuming its chain) and the spill, and starts the loop. */
  static async start(o: AuditWriterOptions): Promise<AuditWriter> {
    const w = new AuditWriter(o)
    await w.#begin()
    return w
  }

  /** Queues an event; false when it was not queued (and counted lost). Never throws, never waits. */
  emit(event: AuditEvent): boolean {
    if (this.#closed) {
      this.#lose('closed', 1)
      return false
    }
    if (!this.#queue.push({ event, atMs: this.#now() })) {
      this.#lose('queue_full', 1)
      return false
    }
    this.#kick()
    return true
  }

  /** Whether records emitted now can be kept; false means audit-required routes must refuse. */
  accepting(): boolean {
    if (this.#closed || this.#queue.full) return false
    if (this.#sinkUp) return true
    return this.#o.onFailure === 'buffer' && !this.#spillFull && !this.#spillFailed
  }

  stats(): AuditStats {
    const oldest = this.#queue.peek()
    const spill = this.#o.spill
    const lostTotal = Object.values(this.#lost).reduce((a, b) => a + b, 0)
    return {
      writer: this.writer,
      accepting: this.accepting(),
      sinkUp: this.#sinkUp,
      queued: this.#queue.length,
      queueCapacity: this.#queue.capacity,
      lagMs: oldest ? Math.max(0, this.#now() - oldest.atMs) : 0,
      written: this.#written,
      checkpoints: this.#checkpoints,
      lost: { ...this.#lost },
      lostTotal,
      sinkErrors: this.#sinkErrors,
      spill: spill && this.#o.onFailure === 'buffer' ? { records: spill.records, bytes: spill.bytes, replayed: this.#replayed } : null,
      checkpointCopyErrors: this.#copyErrors,
      pseudonyms: this.#o.pseudonymizer.stats(),
      seq: this.#chain.head.seq,
    }
  }

  /** Unlinks a subject's past and future records (per-subject pseudonyms only). */
  forget(subject: string): Promise<boolean> {
    return this.#o.pseudonymizer.forget(subject)
  }

  /**
   * Writes everything queued and fsyncs. Resolves true when all of it is on disk (or in the
   * spill, buffer mode), false when timeoutMs passed first or a sync failed.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = this.#now() + timeoutMs
    this.#kick()
    while (this.#pending()) {
      const left = deadline - this.#now()
      if (left <= 0) return false
      await this.#waitProgress(left)
    }
    await this.#syncAll()
    return this.#unsynced === 0
  }

  /**
   * Stops accepting, drains (a final checkpoint included) within timeoutMs, and closes. What is
   * still queued then is counted lost (`closed`). Resolves true when nothing was lost; in buffer
   * mode, records still in the spill file (the sink never came back) are replayed by the next
   * process. Calling it again returns the same promise.
   */
  close(timeoutMs = 5000): Promise<boolean> {
    this.#closing ??= this.#close(timeoutMs)
    return this.#closing
  }

  async #close(timeoutMs: number): Promise<boolean> {
    this.#closed = true
    // A final checkpoint covers whatever the drain writes.
    this.#cpDue = true
    const deadline = this.#now() + timeoutMs
    let drained = await this.drain(timeoutMs)
    // Buffer mode: what went to the spill would wait for the next process; while time is left,
    // the sink is tried without waiting out the backoff, so that it gets into the log now.
    while (drained && !this.#sinkUp && this.#hasRecords() && this.#now() < deadline) {
      this.#retryAt = 0
      this.#kick()
      await this.#waitProgress(Math.min(this.#o.retry.minMs, deadline - this.#now()))
      drained = await this.drain(Math.max(0, deadline - this.#now()))
    }
    this.#stopped = true
    for (const t of [this.#retryTimer, this.#syncTimer, this.#checkpointTimer]) if (t) clearTimeout(t)
    while (this.#pumping) await this.#waitProgress(100)
    const left = this.#queue.length + this.#retained.length + this.#system.length
    this.#queue.take(this.#queue.length)
    this.#retained.length = 0
    this.#system.length = 0
    if (left > 0) this.#lose('closed', left)
    await this.#o.sink.close().catch(() => undefined)
    await this.#o.spill?.close()
    await this.#o.checkpoints.copy?.close().catch(() => undefined)
    return drained && left === 0
  }

  async #begin(): Promise<void> {
    const spill = this.#o.onFailure === 'buffer' ? this.#o.spill : undefined
    if (spill) {
      const left = await spill.open()
      if (left.tornRecords > 0) this.#lose('spill_torn', left.tornRecords)
      if (left.records > 0) this.#o.log?.warn({ writer: this.writer, records: left.records, spill: spill.path }, 'audit: replaying records a previous process left in the spill file')
    }
    await this.#reopen()
    this.#lastSyncAt = this.#now()
    const every = this.#o.checkpoints.everyMs
    this.#checkpointTimer = setInterval(() => {
      if (this.#chain.head.seq > this.#cpSeq) {
        this.#cpDue = true
        this.#kick()
      }
    }, every)
    this.#checkpointTimer.unref()
    this.#kick()
  }

  #lose(reason: LossReason, n: number): void {
    if (n <= 0) return
    this.#lost[reason] += n
    this.#o.hooks?.lost?.(reason, n)
  }

  #kick(): void {
    if (this.#scheduled || this.#pumping || this.#stopped) return
    this.#scheduled = true
    // setImmediate, not a microtask: the emits of this turn of the event loop join the batch.
    setImmediate(() => {
      this.#scheduled = false
      void this.#pump()
    })
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w()
  }

  #waitProgress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.#waiters.add(done)
    })
  }

  /** Work that drain() waits for. */
  #pending(): boolean {
    if (this.#pumping || this.#scheduled) return true
    if (this.#queue.length > 0 || this.#retained.length > 0 || this.#system.length > 0) return true
    if (!this.#sinkUp) return false
    return (this.#o.spill !== undefined && this.#o.onFailure === 'buffer' && !this.#o.spill.empty) || this.#checkpointWanted()
  }

  #checkpointWanted(): boolean {
    return this.#cpDue && this.#chain.head.seq > this.#cpSeq
  }

  async #pump(): Promise<void> {
    if (this.#pumping || this.#stopped) return
    this.#pumping = true
    try {
      while (!this.#stopped) {
        if (!this.#sinkUp) {
          if (this.#now() >= this.#retryAt) await this.#reopen()
          if (!this.#sinkUp) {
            if (this.#o.onFailure === 'buffer' && this.#queue.length > 0) {
              await this.#spillItems(await this.#prepare(this.#queue.take(this.#o.batchRecords)))
              this.#notify()
              continue
            }
            this.#armRetry()
            break
          }
        }
        const did = await this.#writeNext()
        // Under a steady load the loop never idles: the fsync interval is kept here too.
        if (this.#sinkUp) await this.#syncIfDue()
        this.#notify()
        if (!did) break
      }
    } catch (err) {
      // A bug, not an I/O failure (those are handled where they happen): keep the writer alive.
      this.#o.log?.error({ writer: this.writer, err: asError(err).message }, 'audit writer loop failed; retrying')
      this.#retryAt = this.#now() + this.#backoffMs
      this.#armRetry()
    } finally {
      this.#pumping = false
      this.#notify()
    }
    if (this.#sinkUp && this.#hasInput()) this.#kick()
  }

  #hasInput(): boolean {
    return this.#hasRecords() || this.#checkpointWanted()
  }

  #hasRecords(): boolean {
    return this.#queue.length > 0 || this.#retained.length > 0 || this.#system.length > 0 || (this.#o.onFailure === 'buffer' && !this.#o.spill!.empty)
  }

  /** Writes one batch from the first source that has records; false when there was none. */
  async #writeNext(): Promise<boolean> {
    const spill = this.#o.onFailure === 'buffer' ? this.#o.spill : undefined
    let source: Source
    let items: PreparedItem[]
    let spillEnds: number[] = []
    if (this.#system.length > 0) {
      source = 'system'
      items = this.#system.splice(0)
    } else if (this.#retained.length > 0) {
      source = 'retained'
      items = this.#retained.splice(0, this.#o.batchRecords)
    } else if (spill && !spill.empty) {
      // Newer records go behind the spill, so that the chain keeps emission order.
      if (this.#queue.length > 0) await this.#spillItems(await this.#prepare(this.#queue.take(this.#o.batchRecords)))
      source = 'spill'
      try {
        ;({ items, ends: spillEnds } = await spill.peek(this.#o.batchRecords))
        if (items.length === 0) throw new Error('spill record larger than a read')
      } catch (err) {
        this.#o.log?.error({ writer: this.writer, err: asError(err).message, spill: spill.path }, 'audit spill file unreadable; its records are lost')
        this.#lose('spill_error', spill.records)
        await spill.advance(spill.bytes, spill.records)
        return true
      }
    } else if (this.#queue.length > 0) {
      source = 'queue'
      items = await this.#prepare(this.#queue.take(this.#o.batchRecords))
    } else if (this.#checkpointWanted()) {
      source = 'none'
      items = []
    } else {
      return false
    }

    const done = await this.#writeItems(items)
    if (source === 'spill' && done > 0) {
      await spill!.advance(spillEnds[done - 1]!, done)
      this.#replayed += done
      if (spill!.empty) this.#spillFull = false
    }
    if (done < items.length) {
      const rest = items.slice(done)
      if (source === 'system') this.#system.unshift(...rest)
      else if (source === 'retained' || (source === 'queue' && this.#o.onFailure === 'block')) this.#retained.unshift(...rest)
      else if (source === 'queue') await this.#spillItems(rest)
    }
    return true
  }

  /** Chains `items` (adding checkpoints when due), writes them; returns how many items made it. */
  async #writeItems(items: readonly PreparedItem[]): Promise<number> {
    const now = this.#now()
    const chain = this.#chain
    const before = chain.head
    const lines: string[] = []
    const heads: ChainHead[] = []
    /** Per line: the item it holds; -1 for a checkpoint every N records, -2 for the one due (timer, close). */
    const itemOf: number[] = []
    const everyRecords = this.#o.checkpoints.everyRecords
    let cpBase = this.#cpSeq
    const addCheckpoint = (marker: -1 | -2) => {
      const head = chain.head
      const ts = new Date(chain.nextTsMs(now)).toISOString()
      const signer = this.#o.checkpoints.signer
      const claim = { writer: this.writer, size: head.seq, head: head.hash, ts }
      const fields = { size: head.seq, head: head.hash, ...(signer && { signature: signCheckpoint(signer.privateKey, claim), keyId: signer.keyId }) }
      lines.push(chain.append('checkpoint', fields, now).line)
      heads.push(chain.head)
      itemOf.push(marker)
      cpBase = chain.head.seq
    }
    items.forEach((item, i) => {
      lines.push(chain.append(item.kind, item.fields, now).line)
      heads.push(chain.head)
      itemOf.push(i)
      if (chain.head.seq - cpBase >= everyRecords) addCheckpoint(-1)
    })
    // Closing: the final checkpoint waits for the last batch, so that it covers everything.
    if (this.#cpDue && chain.head.seq > cpBase && !(this.#closed && this.#hasRecords())) addCheckpoint(-2)
    if (lines.length === 0) return 0

    const data = Buffer.from(lines.join('\n') + '\n')
    // Canonical JSON escapes every newline inside a record: each one in the buffer ends a line.
    const ends: number[] = []
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, nl + 1)) ends.push(nl + 1)
    let written = lines.length
    try {
      await this.#o.sink.write(data, ends)
    } catch (err) {
      const bytes = err instanceof SinkWriteError ? err.bytesWritten : 0
      written = 0
      while (written < ends.length && ends[written]! <= bytes) written++
      chain.reset(written > 0 ? heads[written - 1]! : before)
      this.#sinkDown(err instanceof SinkWriteError ? err.cause : asError(err), 'write')
    }
    await this.#account(lines, heads, itemOf, written)
    let done = 0
    for (let i = 0; i < written; i++) if (itemOf[i]! >= 0) done = itemOf[i]! + 1
    return done
  }

  async #account(lines: readonly string[], heads: readonly ChainHead[], itemOf: readonly number[], written: number): Promise<void> {
    if (written === 0) return
    this.#written += written
    this.#unsynced += written
    this.#o.hooks?.written?.(written)
    for (let i = 0; i < written; i++) {
      if (itemOf[i]! >= 0) continue
      this.#cpSeq = heads[i]!.seq
      if (itemOf[i] === -2) this.#cpDue = false
      this.#checkpoints++
      this.#o.hooks?.checkpoint?.(heads[i]!.seq - 1)
      const copy = this.#o.checkpoints.copy
      if (copy) {
        try {
          await copy.write(lines[i]!)
        } catch (err) {
          this.#copyErrors++
          this.#o.hooks?.checkpointCopyError?.(asError(err))
          this.#o.log?.warn({ writer: this.writer, err: asError(err).message }, 'audit checkpoint copy failed')
        }
      }
    }
    if (this.#o.fsyncMs === 0 && this.#sinkUp) await this.#syncAll()
  }

  async #prepare(entries: readonly Queued[]): Promise<PreparedItem[]> {
    const subjects = new Set<string>()
    for (const e of entries) if (e.event.kind === 'decision' && typeof e.event.subject === 'string') subjects.add(e.event.subject)
    const p = this.#o.pseudonymizer
    const who: ReadonlyMap<string, SubjectPseudonym> = subjects.size > 0 ? await p.resolve(subjects) : new Map()
    const out: PreparedItem[] = []
    for (const { event, atMs } of entries) {
      if (event.kind === 'decision') out.push(prepareDecision(event, atMs, typeof event.subject === 'string' ? who.get(event.subject)! : p.anonymous))
      else if (event.kind === 'reload') out.push(prepareReload(event, atMs))
      else this.#lose('invalid', 1)
    }
    return out
  }

  async #spillItems(items: readonly PreparedItem[]): Promise<void> {
    if (items.length === 0) return
    const spill = this.#o.spill!
    try {
      const kept = await spill.append(items)
      this.#spillFailed = false
      if (kept < items.length) {
        if (!this.#spillFull) this.#o.log?.error({ writer: this.writer, spill: spill.path, maxBytes: spill.maxBytes }, 'audit spill file full; records are being lost')
        this.#spillFull = true
        this.#lose('spill_full', items.length - kept)
      }
    } catch (err) {
      if (!this.#spillFailed) this.#o.log?.error({ writer: this.writer, spill: spill.path, err: asError(err).message }, 'audit spill file failed; records are being lost')
      this.#spillFailed = true
      this.#lose('spill_error', items.length)
    }
  }

  async #reopen(): Promise<void> {
    let opened: SinkOpened
    try {
      opened = await this.#o.sink.open()
    } catch (err) {
      this.#sinkDown(asError(err), 'open')
      return
    }
    const ours = this.#chain.head
    if (opened.head) {
      if (this.#started && (opened.head.seq !== ours.seq || opened.head.hash !== ours.hash)) {
        this.#o.log?.warn({ writer: this.writer, disk: opened.head.seq, memory: ours.seq }, 'audit: the log on disk ends elsewhere than expected; continuing from disk')
      }
      this.#chain.reset({ ...opened.head, tsMs: Math.max(opened.head.tsMs, ours.tsMs) })
    }
    if (!this.#started) {
      this.#started = true
      this.#cpSeq = this.#chain.head.seq
      const { pid, version } = this.#o.process
      this.#system.push({ kind: 'start', fields: { pid, version, sink: this.#o.sink.kind, resumedFrom: opened.resumedFrom } })
    }
    // Recovery records of an earlier reopen that never reached the sink: this scan of the disk
    // says again what is unacknowledged, so they are replaced, not repeated.
    for (let i = this.#system.length - 1; i >= 0; i--) if (this.#system[i]!.kind === 'recovery') this.#system.splice(i, 1)
    for (const torn of opened.torn) {
      this.#o.log?.warn({ writer: this.writer, ...torn }, 'audit: torn tail left in place; a recovery record acknowledges it')
      this.#system.push({ kind: 'recovery', fields: { torn } })
    }
    if (!this.#sinkUp && this.#downSince > 0) {
      const downFor = this.#now() - this.#downSince
      this.#o.log?.info({ writer: this.writer, downForMs: downFor }, 'audit sink recovered')
      this.#o.hooks?.sinkRecovered?.(downFor)
    }
    this.#sinkUp = true
    this.#downSince = 0
    this.#backoffMs = this.#o.retry.minMs
  }

  #sinkDown(err: Error, phase: 'open' | 'write' | 'sync'): void {
    this.#sinkErrors++
    this.#o.hooks?.sinkError?.(err, phase)
    const now = this.#now()
    if (this.#sinkUp || this.#downSince === 0) {
      this.#downSince = now
      this.#o.log?.error({ writer: this.writer, phase, err: err.message, onFailure: this.#o.onFailure }, 'audit sink failed; retrying with backoff')
      this.#backoffMs = this.#o.retry.minMs
    } else {
      this.#backoffMs = Math.min(this.#o.retry.maxMs, this.#backoffMs * 2)
    }
    this.#sinkUp = false
    this.#retryAt = now + this.#backoffMs
  }

  #armRetry(): void {
    if (this.#retryTimer || this.#stopped) return
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimer = undefined
        this.#kick()
      },
      Math.max(0, this.#retryAt - this.#now()),
    )
    this.#retryTimer.unref()
  }

  async #syncIfDue(): Promise<void> {
    if (this.#unsynced === 0) return
    const due = this.#lastSyncAt + this.#o.fsyncMs
    if (this.#now() >= due) return this.#syncAll()
    if (this.#syncTimer || this.#stopped) return
    // The loop syncs when it finds nothing to write: syncs never overlap a reopen of the sink.
    this.#syncTimer = setTimeout(
      () => {
        this.#syncTimer = undefined
        this.#kick()
      },
      Math.max(0, due - this.#now()),
    )
    this.#syncTimer.unref()
  }

  async #syncAll(): Promise<void> {
    await this.#o.spill?.sync().catch((err: unknown) => this.#o.log?.warn({ writer: this.writer, err: asError(err).message }, 'audit spill fsync failed'))
    if (this.#unsynced === 0) return
    const n = this.#unsynced
    try {
      await this.#o.sink.sync()
      this.#unsynced -= n
      this.#lastSyncAt = this.#now()
    } catch (err) {
      this.#unsynced -= n
      this.#lose('unsynced', n)
      this.#sinkDown(asError(err), 'sync')
      this.#armRetry()
    }
  }
}
