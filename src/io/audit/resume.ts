/**
 * Where a writer's chain stands on disk: its files are listed, the last is read from the end in a
 * growing window until a valid record of the writer turns up (walking back to earlier files when
 * the last holds none), and whatever follows the last good record is reported as torn, with its
 * SHA-256, so that a recovery record can acknowledge it. Nothing is truncated or rewritten.
 */
import { createHash } from 'node:crypto'
import { createReadStream, promises as fs } from 'node:fs'
import path from 'node:path'
import { EMPTY_HEAD, type ChainHead } from '../../core/audit/chain.js'
import type { TornRegion } from '../../core/audit/record.js'
import { scanTail, type TailScan } from '../../core/audit/tail-scan.js'

export const FILE_PATTERN = /^audit-(\d{6,})\.jsonl$/
export const fileName = (index: number): string => `audit-${String(index).padStart(6, '0')}.jsonl`

export interface ResumePoint {
  readonly head: ChainHead
  readonly resumedFrom: { readonly file: string; readonly seq: number } | null
  readonly torn: TornRegion[]
  /** Index of the file to append to: the last one when its own tail is clean (or it is empty), else the next. */
  readonly appendIndex: number
}

const FIRST_WINDOW = 64 * 1024

/** Indexes of the writer's files, ascending. */
export async function listIndexes(dir: string): Promise<number[]> {
  const names = await fs.readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[]
    throw err
  })
  return names
    .map((n) => FILE_PATTERN.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b)
}

async function scanFile(file: string, writer: string): Promise<{ scan: TailScan; size: number }> {
  const fh = await fs.open(file, 'r')
  try {
    const size = (await fh.stat()).size
    for (let window = FIRST_WINDOW; ; window *= 4) {
      const start = Math.max(0, size - window)
      const buf = Buffer.alloc(size - start)
      let got = 0
      while (got < buf.length) {
        const { bytesRead } = await fh.read(buf, got, buf.length - got, start + got)
        if (bytesRead === 0) break
        got += bytesRead
      }
      const scan = scanTail(buf.subarray(0, got), start, writer)
      if (scan.last || scan.complete) return { scan, size }
    }
  } finally {
    await fh.close()
  }
}

async function tornRegion(file: string, offset: number, size: number): Promise<TornRegion> {
  const hash = createHash('sha256')
  if (size > offset) for await (const chunk of createReadStream(file, { start: offset, end: size - 1 })) hash.update(chunk as Buffer)
  return { file: path.basename(file), offset, bytes: size - offset, sha256: hash.digest('hex') }
}

export async function findResumePoint(dir: string, writer: string, maxFileBytes: number): Promise<ResumePoint> {
  const indexes = await listIndexes(dir)
  if (indexes.length === 0) return { head: EMPTY_HEAD, resumedFrom: null, torn: [], appendIndex: 1 }
  const lastIndex = indexes[indexes.length - 1]!
  const torn: TornRegion[] = []
  let appendable = true
  for (let i = indexes.length - 1; i >= 0; i--) {
    const file = path.join(dir, fileName(indexes[i]!))
    const { scan, size } = await scanFile(file, writer)
    if (scan.validEnd < size) torn.unshift(await tornRegion(file, scan.validEnd, size))
    if (i === indexes.length - 1) appendable = scan.validEnd === size && !scan.unterminated && size < maxFileBytes
    if (scan.last) {
      const r = scan.last
      const head = { seq: r.seq, hash: r.hash, tsMs: Date.parse(r.ts) }
      return { head, resumedFrom: { file: path.basename(file), seq: r.seq }, torn, appendIndex: appendable ? lastIndex : lastIndex + 1 }
    }
  }
  return { head: EMPTY_HEAD, resumedFrom: null, torn, appendIndex: appendable ? lastIndex : lastIndex + 1 }
}
