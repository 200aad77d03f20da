import t from 'tap'
import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { detectSubPathMounts, findSubPathMounts } from '../../../src/io/config/subpath.js'

// A pod with the whole ConfigMap at /etc/chaperone and one key bind-mounted with subPath,
// including a directory whose name has a space (escaped as \040 by the kernel).
const MOUNTINFO = [
  '22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w',
  '23 22 0:22 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
  '612 22 0:54 / /etc/chaperone rw,relatime - tmpfs tmpfs rw,size=16384k',
  '613 22 253:1 /var/lib/kubelet/pods/x/volume-subpaths/cfg/app/0 /etc/chaperone-sub/policy.yaml ro,relatime - ext4 /dev/vda1 rw',
  '614 22 253:1 /var/lib/kubelet/pods/x/volume-subpaths/cfg/app/1 /etc/my\\040config/extra.yaml ro,relatime - ext4 /dev/vda1 rw',
  '',
].join('\n')

t.test('findSubPathMounts returns the files that are mount points', async (t) => {
  t.same(findSubPathMounts(MOUNTINFO, ['/etc/chaperone/policy.yaml', '/etc/chaperone/chaperone.yaml']), [], 'a whole-directory mount is fine')
  t.same(findSubPathMounts(MOUNTINFO, ['/etc/chaperone-sub/policy.yaml', '/etc/chaperone-sub/other.yaml']), ['/etc/chaperone-sub/policy.yaml'])
  t.same(findSubPathMounts(MOUNTINFO, ['/etc/my config/extra.yaml']), ['/etc/my config/extra.yaml'], 'octal escapes decoded')
  t.same(findSubPathMounts(MOUNTINFO, ['/etc/my\\040config/extra.yaml']), [], 'the escaped form is not a real path')
  t.same(findSubPathMounts('', ['/a']), [])
})

t.test('detectSubPathMounts maps back to file names and tolerates a missing mountinfo', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'chaperone-subpath-'))
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }))
  const real = await fs.realpath(dir)
  const fake = path.join(dir, 'mountinfo')
  await fs.writeFile(fake, `1 0 0:1 / ${real.replaceAll(' ', '\\040')}/p.yaml rw - tmpfs tmpfs rw\n`)
  t.same(await detectSubPathMounts(dir, ['p.yaml', 'q.yaml'], fake), ['p.yaml'])
  t.same(await detectSubPathMounts(dir, ['p.yaml'], path.join(dir, 'absent')), [])
})
