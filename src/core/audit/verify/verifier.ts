/**
 * `audit verify` without the I/O: lines go in file by file (the caller streams them, in the order
 * sortLogFiles gives), each record to the chain of its writer; a report comes out. Lines that are
 * not valid records are held as a suspect region: followed by a valid record in the same file
 * they are an edit; running to the end of the file they are a torn tail, which a recovery record
 * of the writer must acknowledge (file name, offset and SHA-256 of the bytes).
 */
import { createHash, type Hash, type KeyObject } from 'node:crypto'
import { checkpointSignatureValid } from '../checkpoint.js'
import { checkLine } from '../line-check.js'
import type { TornRegion } from '../record.js'
import { tornKey, WriterChain } from './writer-chain.js'
import type { Finding, Position, VerifyReport, Warning } from './types.js'

export interface VerifyOptions {
  /** Public keys by key id (fingerprint); absent: checkpoint signatures are not checked. */
  readonly publicKeys?: ReadonlyMap<string, KeyObject>
  /** Warnings (an acknowledged torn tail, a restart…) fail the verification too. */
  readonly strict?: boolean
}

/** One line as read: its bytes without the newline, and whether a newline ended it. */
export interface LogLine {
  readonly bytes: Uint8Array
  /** 1-based. */
  readonly number: number
  /** Byte offset of the line's start in its file. */
  readonly offset: number
  readonly terminated: boolean
}

interface Suspect {
  readonly pos: Position
  readonly offset: number
  readonly reason: string
  /** The line parsed as a record (a wrong hash or a non-canonical form) and was newline-terminated. */
  readonly wholeRecord: boolean
  readonly writer: string | undefined
  readonly order: number
  readonly hash: Hash
  bytes: number
  unterminated: boolean
}

interface TornCandidate {
  readonly region: TornRegion
  readonly suspect: Suspect
  readonly dir: string
  readonly writer: string | undefined
}

const decoder = new TextDecoder('utf-8', { fatal: true })

export function splitPath(path: string): { dir: string; base: string } {
  const i = path.lastIndexOf('/')
  return i < 0 ? { dir: '.', base: path } : { dir: path.slice(0, i) || '/', base: path.slice(i + 1) }
}

const INDEX = /^audit-(\d+)\.jsonl$/

/**
 * Files of one writer in index order (`<dir>/<writer>/audit-NNNNNN.jsonl`), directories apart;
 * names that do not follow the layout keep their place after those that do, in the order given.
 */
export function sortLogFiles(paths: readonly string[]): string[] {
  const keyed = paths.map((p, i) => {
    const { dir, base } = splitPath(p)
    const m = INDEX.exec(base)
    return { p, dir, index: m ? Number(m[1]) : Number.POSITIVE_INFINITY, i }
  })
  keyed.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : a.index - b.index || a.i - b.i))
  return keyed.map((k) => k.p)
}

export class AuditVerifier {
  readonly #chains = new Map<string, WriterChain>()
  readonly #dirWriters = new Map<string, string>()
  readonly #torn: TornCandidate[] = []
  readonly #externalProblems: Finding[] = []
  readonly #pendingExternal: { writer: string; size: number; head: string; pos: Position }[] = []
  #order = 0
  #file: { path: string; dir: string; base: string; writer: string | undefined; suspect: Suspect | undefined } | undefined

  constructor(private readonly options: VerifyOptions = {}) {}

  /** One line of a checkpoint copy (--checkpoints): a checkpoint record as the writer wrote it. */
  externalCheckpoint(text: string, pos: Position): void {
    if (text.trim() === '') return
    const checked = checkLine(text)
    const writer = checked.record?.writer ?? '(checkpoints)'
    const fail = (message: string): void => void this.#externalProblems.push({ writer, classification: 'forked', message: `checkpoint copy: ${message}`, ...pos })
    if (!checked.ok) return fail(checked.reason)
    const r = checked.record
    if (r.kind !== 'checkpoint' || typeof r.size !== 'number' || typeof r.head !== 'string') return fail('not a checkpoint record')
    const keys = this.options.publicKeys
    if (keys) {
      const key = typeof r.keyId === 'string' ? keys.get(r.keyId) : undefined
      if (typeof r.signature !== 'string') return fail('unsigned, but a public key was given')
      if (!key) return fail(`signed by key ${String(r.keyId)}, which is none of the public keys given`)
      if (!checkpointSignatureValid(key, { writer: r.writer, size: r.size, head: r.head, ts: r.ts }, r.signature)) return fail('signature does not verify')
    }
    this.#pendingExternal.push({ writer: r.writer, size: r.size, head: r.head, pos })
  }

