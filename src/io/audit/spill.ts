/**
 * The spill file of onFailure: buffer. While the sink is down, prepared items (pseudonymized,
 * hashed: no clear PII) are appended here as JSON lines; once the sink is back they are read
 * back in order and chained, and the file is emptied when all were replayed. It survives a
 * restart: a new process replays what the last one left. Bounded by maxBytes; the writer counts
 * what does not fit as lost.
 */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { PreparedItem } from '../../core/audit/events.js'

const NL = 0x0a
const READ_BYTES = 1024 * 1024

export class SpillFile {
  #fh: fs.FileHandle | undefined
  #size = 0
  #readOffset = 0
  #records = 0
  #dirty = false

  constructor(
    readonly path: string,
    readonly maxBytes: number,
  ) {}

  /** Records waiting to be replayed. */
  get records(): number {
    return this.#records
  }

  get bytes(): number {
    return this.#size
  }

  get empty(): boolean {
    return this.#records === 0
  }

  /**
   * Opens, counting what a previous process left. An incomplete last line (a crash mid-append)
   * is cut off: it is this file's own scratch data, and the caller counts it as lost.
   */
  async open(): Promise<{ records: number; tornRecords: number }> {
    await fs.mkdir(path.dirname(this.path), { recursive: true })
    this.#fh = await fs.open(this.path, 'a+')
    const size = (await this.#fh.stat()).size
    let records = 0
    let lastNl = -1
    const buf = Buffer.alloc(Math.min(READ_BYTES, Math.max(size, 1)))
    for (let pos = 0; pos < size; ) {
      const { bytesRead } = await this.#fh.read(buf, 0, Math.min(buf.length, size - pos), pos)
      if (bytesRead === 0) break
      for (let i = buf.indexOf(NL); i >= 0 && i < bytesRead; i = buf.indexOf(NL, i + 1)) {
        records++
        lastNl = pos + i
      }
      pos += bytesRead
    }
    const tornRecords = lastNl + 1 < size ? 1 : 0
    if (tornRecords) await this.#fh.truncate(lastNl + 1)
    this.#size = lastNl + 1
    this.#records = records
    return { records, tornRecords }
  }

  /** Appends as many items as fit, in order; returns how many. Throws when the file fails. */
  async append(items: readonly PreparedItem[]): Promise<number> {
    const fh = this.#handle()
    const lines: string[] = []
    let bytes = 0
    for (const item of items) {
      const line = JSON.stringify(item) + '\n'
      const n = Buffer.byteLength(line)
      if (this.#size + bytes + n > this.maxBytes) break
      lines.push(line)
      bytes += n
    }
    if (lines.length === 0) return 0
    const data = Buffer.from(lines.join(''))
    const before = this.#size
    try {
      for (let off = 0; off < data.length; ) off += (await fh.write(data, off, data.length - off)).bytesWritten
    } catch (err) {
      // A part of a line would be read back as garbage: cut back to the last whole append.
      await fh.truncate(before).catch(() => undefined)
      throw err
    }
    this.#size += data.length
    this.#records += lines.length
    this.#dirty = true
    return lines.length
  }

  /** Up to `max` items from the read position, with each one's end relative to it. */
  async peek(max: number): Promise<{ items: PreparedItem[]; ends: number[] }> {
    const fh = this.#handle()
    const want = Math.min(this.#size - this.#readOffset, READ_BYTES)
    const buf = Buffer.alloc(want)
    let got = 0
    while (got < want) {
      const { bytesRead } = await fh.read(buf, got, want - got, this.#readOffset + got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    const items: PreparedItem[] = []
    const ends: number[] = []
    let from = 0
    for (let nl = buf.indexOf(NL); nl >= 0 && nl < got && items.length < max; nl = buf.indexOf(NL, from)) {
      items.push(JSON.parse(buf.toString('utf8', from, nl)) as PreparedItem)
      ends.push(nl + 1)
      from = nl + 1
    }
    return { items, ends }
  }

  /** Marks `records` items (`bytes` bytes) as replayed; empties the file once all are. */
  async advance(bytes: number, records: number): Promise<void> {
    this.#readOffset += bytes
    this.#records -= records
    if (this.#records === 0 || this.#readOffset >= this.#size) {
      await this.#handle().truncate(0)
      this.#size = 0
      this.#readOffset = 0
      this.#records = 0
    }
  }

  async sync(): Promise<void> {
    if (!this.#dirty || !this.#fh) return
    this.#dirty = false
    await this.#fh.datasync()
  }

  async close(): Promise<void> {
    const fh = this.#fh
    this.#fh = undefined
    if (!fh) return
    await fh.datasync().catch(() => undefined)
    await fh.close().catch(() => undefined)
  }

  #handle(): fs.FileHandle {
    if (!this.#fh) throw new Error('spill file is not open')
    return this.#fh
  }
}
