/** Builds the audit writer that chaperone.yaml's `audit:` block describes. */
import os from 'node:os'
import path from 'node:path'
import type { Writable } from 'node:stream'
import type { Redis } from 'ioredis'
import type { AuditConfig } from '../../core/audit/config-schema.js'
import type { LogPort } from '../../core/chain/types.js'
import { FileCheckpointCopy, RedisCheckpointCopy, type CheckpointCopy } from './checkpoint-copy.js'
import { FileSink } from './file-sink.js'
import { readSecretKey, readSigningKey } from './keys.js'
import { GlobalPseudonymizer, PerSubjectPseudonymizer, type Pseudonymizer } from './pseudonymizer.js'
import { SpillFile } from './spill.js'
import { StreamSink } from './stream-sink.js'
import { AuditWriter, type AuditHooks } from './writer.js'

export interface AuditDeps {
  /** This writer's name (core/audit/writer-name.ts resolves it from config, POD_NAME, hostname). */
  readonly writer: string
  readonly pid: number
  /** Chaperone's version, for the start record. */
  readonly version: string
  /** Where the stdout sink writes (process.stdout). */
  readonly stdout: Writable
  /** Needed for per-subject pseudonyms and checkpoint copies to Redis. */
  readonly redis?: Redis
  readonly keyPrefix?: string
  readonly log?: Pick<LogPort, 'info' | 'warn' | 'error'>
  readonly hooks?: AuditHooks & { pseudonymFallback?(subjects: number, policy: 'global' | 'drop-subject'): void }
  /** Default directory of the spill file; os.tmpdir() when absent. */
  readonly tmpDir?: string
  readonly now?: () => number
}

/** Rejects with an AuditKeyError (a key file) or an Error saying what is missing. */
export async function createAuditWriter(config: AuditConfig, deps: AuditDeps): Promise<AuditWriter> {
  const p = config.pseudonyms
  if (p.keyFile === null) throw new Error('audit.pseudonyms.keyFile is required')
  const globalKey = await readSecretKey(p.keyFile)
  const prefix = deps.keyPrefix ?? 'chaperone'
  let pseudonymizer: Pseudonymizer
  if (p.mode === 'per-subject') {
    if (!deps.redis) throw new Error('audit.pseudonyms.mode per-subject needs Redis (redis.url)')
    pseudonymizer = new PerSubjectPseudonymizer({
      globalKey,
      redis: deps.redis,
      keyPrefix: prefix,
      onRedisError: p.onRedisError,
      cacheEntries: p.cacheEntries,
      cacheTtlMs: p.cacheTtlMs,
      timeoutMs: p.redisTimeoutMs,
      ...(deps.now && { now: deps.now }),
      ...(deps.hooks?.pseudonymFallback && { onFallback: deps.hooks.pseudonymFallback.bind(deps.hooks) }),
    })
  } else {
    pseudonymizer = new GlobalPseudonymizer(globalKey)
  }

  const cp = config.checkpoints
  const signer = cp.privateKeyFile === null ? undefined : await readSigningKey(cp.privateKeyFile)
  let copy: CheckpointCopy | undefined
  if (cp.copy.to === 'file') copy = new FileCheckpointCopy(cp.copy.file!)
  else if (cp.copy.to === 'redis') {
    if (!deps.redis) throw new Error('audit.checkpoints.copy.to redis needs Redis (redis.url)')
    copy = new RedisCheckpointCopy(deps.redis, prefix, deps.writer, cp.copy.keep)
  }

  const sink = config.sink === 'file' ? new FileSink(config.file.dir, deps.writer, config.file.maxFileBytes) : new StreamSink(deps.stdout)
  const spill =
    config.onFailure === 'buffer'
      ? new SpillFile(config.spill.path ?? path.join(deps.tmpDir ?? os.tmpdir(), 'chaperone-audit', `${deps.writer}.spill.jsonl`), config.spill.maxBytes)
      : undefined

  return AuditWriter.start({
    writer: deps.writer,
    sink,
    pseudonymizer,
    queueRecords: config.queueRecords,
    batchRecords: config.batchRecords,
    fsyncMs: config.sink === 'file' ? config.file.fsyncMs : 0,
    onFailure: config.onFailure,
    ...(spill && { spill }),
    checkpoints: { everyRecords: cp.everyRecords, everyMs: cp.everyMs, ...(signer && { signer }), ...(copy && { copy }) },
    retry: config.retry,
    process: { pid: deps.pid, version: deps.version },
    ...(deps.hooks && { hooks: deps.hooks }),
    ...(deps.log && { log: deps.log }),
    ...(deps.now && { now: deps.now }),
  })
}