  beginFile(path: string): void {
    this.#endFile()
    const { dir, base } = splitPath(path)
    this.#file = { path, dir, base, writer: undefined, suspect: undefined }
    // Checkpoint copies are attached once, before the first record is read.
    if (this.#pendingExternal.length > 0) {
      for (const e of this.#pendingExternal.splice(0)) this.#chain(e.writer).addExternal({ size: e.size, head: e.head, pos: e.pos, matched: false })
    }
  }

  line(l: LogLine): void {
    const f = this.#file
    if (!f) throw new Error('AuditVerifier.line before beginFile')
    const order = ++this.#order
    const pos: Position = { file: f.path, line: l.number }
    let text: string | undefined
    try {
      text = decoder.decode(l.bytes)
    } catch {
      text = undefined
    }
    const checked = text === undefined ? ({ ok: false, reason: 'not valid UTF-8' } as const) : checkLine(text)
    if (checked.ok) {
      const rec = checked.record
      if (f.suspect) {
        const s = f.suspect
        this.#chain(s.writer ?? rec.writer).problem('edited', s.pos, `${s.reason}; valid records follow it`, s.order)
        f.suspect = undefined
      }
      if (f.writer === undefined) {
        f.writer = rec.writer
        if (!this.#dirWriters.has(f.dir)) this.#dirWriters.set(f.dir, rec.writer)
      } else if (rec.writer !== f.writer) {
        this.#chain(f.writer).problem('inserted', { ...pos, seq: rec.seq }, `a record of writer ${rec.writer} in a file of writer ${f.writer}`, order)
        return
      }
      this.#chain(rec.writer).accept(rec, pos, order)
      return
    }
    if (!f.suspect) {
      const r = 'record' in checked ? checked.record : undefined
      f.suspect = {
        pos: r ? { ...pos, seq: r.seq } : pos,
        offset: l.offset,
        reason: checked.reason,
        wholeRecord: r !== undefined && l.terminated,
        writer: r && (f.writer === undefined || r.writer === f.writer) ? r.writer : f.writer,
        order,
        hash: createHash('sha256'),
        bytes: 0,
        unterminated: false,
      }
    }
    const s = f.suspect
    s.hash.update(l.bytes)
    s.bytes += l.bytes.byteLength
    if (l.terminated) {
      s.hash.update('\n')
      s.bytes++
    }
    s.unterminated = !l.terminated
  }

  finish(): VerifyReport {
    this.#endFile()
    for (const e of this.#pendingExternal.splice(0)) this.#chain(e.writer).addExternal({ size: e.size, head: e.head, pos: e.pos, matched: false })
    for (const c of this.#chains.values()) c.finish()
    for (const t of this.#torn) {
      const writer = t.writer ?? this.#dirWriters.get(t.dir) ?? splitPath(t.dir).base
      const chain = this.#chain(writer)
      const ack = chain.acks.get(tornKey(t.region))
      const where = `${t.region.bytes} bytes at offset ${t.region.offset} of ${t.region.file}`
      if (ack) chain.warn('torn', t.suspect.pos, `torn tail (${where}), acknowledged by the recovery record at ${ack.file}:${ack.line}`)
      else if (t.suspect.wholeRecord && !t.suspect.unterminated) chain.problem('edited', t.suspect.pos, `${t.suspect.reason} (last line of the file)`, t.suspect.order)
      else chain.problem('torn', t.suspect.pos, `incomplete last line (${where}: ${t.suspect.reason}) that no recovery record acknowledges`, t.suspect.order)
    }
    for (const c of this.#chains.values()) {
      // Checkpoints of a writer whose files were not given, or were deleted entirely.
      if (c.records === 0 && c.external.length > 0) {
        const cp = c.external.reduce((a, b) => (b.size > a.size ? b : a))
        c.problem('truncated', cp.pos, `no record of writer ${c.writer} in the files given, but the checkpoint copy covers seq ${cp.size}`, 0)
      }
    }
    const final = [...this.#chains.values()].sort((a, b) => (a.writer < b.writer ? -1 : a.writer > b.writer ? 1 : 0)).map((c) => c.report())
    const problems: Finding[] = [...final.flatMap((w) => (w.problem ? [w.problem] : [])), ...this.#externalProblems]
    const warnings: Warning[] = final.flatMap((w) => w.warnings)
    return {
      ok: problems.length === 0 && (!this.options.strict || warnings.length === 0),
      strict: this.options.strict === true,
      signaturesChecked: this.options.publicKeys !== undefined,
      writers: final,
      problems,
      warnings,
    }
  }

  #endFile(): void {
    const f = this.#file
    if (!f) return
    this.#file = undefined
    const s = f.suspect
    if (!s) return
    const region: TornRegion = { file: f.base, offset: s.offset, bytes: s.bytes, sha256: s.hash.digest('hex') }
    this.#torn.push({ region, suspect: s, dir: f.dir, writer: s.writer ?? f.writer })
  }

  #chain(writer: string): WriterChain {
    let c = this.#chains.get(writer)
    if (!c) this.#chains.set(writer, (c = new WriterChain(writer, this.options.publicKeys)))
    return c
  }
}
