/**
 * Policy files → a compiled snapshot, or every error found. Nothing here swaps or logs: the
 * caller decides what a failure means (keep the last good snapshot, exit 1 in `validate`).
 *
 * Stages, each reporting all of its errors before the next runs:
 *  1. parse YAML (syntax, duplicate keys) and validate each document's envelope and spec;
 *  2. merge the documents' specs (see merge.ts) and check policy names are unique;
 *  3. parse each merged section with its factory's schema (defaults, cross-file checks);
 *  4. compile each section with its factory, in registry order.
 */
import type { Filter, FilterFactory } from '../chain/types.js'
import { chainNeedsResponseHooks } from '../chain/runner.js'
import { digestFiles, sha256Hex, type NamedContent } from './digest.js'
import { ConfigCompileError, ConfigCompileErrors, formatPath, type ConfigError, type PathSegment } from './errors.js'
import { issueEntries, issuesToErrors } from './issues.js'
import { mergeSpecs, type MergeResult, type SpecUnit } from './merge.js'
import { buildPolicySchema, type PolicyDocument } from './policy-schema.js'
import { deepFreeze, type PolicySnapshot } from './snapshot.js'
import { parseYamlFile } from './yaml.js'

export interface CompileMeta {
  readonly version: number
  readonly loadedAt: Date
}

export type CompileResult =
  | {
      ok: true
      snapshot: PolicySnapshot
      /**
       * Waits for what the filters load asynchronously (models); resolves to the errors, each
       * mapped to its file and key like a compile error. Swap the snapshot in only when it is [].
       */
      ready(): Promise<ConfigError[]>
    }
  | { ok: false; errors: ConfigError[] }

export function compilePolicies(files: readonly NamedContent[], factories: readonly FilterFactory[], ports: unknown, meta: CompileMeta): CompileResult {
  // Code-unit order, not locale order: the chain must not depend on the pod's locale.
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const loaded = loadDocuments(sorted, factories)
  if (loaded.errors.length > 0) return { ok: false, errors: loaded.errors }

  const merged = mergeSpecs(loaded.units, factories)
  if (merged.errors.length > 0) return { ok: false, errors: merged.errors }

  const spec: Record<string, unknown> = {}
  const configs = new Map<FilterFactory, { config: unknown; present: string[] }>()
  const errors: ConfigError[] = []
  for (const f of factories) {
    const present = (f.sections ?? [f.name]).filter((k) => k in merged.spec)
    if (present.length === 0) continue
    const input = f.sections ? Object.fromEntries(present.map((k) => [k, merged.spec[k]])) : merged.spec[f.name]
    const r = f.schema.safeParse(input)
    if (!r.success) {
      for (const e of r.error.issues.flatMap(issueEntries)) errors.push(mapToSource(merged, ...relocate(f, present, e.path), e.message, e.key))
      continue
    }
    configs.set(f, { config: r.data, present })
    if (!f.sections) spec[f.name] = r.data
    else for (const k of present) spec[k] = (r.data as Record<string, unknown>)[k]
  }
  if (errors.length > 0) return { ok: false, errors }

  const chain: Filter[] = []
  const warnings: ConfigError[] = []
  const pending: { f: FilterFactory; present: string[]; ready: () => Promise<void> }[] = []
  for (const [f, { config, present }] of configs) {
    try {
      const filter = f.compile(config, ports)
      chain.push(filter)
      if (filter.ready) pending.push({ f, present, ready: filter.ready.bind(filter) })
      for (const w of filter.warnings ?? []) warnings.push(mapToSource(merged, ...relocate(f, present, w.path), w.message))
    } catch (e) {
      // A factory may report several keys at once (a role cycle spans files).
      for (const one of e instanceof ConfigCompileErrors ? e.errors : [e]) errors.push(compileFailure(merged, f, present, one))
    }
  }
  if (errors.length > 0) return { ok: false, errors }

  const snapshot: PolicySnapshot = {
    version: meta.version,
    digest: digestFiles(sorted),
    loadedAt: meta.loadedAt,
    files: sorted.map((f) => ({ name: f.name, sha256: sha256Hex(f.content), bytes: Buffer.byteLength(f.content, 'utf8') })),
    policies: loaded.names,
    spec,
    chain: Object.freeze(chain),
    responseHooks: chainNeedsResponseHooks(chain),
    requestBody: chain.some((f) => f.needsRequestBody === true),
    warnings,
  }
  deepFreeze(snapshot.files)
  deepFreeze(snapshot.policies)
  deepFreeze(snapshot.spec)
  deepFreeze(snapshot.warnings)
  const ready = async (): Promise<ConfigError[]> => {
    const out: ConfigError[] = []
    for (const p of pending) {
      try {
        await p.ready()
      } catch (e) {
        for (const one of e instanceof ConfigCompileErrors ? e.errors : [e]) out.push(compileFailure(merged, p.f, p.present, one))
      }
    }
    return out
  }
  return { ok: true, snapshot: Object.freeze(snapshot), ready }
}

