/**
 * `chaperone audit verify` and `chaperone audit query`: argv in, text out, an exit code back
 * (0 ok, 1 problems found, 2 usage error). Files are streamed line by line, never read whole.
 */
import { parseArgs } from 'node:util'
import { GROUP_FIELDS, GroupCounter, groupKey, parseTimeBound, recordMatches, type GroupField, type QuerySpec } from '../../core/audit/query.js'
import { recordShapeProblem, type ParsedRecord } from '../../core/audit/record.js'
import { renderVerifyReport } from '../../core/audit/verify/render.js'
import { AuditVerifier, sortLogFiles } from '../../core/audit/verify/verifier.js'
import { AuditKeyError, readPublicKeys } from './keys.js'
import { readLines } from './line-reader.js'

/** A stream the command writes to (process.stdout in the CLI, a collector in tests). */
export interface Output {
  write(chunk: string): boolean
  once?(event: 'drain', listener: () => void): unknown
}

export interface CommandIo {
  readonly stdout: Output
  readonly stderr: Output
  /** For --since 90d; tests pin it. */
  readonly now?: () => number
}

export const AUDIT_HELP = `Usage: chaperone audit <verify|query> [options] FILE...

Commands:
  verify   Check the hash chain, checkpoints and signatures of audit log files
  query    Print or count the audit records that match filters

Run \`chaperone audit <command> --help\` for the options of a command.
`

export const VERIFY_HELP = `Usage: chaperone audit verify FILE... [--checkpoints FILE] [--public-key FILE] [--strict] [--json]

Streams the files (a writer's files in index order; several writers may be mixed, each chain is
checked apart) and checks every record: JSON, canonical form, hash, prev link, seq continuity,
writer, timestamps, and the checkpoints in the log. Reports the first problem of each writer with
its file, line and seq, classified as edited, deleted, reordered, inserted, truncated, torn or
forked. A torn last line that a later recovery record acknowledges is a warning.

  --checkpoints FILE   Checkpoint copies from the second sink (JSON lines; for Redis:
                       redis-cli --raw LRANGE '{chaperone}:audit:checkpoints:WRITER' 0 -1 > FILE).
                       The chain must pass through each; records missing after one are reported
                       as truncated. Repeatable.
  --public-key FILE    Ed25519 public key (PEM) that checkpoints must be signed with. Repeatable
                       (key rotation). Without it signatures are not checked.
  --strict             Warnings fail too (an acknowledged torn tail, a restart, a clock step back)
  --json               Print the report as JSON
  -h, --help           Show this help

Exits 0 when the log verifies, 1 when a problem is found, 2 on a usage error.
`

export const QUERY_HELP = `Usage: chaperone audit query FILE... [filters] [--group-by FIELD] [--json]

Streams the files and prints the matching records (JSON lines), or with --group-by the number of
matching records per group. It does not verify the chain: run audit verify for that. Each filter
is repeatable (any of the values matches); filters combine with AND.

  --kind KIND          decision, reload, checkpoint, recovery, start
  --filter NAME        authz, ratelimit, moderation, cache
  --action ACTION      deny, refuse, block, redact, flag, hit...
  --rule NAME          --region R   --route NAME   --writer POD   --subject PSEUDONYM
  --shadow             Only shadow decisions     --enforced   Only decisions that acted
  --since WHEN         90d, 12h, 30m, 2w (back from now) or an ISO-8601 time
  --until WHEN         Same forms; exclusive
  --group-by FIELD     ${GROUP_FIELDS.join(', ')}; repeatable or comma-separated
  --json               With --group-by: the counts as JSON
  -h, --help           Show this help

Times are the decision time (at), else the record's ts.
Example, every block of rule X in the last 90 days by region:
  chaperone audit query /var/lib/chaperone/audit/*/*.jsonl --action block --rule X --since 90d --group-by region
`

/** Writes with backpressure: a query over gigabytes must not pile up in memory. */
async function put(out: Output, text: string): Promise<void> {
  if (!out.write(text) && out.once) await new Promise<void>((resolve) => out.once!('drain', resolve))
}

const fail = (io: CommandIo, message: string, help: string): number => {
  io.stderr.write(`${message}\n\n${help}`)
  return 2
}

const isMissing = (err: unknown) => ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')

export async function runAuditCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv
  switch (sub) {
    case 'verify':
      return auditVerify(rest, io)
    case 'query':
      return auditQuery(rest, io)
    case undefined:
      io.stderr.write(AUDIT_HELP)
      return 2
    case 'help':
    case '-h':
    case '--help':
      io.stdout.write(AUDIT_HELP)
      return 0
    default:
      return fail(io, `unknown audit command: ${sub}`, AUDIT_HELP)
  }
}

