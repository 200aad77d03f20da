import { generateKeyPairSync } from 'node:crypto'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import t, { type Test } from 'tap'
import { checkpointPayload, checkpointSignatureValid, keyFingerprint, signCheckpoint } from '../../src/core/audit/checkpoint.js'
import { sealRecord } from '../../src/core/audit/serialize.js'
import { FileCheckpointCopy } from '../../src/io/audit/checkpoint-copy.js'
import { readPublicKeys, readSigningKey } from '../../src/io/audit/keys.js'
import { GlobalPseudonymizer } from '../../src/io/audit/pseudonymizer.js'
import { StreamSink } from '../../src/io/audit/stream-sink.js'
import { AuditWriter } from '../../src/io/audit/writer.js'
import { audit, decision, ed25519Files, KEY, logFiles, startWriter, type KeyFiles } from '../helpers/audit.js'
import { tmpDir } from '../helpers/tmp-dir.js'

interface Log {
  dir: string
  file: string
  copy: string
  keys: KeyFiles
  lines: string[]
}

/** start, 40 decisions, a signed checkpoint every 10 records, copies in a separate file. */
async function signedLog(t: Test): Promise<Log> {
  const dir = await tmpDir(t)
  const keys = await ed25519Files(dir)
  const copy = path.join(dir, 'elsewhere', 'checkpoints.jsonl')
  const w = await startWriter({
    root: dir,
    writer: 'pod-a',
    signingKey: keys.privateKey,
    options: { checkpoints: { everyRecords: 10, everyMs: 3_600_000, signer: await readSigningKey(keys.privateKey), copy: new FileCheckpointCopy(copy) } },
  })
  for (let i = 0; i < 40; i++) w.emit(decision(i))
  t.ok(await w.close(5000))
  const [file] = await logFiles(dir, 'pod-a')
  return { dir, file: file!, copy, keys, lines: (await fs.readFile(file!, 'utf8')).split('\n').slice(0, -1) }
}

/**
 * Rewrites the chain from `fromSeq` on as a forger without the signing key would: the record is
 * changed, every later hash and link recomputed, checkpoints' heads updated and `sign` applied.
 */
function fork(lines: string[], fromSeq: number, sign: (cp: Record<string, unknown>) => Record<string, unknown>): string[] {
  let prev: string | undefined
  return lines.map((line) => {
    const r = JSON.parse(line) as Record<string, unknown>
    if ((r.seq as number) < fromSeq) {
      prev = r.hash as string
      return line
    }
    const { hash: _h, ...fields } = r
    if (r.seq === fromSeq) fields.action = 'allow'
    fields.prev = prev
    if (r.kind === 'checkpoint') {
      fields.head = prev
      Object.assign(fields, sign(fields))
    }
    const sealed = sealRecord(fields)
    prev = sealed.hash
    return sealed.line
  })
}

t.test('checkpoints are signed, verify with the public key, and are copied to the second sink', async (t) => {
  const log = await signedLog(t)
  const cps = log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.kind === 'checkpoint')
  t.ok(cps.length >= 5, `${cps.length} checkpoints`)
  const pub = (await readPublicKeys([log.keys.publicKey])).values().next().value!
  for (const cp of cps) {
    t.equal(cp.size, (cp.seq as number) - 1)
    t.equal(cp.keyId, keyFingerprint(pub))
    t.ok(checkpointSignatureValid(pub, cp as never, cp.signature as string))
  }
  t.same((await fs.readFile(log.copy, 'utf8')).trim().split('\n'), log.lines.filter((l) => l.includes('"kind":"checkpoint"')), 'the copy holds the same lines')
  const r = await audit(['verify', log.file, '--public-key', log.keys.publicKey, '--checkpoints', log.copy])
  t.equal(r.code, 0, r.out)
  t.match(r.out, new RegExp(`${cps.length} checkpoints in the log, ${cps.length} signatures verified, ${cps.length} of ${cps.length} checkpoint copies matched`))
})

t.test('a wrong public key fails every checkpoint', async (t) => {
  const log = await signedLog(t)
  const other = await ed25519Files(log.dir, 'other')
  const r = await audit(['verify', '--json', log.file, '--public-key', other.publicKey])
  t.equal(r.code, 1)
  t.match(JSON.parse(r.out).problems, [{ classification: 'forked', seq: 11, line: 11, message: /none of the public keys given/ }])
  // Key rotation: the old key among several still verifies.
  t.equal((await audit(['verify', log.file, '--public-key', other.publicKey, '--public-key', log.keys.publicKey])).code, 0)
})

