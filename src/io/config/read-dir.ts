/**
 * Reads a config directory as mounted from a ConfigMap: the visible entries are symlinks
 * (`x.yaml -> ..data/x.yaml`) and kubelet's own entries start with `..`, so dot-entries are
 * skipped and symlinks are followed.
 */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import { digestFiles, type NamedContent } from '../../core/config/digest.js'
import { ROOT_PATH, formatConfigError, type ConfigError } from '../../core/config/errors.js'
import { PROCESS_CONFIG_FILE } from '../../core/config/process-schema.js'

export interface ConfigDirContents {
  readonly processFile?: NamedContent
  /** Sorted by name. */
  readonly policyFiles: NamedContent[]
}

export interface ReadLimits {
  /** A ConfigMap holds at most 1 MiB in total, so a bigger file is a mistake. */
  readonly maxFileBytes: number
  readonly maxFiles: number
}

export const DEFAULT_READ_LIMITS: ReadLimits = { maxFileBytes: 1024 * 1024, maxFiles: 256 }

/** Thrown when the directory cannot be read as a whole; carries every problem found. */
export class ConfigReadError extends Error {
  readonly errors: readonly ConfigError[]
  constructor(errors: readonly ConfigError[]) {
    super(errors.map(formatConfigError).join('; '))
    this.name = 'ConfigReadError'
    this.errors = errors
  }
}

const YAML_FILE = /\.ya?ml$/
const utf8 = new TextDecoder('utf-8', { fatal: true })

export async function readConfigDir(dir: string, limits: ReadLimits = DEFAULT_READ_LIMITS): Promise<ConfigDirContents> {
  let entries: string[]
  try {
    entries = await fs.readdir(dir)
  } catch (e) {
    throw new ConfigReadError([{ file: dir, path: ROOT_PATH, message: `cannot read config directory: ${(e as Error).message}` }])
  }
  const names = entries.filter((n) => !n.startsWith('.') && YAML_FILE.test(n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  if (names.length > limits.maxFiles) {
    throw new ConfigReadError([{ file: dir, path: ROOT_PATH, message: `${names.length} YAML files, more than the limit of ${limits.maxFiles}` }])
  }
  const errors: ConfigError[] = []
  const files: NamedContent[] = []
  for (const name of names) {
    const r = await readOne(path.join(dir, name), name, limits.maxFileBytes)
    if (r === undefined) continue
    if ('error' in r) errors.push(r.error)
    else files.push(r)
  }
  if (errors.length > 0) throw new ConfigReadError(errors)
  const processFile = files.find((f) => f.name === PROCESS_CONFIG_FILE)
  const policyFiles = files.filter((f) => f.name !== PROCESS_CONFIG_FILE)
  return processFile ? { processFile, policyFiles } : { policyFiles }
}

async function readOne(file: string, name: string, maxBytes: number): Promise<NamedContent | { error: ConfigError } | undefined> {
  const fail = (message: string) => ({ error: { file: name, path: ROOT_PATH, message } })
  try {
    const st = await fs.stat(file)
    if (!st.isFile()) return undefined
    if (st.size > maxBytes) return fail(`${st.size} bytes, more than the limit of ${maxBytes}`)
    const buf = await fs.readFile(file)
    // The file may have grown between stat and read.
    if (buf.length > maxBytes) return fail(`${buf.length} bytes, more than the limit of ${maxBytes}`)
    try {
      return { name, content: utf8.decode(buf) }
    } catch {
      return fail('not valid UTF-8')
    }
  } catch (e) {
    // A visible symlink whose target kubelet has just dropped: the file is going away, and its
    // removal is itself a change that triggers another read.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    return fail(`cannot read: ${(e as Error).message}`)
  }
}

/**
 * Identity of everything read, chaperone.yaml included, so that the periodic check and the
 * reloader agree on whether the directory changed. Not the snapshot digest, which covers
 * policy files only.
 */
export function contentFingerprint(contents: ConfigDirContents): string {
  return digestFiles(contents.processFile ? [contents.processFile, ...contents.policyFiles] : contents.policyFiles)
}

/** Fingerprint of the directory as it is now; a read failure has a stable fingerprint of its own. */
export async function fingerprintConfigDir(dir: string, limits?: ReadLimits): Promise<string> {
  try {
    return contentFingerprint(await readConfigDir(dir, limits))
  } catch (e) {
    return readErrorFingerprint(e)
  }
}

export function readErrorFingerprint(e: unknown): string {
  return `error:${(e as Error).message}`
}
