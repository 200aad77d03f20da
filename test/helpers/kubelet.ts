/**
 * Reproduces the kubelet's AtomicWriter (kubernetes pkg/volume/util/atomic_writer.go, Write) so
 * that watcher tests see the same filesystem operations, in the same order, as a real ConfigMap
 * volume: the visible files are symlinks through `..data`, and an update only ever replaces the
 * `..data` symlink. Only flat file names are supported, as in a ConfigMap without `items`.
 */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { randomInt } from 'node:crypto'

const DATA_DIR = '..data'
const NEW_DATA_DIR = '..data_tmp'
/** A ConfigMap volume's default `defaultMode` (0644). */
const FILE_MODE = 0o644

export type Payload = Record<string, string>

/** Projects `files` into the empty (or absent) directory `dir`, as a pod start does. */
export async function createKubeletVolume(dir: string, files: Payload): Promise<void> {
  await fs.mkdir(dir, { recursive: true })
  await atomicWrite(dir, files)
}

/**
 * Projects a new version of the ConfigMap. Returns false when kubelet would not touch the disk
 * at all (same content, no file dropped), which is what it does on a no-op resync.
 */
export function updateKubeletVolume(dir: string, files: Payload): Promise<boolean> {
  return atomicWrite(dir, files)
}

async function atomicWrite(dir: string, files: Payload): Promise<boolean> {
  for (const name of Object.keys(files)) validateName(name)
  const dataDirPath = path.join(dir, DATA_DIR)
  // (2) The current timestamped directory, read through the ..data symlink.
  const oldTsDir = await fs.readlink(dataDirPath).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return ''
    throw e
  })
  const oldTsPath = path.join(dir, oldTsDir)
  let toRemove: string[] = []
  if (oldTsDir !== '') {
    // (3) Visible paths of the old version that the new payload drops.
    toRemove = await pathsToRemove(files, oldTsPath)
    // (4) Nothing to do when every file is byte-identical and nothing is dropped.
    if (!(await shouldWritePayload(files, oldTsPath)) && toRemove.length === 0) return false
  }
  // (5) A new timestamped directory with the target directory's permissions.
  const tsDirName = await makeTimestampDir(dir)
  const tsPath = path.join(dir, tsDirName)
  await fs.chmod(tsPath, (await fs.stat(dir)).mode & 0o7777)
  // (6) The payload, with an explicit chmod because open(2) applies the umask.
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(tsPath, name)
    await fs.writeFile(file, content, { mode: FILE_MODE })
    await fs.chmod(file, FILE_MODE)
  }
  // (7) ..data_tmp -> the new timestamped directory, relative.
  const newDataDirPath = path.join(dir, NEW_DATA_DIR)
  await fs.symlink(tsDirName, newDataDirPath)
  // (8) The atomic switch: rename(2) replaces the ..data symlink itself.
  await fs.rename(newDataDirPath, dataDirPath)
  // (9) Visible symlinks for new files, created only when missing.
  for (const name of Object.keys(files)) {
    const visible = path.join(dir, name)
    const missing = await fs.readlink(visible).then(
      () => false,
      (e: NodeJS.ErrnoException) => e.code === 'ENOENT',
    )
    if (missing) await fs.symlink(path.join(DATA_DIR, name), visible)
  }
  // (10) Visible symlinks of dropped files.
  for (const name of toRemove) await fs.rm(path.join(dir, name), { force: true })
  // (11) The previous timestamped directory.
  if (oldTsDir !== '') await fs.rm(oldTsPath, { recursive: true, force: true })
  return true
}

/**
 * Go's os.MkdirTemp: the prefix plus a random decimal suffix, mode 0700, retried on a clash.
 * (node's mkdtemp appends six letters instead, so it is not used.)
 */
async function makeTimestampDir(dir: string): Promise<string> {
  for (;;) {
    const name = `${timestampPrefix(new Date())}${randomInt(0, 2 ** 32 - 1)}`
    try {
      await fs.mkdir(path.join(dir, name), { mode: 0o700 })
      return name
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
  }
}

/** `..2006_01_02_15_04_05.` in UTC, the prefix kubelet passes to MkdirTemp. */
function timestampPrefix(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `..${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.`
}

function validateName(name: string): void {
  if (name === '' || name.includes('/') || name.startsWith('..') || name.length > 255) {
    throw new Error(`invalid ConfigMap key for this helper: ${JSON.stringify(name)}`)
  }
}

async function pathsToRemove(files: Payload, oldTsPath: string): Promise<string[]> {
  const old = await fs.readdir(oldTsPath).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[]
    throw e
  })
  return old.filter((name) => !Object.prototype.hasOwnProperty.call(files, name))
}

async function shouldWritePayload(files: Payload, oldTsPath: string): Promise<boolean> {
  for (const [name, content] of Object.entries(files)) {
    const onDisk = await fs.readFile(path.join(oldTsPath, name)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined
      throw e
    })
    if (onDisk === undefined || !onDisk.equals(Buffer.from(content))) return true
  }
  return false
}