function loadDocuments(files: readonly NamedContent[], factories: readonly FilterFactory[]) {
  const schema = buildPolicySchema(factories)
  const errors: ConfigError[] = []
  const units: SpecUnit[] = []
  const names: string[] = []
  const nameOrigin = new Map<string, { file: string; path: string }>()
  for (const file of files) {
    const parsed = parseYamlFile(file.name, file.content)
    if (!parsed.ok) {
      errors.push(...parsed.errors)
      continue
    }
    const multi = parsed.docs.length > 1
    for (const doc of parsed.docs) {
      const prefix = multi ? [doc.index] : []
      const r = schema.safeParse(doc.value)
      if (!r.success) {
        errors.push(...issuesToErrors(r.error.issues, { file: file.name, prefix, locate: doc.locate }))
        continue
      }
      const name = (r.data as PolicyDocument).metadata.name
      const first = nameOrigin.get(name)
      const namePath = formatPath([...prefix, 'metadata', 'name'])
      if (first) {
        const where = first.file === file.name ? `at ${first.path}` : `in ${first.file}`
        const pos = doc.locate(['metadata', 'name'])
        errors.push({ file: file.name, path: namePath, message: `policy ${JSON.stringify(name)} already defined ${where}`, ...(pos ?? {}) })
        continue
      }
      nameOrigin.set(name, { file: file.name, path: namePath })
      names.push(name)
      // The input, not the parsed output: see merge.ts for why defaults must not merge.
      const input = (doc.value as { spec?: Record<string, unknown> | null }).spec ?? {}
      units.push({ file: file.name, prefix, spec: input, locate: doc.locate })
    }
  }
  return { errors, units, names }
}

/** A path inside the merged section → the file, document and index the operator wrote. */
function mapToSource(merged: MergeResult, section: string, rel: readonly PathSegment[], message: string, key = false): ConfigError {
  const origin = merged.locate([section, ...rel])
  if (!origin) return { file: merged.filesOf(section).join(', '), path: formatPath(['spec', section, ...rel]), message }
  const pos = origin.unit.locate?.(origin.path, key)
  return {
    file: origin.unit.file,
    path: formatPath([...origin.unit.prefix, ...origin.path]),
    message,
    ...(pos ? { line: pos.line, col: pos.col } : {}),
  }
}

/**
 * A factory may throw ConfigCompileError (or anything with a `path` array) to point inside its
 * section; an error carrying its own `file` and string `path` is taken as is.
 */
function compileFailure(merged: MergeResult, f: FilterFactory, present: readonly string[], e: unknown): ConfigError {
  const err = (typeof e === 'object' && e !== null ? e : {}) as { file?: unknown; path?: unknown; message?: unknown }
  const message = typeof err.message === 'string' && err.message !== '' ? err.message : String(e)
  if (typeof err.file === 'string' && typeof err.path === 'string') return { file: err.file, path: err.path, message }
  const path = e instanceof ConfigCompileError ? e.path : Array.isArray(err.path) ? (err.path as unknown[]).filter(isPathSegment) : []
  const [section, rel] = relocate(f, present, path)
  if (rel.length === 0) return { file: merged.filesOf(section).join(', '), path: formatPath(['spec', section]), message }
  return mapToSource(merged, section, rel, message)
}

/**
 * A path relative to what a factory was given → its section and the path inside it. A factory
 * with `sections` gets an object keyed by section, so its paths start with the section name.
 */
function relocate(f: FilterFactory, present: readonly string[], path: readonly PathSegment[]): [string, PathSegment[]] {
  if (!f.sections) return [f.name, [...path]]
  const head = path[0]
  if (typeof head === 'string' && f.sections.includes(head)) return [head, path.slice(1)]
  return [present[0]!, [...path]]
}

function isPathSegment(s: unknown): s is PathSegment {
  return typeof s === 'string' || typeof s === 'number'
}
