import t from 'tap'
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { ConfigReadError, contentFingerprint, fingerprintConfigDir, readConfigDir } from '../../../src/io/config/read-dir.js'
import { createKubeletVolume } from '../../helpers/kubelet.js'
import { tmpDir } from '../../helpers/tmp-dir.js'


t.test('reads a kubelet volume through its symlinks, skipping kubelet entries', async (t) => {
  const dir = await tmpDir(t)
  await createKubeletVolume(dir, { 'chaperone.yaml': 'listen: 0.0.0.0:1\n', 'b.yml': 'b\n', 'a.yaml': 'a\n', 'notes.txt': 'x' })
  const r = await readConfigDir(dir)
  t.same(r.processFile, { name: 'chaperone.yaml', content: 'listen: 0.0.0.0:1\n' })
  t.same(r.policyFiles, [
    { name: 'a.yaml', content: 'a\n' },
    { name: 'b.yml', content: 'b\n' },
  ])
})

t.test('plain files, hidden files, directories and dangling links', async (t) => {
  const dir = await tmpDir(t)
  await fs.writeFile(path.join(dir, 'p.yaml'), 'p\n')
  await fs.writeFile(path.join(dir, '.hidden.yaml'), 'h\n')
  await fs.mkdir(path.join(dir, 'sub.yaml'))
  await fs.symlink('missing.yaml', path.join(dir, 'gone.yaml'))
  const r = await readConfigDir(dir)
  t.equal(r.processFile, undefined)
  t.same(r.policyFiles, [{ name: 'p.yaml', content: 'p\n' }])
})

t.test('limits and encoding errors name the file', async (t) => {
  const dir = await tmpDir(t)
  await fs.writeFile(path.join(dir, 'big.yaml'), 'x'.repeat(101))
  await fs.writeFile(path.join(dir, 'latin1.yaml'), Buffer.from([0x61, 0xe9, 0x0a]))
  await fs.writeFile(path.join(dir, 'ok.yaml'), 'fine\n')
  const err = await readConfigDir(dir, { maxFileBytes: 100, maxFiles: 10 }).catch((e: unknown) => e)
  t.ok(err instanceof ConfigReadError)
  t.same((err as ConfigReadError).errors, [
    { file: 'big.yaml', path: '(root)', message: '101 bytes, more than the limit of 100' },
    { file: 'latin1.yaml', path: '(root)', message: 'not valid UTF-8' },
  ])
  const tooMany = await readConfigDir(dir, { maxFileBytes: 1000, maxFiles: 2 }).catch((e: unknown) => e)
  t.match((tooMany as ConfigReadError).errors, [{ message: '3 YAML files, more than the limit of 2' }])
  await t.rejects(readConfigDir(path.join(dir, 'nope')), ConfigReadError)
})

t.test('fingerprints change with any file, chaperone.yaml included, and are stable for errors', async (t) => {
  const dir = await tmpDir(t)
  await fs.writeFile(path.join(dir, 'p.yaml'), 'p\n')
  const f1 = await fingerprintConfigDir(dir)
  t.equal(f1, contentFingerprint(await readConfigDir(dir)))
  await fs.writeFile(path.join(dir, 'chaperone.yaml'), 'listen: a:1\n')
  const f2 = await fingerprintConfigDir(dir)
  t.not(f2, f1)
  const missing = path.join(dir, 'nope')
  t.equal(await fingerprintConfigDir(missing), await fingerprintConfigDir(missing))
  t.match(await fingerprintConfigDir(missing), /^error:/)
})
