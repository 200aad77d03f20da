/**
 * The chain of one writer, checked record by record as the files stream past. A break is not
 * classified on the spot: what the next record links to tells a deletion (the next links to the
 * record after the gap) from a swap (the next is the missing one, and the out-of-place record
 * links to it) from an insertion (the next links to the record before the intruder).
 */
import type { KeyObject } from 'node:crypto'
import { checkpointSignatureValid } from '../checkpoint.js'
import { GENESIS, type ParsedRecord, type TornRegion } from '../record.js'
import type { Classification, Finding, Position, Warning, WarningKind, WriterReport } from './types.js'

interface Link {
  readonly seq: number
  readonly hash: string
  readonly prev: string
  readonly tsMs: number
  readonly pos: Position
  readonly order: number
}

/** A checkpoint from the second sink, matched against the chain as it streams past. */
export interface ExternalCheckpoint {
  readonly size: number
  readonly head: string
  readonly pos: Position
  matched: boolean
  mismatchAt?: Position
  mismatchOrder?: number
}

interface Candidate {
  readonly finding: Finding
  /** Stream position, so that problems found late (at the end) still sort by where they are. */
  readonly order: number
}

export const tornKey = (t: Pick<TornRegion, 'file' | 'offset' | 'sha256'>): string => `${t.file}\0${t.offset}\0${t.sha256}`

const at = (pos: Position, seq: number): Position => ({ file: pos.file, line: pos.line, seq })

export class WriterChain {
  records = 0
  firstSeq: number | undefined
  maxSeq = 0
  lastPos: Position | undefined
  lastOrder = 0
  readonly acks = new Map<string, Position>()
  readonly warnings: Warning[] = []
  readonly candidates: Candidate[] = []
  readonly external: ExternalCheckpoint[] = []
  readonly #externalBySize = new Map<number, ExternalCheckpoint[]>()
  readonly checkpoints = { inLog: 0, verified: 0 }
  #last: Link | undefined
  #pending: { rec: ParsedRecord; pos: Position; order: number } | undefined
  #stopped = false
  #clockWarned = false

  constructor(
    readonly writer: string,
    private readonly publicKeys: ReadonlyMap<string, KeyObject> | undefined,
  ) {}

  addExternal(cp: ExternalCheckpoint): void {
    this.external.push(cp)
    const list = this.#externalBySize.get(cp.size)
    if (list) list.push(cp)
    else this.#externalBySize.set(cp.size, [cp])
  }

  problem(classification: Classification, pos: Position, message: string, order: number): void {
    this.candidates.push({ finding: { writer: this.writer, classification, message, ...pos }, order })
    this.#stopped = true
  }

  warn(kind: WarningKind, pos: Position, message: string): void {
    this.warnings.push({ writer: this.writer, kind, message, ...pos })
  }

