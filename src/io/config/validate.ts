import { compilePolicies } from '../../core/config/compile.js'
import { formatConfigError } from '../../core/config/errors.js'
import { parseProcessConfig, PROCESS_CONFIG_FILE } from '../../core/config/process-schema.js'
import type { PolicySnapshot } from '../../core/config/snapshot.js'
import type { FilterFactory } from '../../core/chain/types.js'
import { FILTER_FACTORIES } from '../../core/filters/registry.js'
import { ConfigReadError, readConfigDir } from './read-dir.js'
import { PolicyFileReader } from './policy-files.js'
import { JwksRegistry } from '../jwks/registry.js'
import type { Ports } from '../../core/ports.js'
import { PolicyClassifierLoader } from '../classifier/loader.js'

/** A directory read and compiled exactly as a reload would, without activating anything. */
export interface CompiledDir {
  /** `file:path: message` lines of chaperone.yaml. */
  readonly processErrors: readonly string[]
  /** `file:path: message` lines of reading the directory or of its policy files. */
  readonly policyErrors: readonly string[]
  /** The snapshot the policy files compile to, when they do. */
  readonly snapshot?: PolicySnapshot
  /** `file:path: message` lines that do not stop a load (a rule that can never match). */
  readonly warnings: readonly string[]
}

/**
 * Ports as `serve` has them, minus the network: files the policy names are read, and remote
 * JWKS are only registered, never fetched, so validating works offline.
 */
function offlinePorts(dir: string): Ports {
  const policyFiles = new PolicyFileReader(dir)
  // Models are loaded for real (a model onnxruntime refuses fails validate); remote classifiers are never called.
  return { policyFiles, jwks: new JwksRegistry({ log: { warn() {}, info() {} } }), classifierLoader: new PolicyClassifierLoader({ files: policyFiles, env: process.env }) }
}

export async function compileConfigDir(dir: string, factories: readonly FilterFactory[] = FILTER_FACTORIES, ports: unknown = offlinePorts(dir)): Promise<CompiledDir> {
  let contents
  try {
    contents = await readConfigDir(dir)
  } catch (e) {
    if (e instanceof ConfigReadError) return { processErrors: [], policyErrors: e.errors.map(formatConfigError), warnings: [] }
    throw e
  }
  const proc = parseProcessConfig(PROCESS_CONFIG_FILE, contents.processFile?.content)
  const compiled = compilePolicies(contents.policyFiles, factories, ports, { version: 0, loadedAt: new Date() })
  // A model file is loaded too: validate says no to what a reload would refuse.
  const errors = compiled.ok ? await compiled.ready() : compiled.errors
  return {
    processErrors: proc.ok ? [] : proc.errors.map(formatConfigError),
    policyErrors: errors.map(formatConfigError),
    ...(compiled.ok && errors.length === 0 ? { snapshot: compiled.snapshot } : {}),
    warnings: compiled.ok ? compiled.snapshot.warnings.map(formatConfigError) : [],
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

/** Errors and warnings apart: warnings are printed but do not fail `validate`. */
export async function lintConfigDir(dir: string, factories: readonly FilterFactory[] = FILTER_FACTORIES): Promise<{ errors: string[]; warnings: string[] }> {
  const c = await compileConfigDir(dir, factories)
  return { errors: [...c.processErrors, ...c.policyErrors], warnings: [...c.warnings] }
}
