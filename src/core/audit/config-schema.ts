/**
 * The `audit:` block of chaperone.yaml (read at start). Closed at every depth, every key
 * defaulted; auditConfigProblems adds the checks that need the rest of the file (Redis).
 */
import { z } from 'zod'
import { WRITER_NAME } from './writer-name.js'

const MiB = 1024 * 1024
const int = (min: number, max: number, def: number, description: string) => z.number().int().min(min).max(max).default(def).describe(description)
const path = z.string().min(1)

export const auditConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Write the audit log of decisions (authz deny, rate-limit refusal, moderation block/redact/flag, cache hit, reload).'),
    writer: z
      .string()
      .regex(WRITER_NAME, 'letters, digits, ".", "_" and "-", starting with a letter or digit')
      .nullable()
      .default(null)
      .describe('Name of this writer in every record, and its directory; null: $POD_NAME, else the host name. Unique per running process: two processes must never write one chain.'),
    sink: z.enum(['file', 'stdout']).default('file').describe('file: JSON lines under file.dir, resumed across restarts; stdout: one line per record for a log collector (a restart begins a new chain at seq 1).'),
    file: z
      .strictObject({
        dir: path.default('/var/lib/chaperone/audit').describe('Directory of the log; each writer writes <dir>/<writer>/audit-NNNNNN.jsonl.'),
        maxFileBytes: int(64 * 1024, 64 * 1024 * MiB, 64 * MiB, 'Size past which the next file is started.'),
        fsyncMs: int(0, 60_000, 1000, 'Longest time written records may stay unsynced (0: fsync after every batch).'),
      })
      .prefault({}),
    requiredRoutes: z
      .array(z.string().regex(/^\/[^\s]*$/, 'a path starting with "/"; a trailing "*" matches any rest'))
      .default([])
      .describe('Paths whose requests must be audited: while the log cannot keep records (onFailure: block), they are refused with 503 audit_unavailable. A trailing "*" matches any rest, e.g. /v1/*.'),
    queueRecords: int(16, 10_000_000, 10_000, 'Records waiting for the writer at most; past it the onFailure policy applies.'),
    batchRecords: int(1, 65_536, 1024, 'Most records written by one write call.'),
    onFailure: z
      .enum(['block', 'buffer'])
      .default('block')
      .describe('When the queue is full or the sink fails. block: report not accepting (audit-required routes are refused) and count records lost; buffer: keep records in the spill file and replay them in order once the sink recovers, counting those past spill.maxBytes as lost.'),
    spill: z
      .strictObject({
        path: path.nullable().default(null).describe('Spill file (onFailure: buffer), best on another volume than file.dir; null: <tmpdir>/chaperone-audit/<writer>.spill.jsonl.'),
        maxBytes: int(64 * 1024, 64 * 1024 * MiB, 64 * MiB, 'Bound of the spill file.'),
      })
      .prefault({}),
    retry: z
      .strictObject({
        minMs: int(10, 60_000, 100, 'First wait before a failed sink is tried again; doubles up to maxMs.'),
        maxMs: int(10, 600_000, 5000, 'Longest wait between two tries of a failed sink.'),
      })
      .prefault({}),
    pseudonyms: z
      .strictObject({
        mode: z
          .enum(['global', 'per-subject'])
          .default('global')
          .describe('global: HMAC of the subject with the key of keyFile; per-subject: each subject has its own random key in Redis, which forgetting deletes (crypto-shredding; needs redis.url).'),
        keyFile: path.nullable().default(null).describe('File (a mounted Secret) holding at least 32 bytes of secret; required when the audit log is enabled. A trailing newline is ignored.'),
        onRedisError: z
          .enum(['global', 'drop-subject'])
          .default('drop-subject')
          .describe('per-subject, when Redis cannot give the key: global writes the global pseudonym with pseudonym: global (never forgettable); drop-subject writes subject null with pseudonym: dropped.'),
        cacheEntries: int(0, 10_000_000, 10_000, 'Subject keys kept in memory (per-subject).'),
        cacheTtlMs: int(0, 3_600_000, 60_000, 'How long a subject key is kept in memory: after a forget on another replica, this one may use the deleted key this long.'),
        redisTimeoutMs: int(1, 10_000, 200, 'Longest the writer waits for Redis for one batch of subject keys.'),
      })
      .prefault({}),
    checkpoints: z
      .strictObject({
        everyRecords: int(1, 100_000_000, 1000, 'A checkpoint after this many records.'),
        everyMs: int(1000, 86_400_000, 60_000, 'A checkpoint at least this often while records are written.'),
        privateKeyFile: path.nullable().default(null).describe('Ed25519 private key (PKCS#8 PEM, a mounted Secret) that signs checkpoints; null: checkpoints are unsigned.'),
        copy: z
          .strictObject({
            to: z.enum(['none', 'file', 'redis']).default('none').describe('Second sink for checkpoints, out of reach of whoever can rewrite the log: a file elsewhere, or Redis (needs redis.url).'),
            file: path.nullable().default(null).describe('Checkpoint copy file (to: file), appended as JSON lines.'),
            keep: int(1, 10_000_000, 10_000, 'Checkpoints kept in Redis per writer (to: redis).'),
          })
          .prefault({}),
      })
      .prefault({}),
  })
  .superRefine((a, ctx) => {
    if (a.enabled && a.pseudonyms.keyFile === null) {
      ctx.addIssue({ code: 'custom', path: ['pseudonyms', 'keyFile'], message: 'required when the audit log is enabled: a file holding at least 32 bytes of secret' })
    }
    if (a.checkpoints.copy.to === 'file' && a.checkpoints.copy.file === null) ctx.addIssue({ code: 'custom', path: ['checkpoints', 'copy', 'file'], message: 'required when checkpoints.copy.to is file' })
    if (a.retry.maxMs < a.retry.minMs) ctx.addIssue({ code: 'custom', path: ['retry', 'maxMs'], message: 'must be at least retry.minMs' })
  })
  .prefault({})
  .describe('Tamper-evident audit log of decisions.')

export type AuditConfig = z.output<typeof auditConfigSchema>

/** Checks that need the rest of chaperone.yaml; paths are relative to `audit`. */
export function auditConfigProblems(a: AuditConfig, env: { readonly redisConfigured: boolean }): { path: (string | number)[]; message: string }[] {
  if (!a.enabled || env.redisConfigured) return []
  const out: { path: (string | number)[]; message: string }[] = []
  if (a.pseudonyms.mode === 'per-subject') out.push({ path: ['pseudonyms', 'mode'], message: 'per-subject keys are kept in Redis: set redis.url' })
  if (a.checkpoints.copy.to === 'redis') out.push({ path: ['checkpoints', 'copy', 'to'], message: 'redis needs redis.url' })
  return out
}