export async function auditVerify(argv: readonly string[], io: CommandIo): Promise<number> {
  let values: { checkpoints?: string[]; 'public-key'?: string[]; strict?: boolean; json?: boolean; help?: boolean }
  let files: string[]
  try {
    ;({ values, positionals: files } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        checkpoints: { type: 'string', multiple: true },
        'public-key': { type: 'string', multiple: true },
        strict: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }))
  } catch (err) {
    return fail(io, (err as Error).message, VERIFY_HELP)
  }
  if (values.help) {
    io.stdout.write(VERIFY_HELP)
    return 0
  }
  if (files.length === 0) return fail(io, 'audit verify needs at least one FILE', VERIFY_HELP)

  let publicKeys
  try {
    publicKeys = values['public-key'] ? await readPublicKeys(values['public-key']) : undefined
  } catch (err) {
    if (err instanceof AuditKeyError) return fail(io, err.message, VERIFY_HELP)
    throw err
  }
  const verifier = new AuditVerifier({ ...(publicKeys && { publicKeys }), strict: values.strict === true })
  const decoder = new TextDecoder()
  let current = ''
  try {
    for (const file of values.checkpoints ?? []) {
      current = file
      for await (const l of readLines(file)) verifier.externalCheckpoint(decoder.decode(l.bytes), { file, line: l.number })
    }
    for (const file of sortLogFiles(files)) {
      current = file
      verifier.beginFile(file)
      for await (const l of readLines(file)) verifier.line(l)
    }
  } catch (err) {
    if (isMissing(err)) return fail(io, `${current}: ${(err as Error).message}`, VERIFY_HELP)
    throw err
  }
  const report = verifier.finish()
  await put(io.stdout, values.json ? JSON.stringify(report, null, 2) + '\n' : renderVerifyReport(report))
  return report.ok ? 0 : 1
}

const set = (v: string[] | undefined): ReadonlySet<string> | undefined => (v && v.length > 0 ? new Set(v.flatMap((x) => x.split(',')).filter((x) => x !== '')) : undefined)

export async function auditQuery(argv: readonly string[], io: CommandIo): Promise<number> {
  const multi = { type: 'string', multiple: true } as const
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        kind: multi,
        filter: multi,
        action: multi,
        rule: multi,
        region: multi,
        route: multi,
        writer: multi,
        subject: multi,
        'group-by': multi,
        shadow: { type: 'boolean' },
        enforced: { type: 'boolean' },
        since: { type: 'string' },
        until: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    return fail(io, (err as Error).message, QUERY_HELP)
  }
  const { values: v, positionals: files } = parsed
  if (v.help) {
    io.stdout.write(QUERY_HELP)
    return 0
  }
  if (files.length === 0) return fail(io, 'audit query needs at least one FILE', QUERY_HELP)
  if (v.shadow && v.enforced) return fail(io, '--shadow and --enforced exclude each other', QUERY_HELP)
  const groupBy = [...(set(v['group-by']) ?? [])]
  const unknown = groupBy.find((g) => !(GROUP_FIELDS as readonly string[]).includes(g))
  if (unknown) return fail(io, `--group-by ${unknown}: expected one of ${GROUP_FIELDS.join(', ')}`, QUERY_HELP)
  const now = (io.now ?? Date.now)()
  const bound = (name: 'since' | 'until'): number | undefined | null => {
    const s = v[name]
    if (s === undefined) return undefined
    return parseTimeBound(s, now) ?? null
  }
  const sinceMs = bound('since')
  const untilMs = bound('until')
  if (sinceMs === null) return fail(io, `--since ${v.since}: expected a duration (90d, 12h) or an ISO-8601 time`, QUERY_HELP)
  if (untilMs === null) return fail(io, `--until ${v.until}: expected a duration (90d, 12h) or an ISO-8601 time`, QUERY_HELP)

  const spec: QuerySpec = {
    ...(set(v.kind) && { kinds: set(v.kind) }),
    ...(set(v.filter) && { filters: set(v.filter) }),
    ...(set(v.action) && { actions: set(v.action) }),
    ...(set(v.rule) && { rules: set(v.rule) }),
    ...(set(v.region) && { regions: set(v.region) }),
    ...(set(v.route) && { routes: set(v.route) }),
    ...(set(v.writer) && { writers: set(v.writer) }),
    ...(set(v.subject) && { subjects: set(v.subject) }),
    ...(v.shadow && { shadow: true }),
    ...(v.enforced && { shadow: false }),
    ...(sinceMs !== undefined && { sinceMs }),
    ...(untilMs !== undefined && { untilMs }),
    groupBy: groupBy as GroupField[],
  }

  const counter = new GroupCounter()
  const decoder = new TextDecoder()
  let skipped = 0
  let pending = ''
  let current = ''
  try {
    for (const file of sortLogFiles(files)) {
      current = file
      for await (const l of readLines(file)) {
        const text = decoder.decode(l.bytes)
        let r: ParsedRecord
        try {
          r = JSON.parse(text) as ParsedRecord
        } catch {
          skipped++
          continue
        }
        if (recordShapeProblem(r)) {
          skipped++
          continue
        }
        if (!recordMatches(r, spec)) continue
        if (groupBy.length > 0) counter.add(groupKey(r, spec.groupBy))
        else {
          pending += text + '\n'
          if (pending.length >= 64 * 1024) {
            await put(io.stdout, pending)
            pending = ''
          }
        }
      }
    }
  } catch (err) {
    if (isMissing(err)) return fail(io, `${current}: ${(err as Error).message}`, QUERY_HELP)
    throw err
  }
  if (pending) await put(io.stdout, pending)
  if (groupBy.length > 0) {
    const rows = counter.rows()
    if (v.json) {
      const groups = rows.map((r) => ({ key: Object.fromEntries(groupBy.map((g, i) => [g, r.key[i]])), count: r.count }))
      await put(io.stdout, JSON.stringify({ groupBy, total: counter.total, groups }, null, 2) + '\n')
    } else {
      const lines = [[...groupBy, 'count'].join('\t'), ...rows.map((r) => [...r.key, String(r.count)].join('\t')), `total\t${groupBy.slice(1).map(() => '\t').join('')}${counter.total}`]
      await put(io.stdout, lines.join('\n') + '\n')
    }
  }
  if (skipped > 0) io.stderr.write(`warning: ${skipped} line${skipped === 1 ? '' : 's'} skipped (not audit records)\n`)
  return 0
}
