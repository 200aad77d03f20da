/**
 * The second sink of checkpoints: a copy kept where whoever can rewrite the log cannot (another
 * volume, another host's Redis). `audit verify --checkpoints FILE` checks the chain against it;
 * the Redis list is dumped with `redis-cli LRANGE '{prefix}:audit:checkpoints:<writer>' 0 -1`.
 */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { Redis } from 'ioredis'
import { taggedKey } from '../redis/keys.js'

export interface CheckpointCopy {
  /** One checkpoint record's line, exactly as written to the log. */
  write(line: string): Promise<void>
  close(): Promise<void>
}

export class FileCheckpointCopy implements CheckpointCopy {
  #fh: fs.FileHandle | undefined

  constructor(readonly path: string) {}

  async write(line: string): Promise<void> {
    if (!this.#fh) {
      await fs.mkdir(path.dirname(this.path), { recursive: true })
      this.#fh = await fs.open(this.path, 'a')
    }
    await this.#fh.write(line + '\n')
    await this.#fh.datasync()
  }

  async close(): Promise<void> {
    const fh = this.#fh
    this.#fh = undefined
    await fh?.close()
  }
}

export const checkpointListKey = (prefix: string, writer: string): string => taggedKey(prefix, 'audit', 'checkpoints', writer)

export class RedisCheckpointCopy implements CheckpointCopy {
  readonly key: string

  constructor(
    private readonly redis: Redis,
    prefix: string,
    writer: string,
    private readonly keep: number,
  ) {
    this.key = checkpointListKey(prefix, writer)
  }

  async write(line: string): Promise<void> {
    const results = await this.redis.multi().rpush(this.key, line).ltrim(this.key, -this.keep, -1).exec()
    const failed = results?.find(([err]) => err)
    if (!results || failed) throw failed?.[0] ?? new Error('checkpoint copy: transaction aborted')
  }

  async close(): Promise<void> {}
}
