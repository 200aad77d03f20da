import { generateKeyPairSync } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { DecisionEvent } from '../../src/core/audit/events.js'
import { runAuditCommand } from '../../src/io/audit/cli-commands.js'
import { FileSink } from '../../src/io/audit/file-sink.js'
import { GlobalPseudonymizer, type Pseudonymizer } from '../../src/io/audit/pseudonymizer.js'
import { listIndexes, fileName } from '../../src/io/audit/resume.js'
import { AuditWriter, type AuditWriterOptions } from '../../src/io/audit/writer.js'
import { readSigningKey } from '../../src/io/audit/keys.js'

export const KEY = Buffer.from('0123456789abcdef0123456789abcdef-test-pseudonym-key')

export interface KeyFiles {
  privateKey: string
  publicKey: string
}

/** A fresh Ed25519 key pair as PEM files in `dir`. */
export async function ed25519Files(dir: string, name = 'signing'): Promise<KeyFiles> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const files = { privateKey: path.join(dir, `${name}.key`), publicKey: path.join(dir, `${name}.pub`) }
  await fs.writeFile(files.privateKey, privateKey.export({ type: 'pkcs8', format: 'pem' }))
  await fs.writeFile(files.publicKey, publicKey.export({ type: 'spki', format: 'pem' }))
  return files
}

export function decision(i: number, extra: Partial<DecisionEvent> = {}): DecisionEvent {
  return {
    kind: 'decision',
    filter: 'moderation',
    action: i % 3 === 0 ? 'block' : 'redact',
    shadow: false,
    rule: `rule-${i % 4}`,
    route: 'chat',
    region: i % 2 === 0 ? 'eu' : 'us',
    subject: `user-${i % 7}`,
    policyVersion: 'v1',
    requestId: `req-${i}`,
    direction: 'response',
    ...extra,
  }
}

export interface WriterSetup {
  root: string
  writer: string
  /** Overrides of the writer options. */
  options?: Partial<AuditWriterOptions>
  maxFileBytes?: number
  pseudonymizer?: Pseudonymizer
  signingKey?: string
}

/** A writer on a file sink under `root`, with small defaults suited to tests. */
export async function startWriter(s: WriterSetup): Promise<AuditWriter> {
  const signer = s.signingKey ? await readSigningKey(s.signingKey) : undefined
  return AuditWriter.start({
    writer: s.writer,
    sink: new FileSink(s.root, s.writer, s.maxFileBytes ?? 64 * 1024 * 1024),
    pseudonymizer: s.pseudonymizer ?? new GlobalPseudonymizer(KEY),
    queueRecords: 10_000,
    batchRecords: 256,
    fsyncMs: 0,
    onFailure: 'block',
    checkpoints: { everyRecords: 1000, everyMs: 3_600_000, ...(signer && { signer }) },
    retry: { minMs: 10, maxMs: 50 },
    process: { pid: 1, version: 'test' },
    ...s.options,
  })
}

/** The writer's files, in index order. */
export async function logFiles(root: string, writer: string): Promise<string[]> {
  const dir = path.join(root, writer)
  return (await listIndexes(dir)).map((i) => path.join(dir, fileName(i)))
}

export interface Run {
  code: number
  out: string
  err: string
}

/** `chaperone audit …` in process: argv in, output and exit code out. */
export async function audit(argv: string[], now?: () => number): Promise<Run> {
  let out = ''
  let err = ''
  const code = await runAuditCommand(argv, {
    stdout: { write: (s: string) => ((out += s), true) },
    stderr: { write: (s: string) => ((err += s), true) },
    ...(now && { now }),
  })
  return { code, out, err }
}

/** Every line that parses as JSON (a torn tail does not), in file order. */
export async function readRecords(files: string[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = []
  for (const f of files) {
    for (const line of (await fs.readFile(f, 'utf8')).split('\n')) {
      try {
        if (line) out.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        // torn
      }
    }
  }
  return out
}
