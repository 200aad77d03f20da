import t from 'tap'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createKubeletVolume, updateKubeletVolume } from '../../helpers/kubelet.js'

const TS_DIR = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/

t.test('the helper lays out a volume exactly like kubelet', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'chaperone-kubelet-'))
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }))
  await createKubeletVolume(dir, { 'a.yaml': 'a: 1\n', 'b.yaml': 'b: 1\n' })
  const first = (await fs.readdir(dir)).sort()
  t.equal(first.length, 4)
  t.same(first.slice(1), ['..data', 'a.yaml', 'b.yaml'])
  t.match(first[0], TS_DIR)
  t.equal(await fs.readlink(path.join(dir, '..data')), first[0], '..data is a relative link to the timestamped dir')
  t.equal(await fs.readlink(path.join(dir, 'a.yaml')), path.join('..data', 'a.yaml'))
  t.equal(await fs.readFile(path.join(dir, 'a.yaml'), 'utf8'), 'a: 1\n')
  t.equal((await fs.stat(path.join(dir, first[0]!, 'a.yaml'))).mode & 0o777, 0o644)

  t.equal(await updateKubeletVolume(dir, { 'a.yaml': 'a: 1\n', 'b.yaml': 'b: 1\n' }), false, 'same payload: no write')
  t.same((await fs.readdir(dir)).sort(), first)

  t.equal(await updateKubeletVolume(dir, { 'a.yaml': 'a: 2\n', 'c.yaml': 'c: 1\n' }), true)
  const second = (await fs.readdir(dir)).sort()
  t.equal(second.length, 4)
  t.not(second[0], first[0], 'the old timestamped dir is gone')
  t.match(second[0], TS_DIR)
  t.same(second.slice(1), ['..data', 'a.yaml', 'c.yaml'], 'b.yaml dropped, c.yaml added, no ..data_tmp left')
  t.equal(await fs.readFile(path.join(dir, 'a.yaml'), 'utf8'), 'a: 2\n')
})
