/**
 * Configuration errors, as operators see them in the log, on /admin/config and from
 * `chaperone validate`.
 *
 * Rendered form, always `file:path: message`:
 *  - `path` is dotted, with array indexes in brackets: `spec.moderation.rules[2].regex`. A key
 *    that is not an identifier (letters, digits, `_`, `-`) is quoted: `metadata.labels["app.kubernetes.io/name"]`.
 *  - In a file holding several YAML documents the path starts with the document index:
 *    `[1].spec.roles.admin` (0-based, like any array); single-document files have no prefix.
 *  - `(root)` stands for the whole document: YAML syntax errors (whose message then carries
 *    `line L, column C`) and a document that is not a mapping.
 *  - `line`/`col` (1-based) are filled in whenever the YAML node is known, for tools; they are
 *    not part of the rendered text so that messages stay stable when lines move.
 */
export interface ConfigError {
  readonly file: string
  readonly path: string
  readonly message: string
  readonly line?: number
  readonly col?: number
}

export const ROOT_PATH = '(root)'

export type PathSegment = string | number

export function formatConfigError(e: ConfigError): string {
  return `${e.file}:${e.path}: ${e.message}`
}

const IDENTIFIER = /^[A-Za-z_$][\w$-]*$/

/** Renders a path such as `['spec', 'rules', 2, 'regex']` as `spec.rules[2].regex`. */
export function formatPath(segments: readonly PathSegment[], prefix = ''): string {
  let out = prefix
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`
    else if (IDENTIFIER.test(s)) out += out === '' ? s : `.${s}`
    else out += `[${JSON.stringify(s)}]`
  }
  return out === '' ? ROOT_PATH : out
}

/**
 * What a filter factory's `compile` may throw to point at the offending key. `path` is relative
 * to the factory's own `spec.<name>` section and indexes the merged section the factory was
 * given; the compiler maps it back to the file and the index the operator wrote.
 */
export class ConfigCompileError extends Error {
  readonly path: readonly PathSegment[]
  constructor(path: readonly PathSegment[], message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ConfigCompileError'
    this.path = path
  }
}

/** Several errors from one compile step, each pointing at its own key (compile.ts reports each). */
export class ConfigCompileErrors extends Error {
  constructor(readonly errors: readonly ConfigCompileError[]) {
    super(errors.map((e) => e.message).join('; '))
    this.name = 'ConfigCompileErrors'
  }
}