t.test('a forked chain (rewritten from seq 15 with valid hashes, no private key) is caught', async (t) => {
  const log = await signedLog(t)
  const forger = generateKeyPairSync('ed25519')
  const forgerId = keyFingerprint(forger.publicKey)
  const variants: [string, (cp: Record<string, unknown>) => Record<string, unknown>, RegExp][] = [
    ['old signatures kept', (cp) => cp, /signature does not verify/],
    ['signed with the forger key', (cp) => ({ keyId: forgerId, signature: signCheckpoint(forger.privateKey, cp as never) }), /none of the public keys/],
    ['signature and key id replaced', (cp) => ({ keyId: cp.keyId, signature: signCheckpoint(forger.privateKey, cp as never) }), /signature does not verify/],
    ['signatures removed', (cp) => ({ ...cp, signature: undefined, keyId: undefined }), /unsigned/],
  ]
  for (const [name, sign, message] of variants) {
    const forked = fork(log.lines, 15, sign)
    await fs.writeFile(log.file, forked.join('\n') + '\n')
    // The forged chain is internally consistent: only keys and copies can tell.
    t.equal((await audit(['verify', log.file])).code, 0, `${name}: hashes and links alone pass`)
    const bySignature = await audit(['verify', '--json', log.file, '--public-key', log.keys.publicKey])
    t.equal(bySignature.code, 1, name)
    t.match(JSON.parse(bySignature.out).problems, [{ classification: 'forked', seq: 22, line: 22, message }], `${name}: the first checkpoint after the fork fails`)
    const byCopy = await audit(['verify', '--json', log.file, '--checkpoints', log.copy])
    t.equal(byCopy.code, 1, name)
    t.match(JSON.parse(byCopy.out).problems, [{ classification: 'forked', seq: 21, line: 21, message: /differs from the checkpoint at .*checkpoints.jsonl:2/ }], `${name}: the copy of a checkpoint disagrees`)
  }
})

t.test('a tampered checkpoint copy is itself reported', async (t) => {
  const log = await signedLog(t)
  const copies = (await fs.readFile(log.copy, 'utf8')).trim().split('\n')
  copies[1] = copies[1]!.replace(/"size":\d+/, '"size":999')
  await fs.writeFile(log.copy, copies.join('\n') + '\n')
  const r = await audit(['verify', '--json', log.file, '--checkpoints', log.copy])
  t.equal(r.code, 1)
  t.match(JSON.parse(r.out).problems, [{ classification: 'forked', file: log.copy, line: 2, message: /checkpoint copy: hash does not match/ }])
})

t.test('the stdout sink: one chain per process from seq 1, signed checkpoints, restarts are warnings', async (t) => {
  const dir = await tmpDir(t)
  const keys = await ed25519Files(dir)
  const signer = await readSigningKey(keys.privateKey)
  const file = path.join(dir, 'collected.jsonl')
  let collected = ''
  for (let run = 0; run < 2; run++) {
    const stream = new PassThrough()
    stream.on('data', (d: Buffer) => (collected += d.toString()))
    const w = await AuditWriter.start({
      writer: 'pod-a',
      sink: new StreamSink(stream),
      pseudonymizer: new GlobalPseudonymizer(KEY),
      queueRecords: 1000,
      batchRecords: 64,
      fsyncMs: 0,
      onFailure: 'block',
      checkpoints: { everyRecords: 5, everyMs: 3_600_000, signer },
      retry: { minMs: 10, maxMs: 50 },
      process: { pid: 1, version: 'test' },
    })
    for (let i = 0; i < 12; i++) w.emit(decision(i))
    t.ok(await w.close(5000))
  }
  await fs.writeFile(file, collected)
  const records = collected.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  const starts = records.filter((r) => r.kind === 'start')
  t.same(
    starts.map((r) => [r.seq, r.prev, r.resumedFrom, r.sink]),
    [
      [1, '0'.repeat(64), null, 'stdout'],
      [1, '0'.repeat(64), null, 'stdout'],
    ],
  )
  const r = await audit(['verify', '--json', file, '--public-key', keys.publicKey])
  t.equal(r.code, 0, r.out)
  const report = JSON.parse(r.out)
  t.match(report.warnings, [{ kind: 'restart' }])
  t.ok(report.writers[0].checkpoints.verified >= 6)
  t.equal((await audit(['verify', '--strict', file, '--public-key', keys.publicKey])).code, 1, '--strict fails on the restart')
})

t.test('the signed payload is the canonical JSON of writer, size, head and ts', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const claim = { writer: 'w', size: 3, head: 'ab'.repeat(32), ts: '2025-01-01T00:00:00.000Z' }
  t.equal(checkpointPayload(claim), `{"head":"${'ab'.repeat(32)}","size":3,"ts":"2025-01-01T00:00:00.000Z","writer":"w"}`)
  const sig = signCheckpoint(privateKey, claim)
  t.ok(checkpointSignatureValid(publicKey, claim, sig))
  t.notOk(checkpointSignatureValid(publicKey, { ...claim, size: 4 }, sig))
  t.notOk(checkpointSignatureValid(publicKey, claim, 'not base64 at all'))
})
