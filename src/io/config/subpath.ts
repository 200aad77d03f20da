/**
 * Detects ConfigMap files mounted with `subPath`. Kubernetes bind-mounts such a file once and
 * never updates it, so hot reload silently stops working; the only visible trace is that the
 * file is itself a mount point.
 */
import { promises as fs } from 'node:fs'
import path from 'node:path'
import type { LogPort } from '../../core/chain/types.js'

export const SUBPATH_WARNING = 'mounted with subPath: Kubernetes never updates it; mount the whole ConfigMap directory'

/**
 * `files` are absolute paths; returns those that appear as a mount point (field 5) in
 * `/proc/self/mountinfo` text, where space, tab, newline and backslash are octal-escaped.
 */
export function findSubPathMounts(mountinfoText: string, files: readonly string[]): string[] {
  const mountPoints = new Set<string>()
  for (const line of mountinfoText.split('\n')) {
    const field = line.split(' ')[4]
    if (field) mountPoints.add(trimSlash(unescapeOctal(field)))
  }
  return files.filter((f) => mountPoints.has(trimSlash(f)))
}

function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

function trimSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p
}

/** File names (not paths) under `dir` that are subPath mounts; [] where there is no procfs (macOS). */
export async function detectSubPathMounts(dir: string, names: readonly string[], mountinfoPath = '/proc/self/mountinfo'): Promise<string[]> {
  let text: string
  try {
    text = await fs.readFile(mountinfoPath, 'utf8')
  } catch {
    return []
  }
  // Mount points are recorded as real paths; the configured dir may sit behind a symlink.
  const real = await fs.realpath(dir).catch(() => path.resolve(dir))
  const byPath = new Map(names.map((n) => [path.join(real, n), n]))
  return findSubPathMounts(text, [...byPath.keys()]).map((p) => byPath.get(p)!)
}

export async function warnSubPathMounts(dir: string, names: readonly string[], log: LogPort): Promise<string[]> {
  const mounted = await detectSubPathMounts(dir, names)
  for (const file of mounted) log.warn({ file, dir }, `${file}: ${SUBPATH_WARNING}`)
  return mounted
}
