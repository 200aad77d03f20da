import { compilePolicies } from '../../core/config/compile.js'
import { formatConfigError } from '../../core/config/errors.js'
import { parseProcessConfig, PROCESS_CONFIG_FILE } from '../../core/config/process-schema.js'
import type { FilterFactory } from '../../core/chain/types.js'
import { FILTER_FACTORIES } from '../../core/filters/registry.js'
import { ConfigReadError, readConfigDir } from './read-dir.js'

/**
 * `chaperone validate`: reads and compiles a directory exactly as a reload would, and returns
 * one `file:path: message` line per problem (none means the directory would load).
 */
export async function validateConfigDir(dir: string, factories: readonly FilterFactory[] = FILTER_FACTORIES): Promise<string[]> {
  let contents
  try {
    contents = await readConfigDir(dir)
  } catch (e) {
    if (e instanceof ConfigReadError) return e.errors.map(formatConfigError)
    throw e
  }
  const lines: string[] = []
  const proc = parseProcessConfig(PROCESS_CONFIG_FILE, contents.processFile?.content)
  if (!proc.ok) lines.push(...proc.errors.map(formatConfigError))
  const compiled = compilePolicies(contents.policyFiles, factories, {}, { version: 0, loadedAt: new Date() })
  if (!compiled.ok) lines.push(...compiled.errors.map(formatConfigError))
  return lines
}