  /** A line that is a valid record of this writer (its own hash holds). */
  accept(rec: ParsedRecord, pos: Position, order: number): void {
    this.records++
    this.firstSeq ??= rec.seq
    this.maxSeq = Math.max(this.maxSeq, rec.seq)
    this.lastPos = pos
    this.lastOrder = order
    if (rec.kind === 'recovery') this.#collectAck(rec, pos)
    if (this.#stopped) return
    this.#matchExternal(rec, pos, order)
    if (this.#pending) return this.#resolve(this.#pending, rec)
    const last = this.#last
    if (!last) {
      if (rec.seq !== 1 || rec.prev !== GENESIS) this.warn('partial', pos, `the chain starts at seq ${rec.seq}: records before it were not given (rotated away?) and are not verified`)
      return this.#link(rec, pos, order, undefined)
    }
    if (rec.seq === last.seq + 1 && rec.prev === last.hash) return this.#link(rec, pos, order, last)
    if (rec.kind === 'start' && rec.seq === 1 && rec.prev === GENESIS) {
      this.warn('restart', pos, `a new chain starts at seq 1 after seq ${last.seq}: the writer restarted without resuming (stdout sink or lost state); records before it are not linked to it`)
      return this.#link(rec, pos, order, undefined)
    }
    if (rec.seq === last.seq && rec.prev === last.prev) {
      return this.problem('inserted', last.pos, `seq ${rec.seq} appears twice with the same predecessor, here and at ${pos.file}:${pos.line}: one of them was inserted`, last.order)
    }
    this.#pending = { rec, pos, order }
  }

  /** Called once every file was read. */
  finish(): void {
    if (this.#pending && !this.#stopped) this.#classifyAlone(this.#pending.rec, this.#pending.pos, this.#pending.order)
    for (const cp of this.external) {
      if (cp.matched) continue
      if (cp.mismatchAt) {
        this.problem('forked', cp.mismatchAt, `the chain differs from the checkpoint at ${cp.pos.file}:${cp.pos.line} (size ${cp.size}, head ${cp.head.slice(0, 16)}…): it was rewritten from this record or earlier`, cp.mismatchOrder ?? 0)
      } else if (cp.size > this.maxSeq) {
        const pos = this.lastPos ?? cp.pos
        this.problem('truncated', at(pos, this.maxSeq), `records after seq ${this.maxSeq} are missing: the checkpoint at ${cp.pos.file}:${cp.pos.line} covers seq ${cp.size}`, Number.MAX_SAFE_INTEGER)
      } else if (this.firstSeq !== undefined && cp.size < this.firstSeq) {
        this.warn('unverifiable', cp.pos, `checkpoint size ${cp.size} is older than the first record given (seq ${this.firstSeq})`)
      }
    }
  }

  report(): WriterReport {
    const first = this.candidates.reduce<Candidate | undefined>((a, c) => (a === undefined || c.order < a.order ? c : a), undefined)
    return {
      writer: this.writer,
      records: this.records,
      firstSeq: this.firstSeq ?? null,
      lastSeq: this.records > 0 ? this.maxSeq : null,
      checkpoints: { ...this.checkpoints, external: this.external.length, externalMatched: this.external.filter((c) => c.matched).length },
      problem: first?.finding ?? null,
      warnings: this.warnings,
    }
  }

  #link(rec: ParsedRecord, pos: Position, order: number, prev: Link | undefined): void {
    const tsMs = Date.parse(rec.ts)
    if (prev && tsMs < prev.tsMs && !this.#clockWarned) {
      this.#clockWarned = true
      this.warn('clock', at(pos, rec.seq), `ts ${rec.ts} is earlier than the previous record's (seq ${prev.seq}): a clock moved back`)
    }
    if (rec.kind === 'checkpoint' && !this.#checkpoint(rec, pos, order, prev)) return
    this.#last = { seq: rec.seq, hash: rec.hash, prev: rec.prev, tsMs, pos: at(pos, rec.seq), order }
  }

  #checkpoint(rec: ParsedRecord, pos: Position, order: number, prev: Link | undefined): boolean {
    this.checkpoints.inLog++
    const here = at(pos, rec.seq)
    if (typeof rec.size !== 'number' || typeof rec.head !== 'string' || rec.size !== rec.seq - 1 || (prev !== undefined && rec.head !== prev.hash)) {
      this.problem('edited', here, `checkpoint (size ${String(rec.size)}) does not match the chain before it`, order)
      return false
    }
    if (!this.publicKeys) return true
    const sig = rec.signature
    if (typeof sig !== 'string') {
      this.problem('forked', here, 'checkpoint is unsigned, but a public key was given', order)
      return false
    }
    const key = typeof rec.keyId === 'string' ? this.publicKeys.get(rec.keyId) : undefined
    if (!key) {
      this.problem('forked', here, `checkpoint is signed by key ${String(rec.keyId)}, which is none of the public keys given`, order)
      return false
    }
    if (!checkpointSignatureValid(key, { writer: rec.writer, size: rec.size, head: rec.head, ts: rec.ts }, sig)) {
      this.problem('forked', here, 'checkpoint signature does not verify: the chain was rewritten without the signing key', order)
      return false
    }
    this.checkpoints.verified++
    return true
  }

  #collectAck(rec: ParsedRecord, pos: Position): void {
    const t = rec.torn as Partial<TornRegion> | undefined
    if (t && typeof t.file === 'string' && typeof t.offset === 'number' && typeof t.sha256 === 'string') {
      this.acks.set(tornKey({ file: t.file, offset: t.offset, sha256: t.sha256 }), at(pos, rec.seq))
    }
  }

  #matchExternal(rec: ParsedRecord, pos: Position, order: number): void {
    const cps = this.#externalBySize.get(rec.seq)
    if (!cps) return
    for (const cp of cps) {
      if (cp.head === rec.hash) cp.matched = true
      else if (!cp.mismatchAt) {
        cp.mismatchAt = at(pos, rec.seq)
        cp.mismatchOrder = order
      }
    }
  }

  /** `p` broke the chain after the last good record; `n` is the record after `p`. */
  #resolve(p: { rec: ParsedRecord; pos: Position; order: number }, n: ParsedRecord): void {
    const last = this.#last!
    const pos = at(p.pos, p.rec.seq)
    if (n.seq === last.seq + 1 && n.prev === last.hash) {
      if (p.rec.prev === n.hash && p.rec.seq === n.seq + 1) {
        return this.problem('reordered', pos, `seq ${p.rec.seq} comes before seq ${n.seq}, which it follows in the chain`, p.order)
      }
      return this.problem('inserted', pos, `this record does not belong to the chain: the next one links to seq ${last.seq} (line ${last.pos.line} of ${last.pos.file})`, p.order)
    }
    if (n.seq === p.rec.seq + 1 && n.prev === p.rec.hash) {
      if (p.rec.seq > last.seq + 1) return this.problem('deleted', pos, deletedMessage(last.seq, p.rec.seq), p.order)
      if (p.rec.seq <= last.seq) return this.problem('reordered', pos, `seq goes back from ${last.seq} to ${p.rec.seq}`, p.order)
      // The chain goes on from p: the record before it was rewritten with a recomputed hash.
      return this.problem('edited', last.pos, `rewritten with a recomputed hash: seq ${p.rec.seq} (line ${p.pos.line}) and the records after it link to another hash`, last.order)
    }
    this.#classifyAlone(p.rec, p.pos, p.order)
  }

  #classifyAlone(rec: ParsedRecord, p: Position, order: number): void {
    const last = this.#last!
    const pos = at(p, rec.seq)
    if (rec.seq > last.seq + 1) return this.problem('deleted', pos, deletedMessage(last.seq, rec.seq), order)
    if (rec.seq <= last.seq) return this.problem('reordered', pos, `seq goes back from ${last.seq} to ${rec.seq}`, order)
    this.problem('edited', pos, `prev does not match the hash of seq ${last.seq} (line ${last.pos.line} of ${last.pos.file})`, order)
  }
}

function deletedMessage(lastSeq: number, seq: number): string {
  const missing = seq - lastSeq - 1
  return missing === 1 ? `seq ${lastSeq + 1} is missing before this record` : `seq ${lastSeq + 1} to ${seq - 1} (${missing} records) are missing before this record`
}
