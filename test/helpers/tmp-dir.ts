import { promises as fs } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** A fresh directory under os.tmpdir(), removed when the test ends. */
export async function tmpDir(t: { teardown(fn: () => unknown): void }, prefix = 'chaperone-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix))
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }))
  return dir
}
