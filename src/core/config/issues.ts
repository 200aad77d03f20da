/** zod issues → ConfigErrors with the operator's file, path and, when known, line. */
import type { z } from 'zod'
import { formatPath, type ConfigError, type PathSegment } from './errors.js'
import type { Position } from './yaml.js'

export interface IssueContext {
  readonly file: string
  /** Prepended to every rendered path, e.g. `[1]` for the second document of a file. */
  readonly prefix?: readonly PathSegment[]
  readonly locate?: (path: readonly PathSegment[], key?: boolean) => Position | undefined
}

export interface IssueEntry {
  readonly path: PathSegment[]
  readonly message: string
  /** The error is about the key at `path`, not its value (an unknown key). */
  readonly key: boolean
}

/** One entry per thing to fix: an unrecognized_keys issue becomes one entry per key. */
export function issueEntries(issue: z.core.$ZodIssue): IssueEntry[] {
  const path = issue.path.filter((s): s is PathSegment => typeof s !== 'symbol')
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => ({ path: [...path, k], message: 'unknown key', key: true }))
  if (issue.code === 'invalid_type' && / received undefined$/.test(issue.message)) return [{ path, message: 'required', key: false }]
  return [{ path, message: issue.message, key: false }]
}

export function issuesToErrors(issues: readonly z.core.$ZodIssue[], ctx: IssueContext): ConfigError[] {
  return issues.flatMap(issueEntries).map((e) => {
    const pos = ctx.locate?.(e.path, e.key)
    return {
      file: ctx.file,
      path: formatPath([...(ctx.prefix ?? []), ...e.path]),
      message: e.message,
      ...(pos ? { line: pos.line, col: pos.col } : {}),
    }
  })
}
