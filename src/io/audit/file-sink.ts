/**
 * The file sink: `<dir>/<writer>/audit-NNNNNN.jsonl`, append-only, rotated to the next index
 * before a line would push a file past maxFileBytes. Opening resumes from disk (resume.ts); a
 * file with a torn tail is never appended to again, so a crash can only ever damage the bytes
 * it was writing. Short writes are continued; a failure reports how many bytes made it.
 */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { fileName, findResumePoint } from './resume.js'
import { asError, SinkWriteError, type RecordSink, type SinkOpened } from './sink.js'

/** Makes a new file's directory entry durable: without it a power loss may lose the whole file. */
async function syncDir(dir: string): Promise<void> {
  const dh = await fs.open(dir, 'r')
  try {
    await dh.sync()
  } catch {
    // Some filesystems refuse fsync on a directory; the data itself is still synced.
  } finally {
    await dh.close()
  }
}

export class FileSink implements RecordSink {
  readonly kind = 'file' as const
  readonly dir: string
  #fh: fs.FileHandle | undefined
  #index = 0
  #size = 0

  constructor(
    root: string,
    readonly writer: string,
    readonly maxFileBytes: number,
  ) {
    this.dir = path.join(root, writer)
  }

  /** Name of the file being appended to. */
  get currentFile(): string {
    return fileName(this.#index)
  }

  async open(): Promise<SinkOpened> {
    await this.#closeHandle()
    await fs.mkdir(this.dir, { recursive: true })
    const at = await findResumePoint(this.dir, this.writer, this.maxFileBytes)
    await this.#openFile(at.appendIndex)
    return { head: at.head, resumedFrom: at.resumedFrom, torn: at.torn }
  }

  async write(data: Buffer, lineEnds: readonly number[]): Promise<void> {
    if (!this.#fh) throw new SinkWriteError(new Error('audit file is not open'), 0)
    let done = 0
    let line = 0
    while (done < data.length) {
      let end = done
      // Whole lines that fit; an empty file takes at least one, however long.
      while (line < lineEnds.length && (this.#size + (lineEnds[line]! - done) <= this.maxFileBytes || (end === done && this.#size === 0))) end = lineEnds[line++]!
      if (end === done) {
        try {
          await this.#openFile(this.#index + 1)
        } catch (err) {
          throw new SinkWriteError(asError(err), done)
        }
        continue
      }
      await this.#writeAll(data.subarray(done, end), done)
      done = end
    }
  }

  async sync(): Promise<void> {
    await this.#fh?.datasync()
  }

  async close(): Promise<void> {
    await this.#closeHandle()
  }

  async #writeAll(chunk: Buffer, base: number): Promise<void> {
    let off = 0
    while (off < chunk.length) {
      try {
        const { bytesWritten } = await this.#fh!.write(chunk, off, chunk.length - off)
        off += bytesWritten
        this.#size += bytesWritten
      } catch (err) {
        throw new SinkWriteError(asError(err), base + off)
      }
    }
  }

  async #openFile(index: number): Promise<void> {
    const previous = this.#fh
    this.#fh = undefined
    if (previous) {
      // Rotation: the finished file is synced now, since later syncs only reach the new one.
      try {
        await previous.datasync()
      } finally {
        await previous.close()
      }
    }
    const file = path.join(this.dir, fileName(index))
    const fh = await fs.open(file, 'a')
    const size = (await fh.stat()).size
    if (size === 0) await syncDir(this.dir)
    this.#fh = fh
    this.#index = index
    this.#size = size
  }

  async #closeHandle(): Promise<void> {
    const fh = this.#fh
    this.#fh = undefined
    if (!fh) return
    try {
      await fh.datasync()
    } catch {
      // Closing after a failure: the writer already counted what was not synced.
    }
    await fh.close().catch(() => undefined)
  }
}
