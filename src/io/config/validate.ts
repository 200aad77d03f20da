import { compilePolicies } from '../../core/config/compile.js'
import { formatConfigError } from '../../core/config/errors.js'
import { parseProcessConfig, PROCESS_CONFIG_FILE } from '../../core/config/process-schema.js'
import type { PolicySnapshot } from '../../core/config/snapshot.js'
import type { FilterFactory } from '../../core/chain/types.js'
import { FILTER_FACTORIES } from '../../core/filters/registry.js'
import { ConfigReadError, readConfigDir } from './read-dir.js'

/** A directory read and compiled exactly as a reload would, without activating anything. */
export interface CompiledDir {
  /** `file:path: message` lines of chaperone.yaml. */
  readonly processErrors: readonly string[]
  /** `file:path: message` lines of reading the directory or of its policy files. */
  readonly policyErrors: readonly string[]
  /** The snapshot the policy files compile to, when they do. */
  readonly snapshot?: PolicySnapshot
}

export async function compileConfigDir(dir: string, factories: readonly FilterFactory[] = FILTER_FACTORIES, ports: unknown = {}): Promise<CompiledDir> {
  let contents
  try {
    contents = await readConfigDir(dir)
  } catch (e) {
    if (e instanceof ConfigReadError) return { processErrors: [], policyErrors: e.errors.map(formatConfigError) }
    throw e
  }
  const proc = parseProcessConfig(PROCESS_CONFIG_FILE, contents.processFile?.content)
  const compiled = compilePolicies(contents.policyFiles, factories, ports, { version: 0, loadedAt: new Date() })
  return {
    processErrors: proc.ok ? [] : proc.errors.map(formatConfigError),
    policyErrors: compiled.ok ? [] : compiled.errors.map(formatConfigError),
    ...(compiled.ok ? { snapshot: compiled.snapshot } : {}),
  }
}

/**
 * `chaperone validate`: reads and compiles a directory exactly as a reload would, and returns
 * one `file:path: message` line per problem (none means the directory would load).
 */
export async function validateConfigDir(dir: string, factories: readonly FilterFactory[] = FILTER_FACTORIES): Promise<string[]> {
  const c = await compileConfigDir(dir, factories)
  return [...c.processErrors, ...c.policyErrors]
}
