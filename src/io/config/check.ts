import { readFile } from 'node:fs/promises'
import type { FilterFactory } from '../../core/chain/types.js'
import { FILTER_FACTORIES } from '../../core/filters/registry.js'
import { runCheck } from '../../core/filters/moderation/check.js'
import type { PreviewResult } from '../../core/filters/moderation/preview.js'
import type { CheckInput } from '../../cli-args.js'
import { compileConfigDir } from './validate.js'

export type CheckCliResult = { ok: true; result: PreviewResult | undefined } | { ok: false; errors: string[] }

/** `chaperone check`: the preview of POST /admin/moderation/check, offline, on a directory. */
export async function checkText(dir: string, input: CheckInput, factories: readonly FilterFactory[] = FILTER_FACTORIES): Promise<CheckCliResult> {
  const compiled = await compileConfigDir(dir, factories)
  if (!compiled.snapshot) return { ok: false, errors: [...compiled.policyErrors] }
  const text = input.text ?? (input.textFile === '-' ? await readStdin() : await readFile(input.textFile!, 'utf8'))
  const { textFile: _f, ...rest } = input
  const out = await runCheck({ ...rest, text }, compiled.snapshot.chain, factories, {})
  if (!out.ok) return { ok: false, errors: [...out.errors] }
  return { ok: true, result: out.result }
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = []
  for await (const c of process.stdin as AsyncIterable<Buffer>) parts.push(c)
  return Buffer.concat(parts).toString('utf8')
}

/** A terminal-friendly rendering of a preview. */
export function renderPreview(r: PreviewResult): string {
  const lines = [`decision: ${r.decision}   (${r.tookMs} ms)`]
  for (const m of r.matches) {
    const tags = [m.action, m.shadow ? 'shadow' : undefined, m.label, m.score !== undefined ? `score ${m.score.toFixed(3)}` : undefined].filter(Boolean).join(', ')
    lines.push(`  ${m.rule} [${tags}] at ${m.span[0]}..${m.span[1]}: ${JSON.stringify(m.original)}${m.normalized !== undefined && m.normalized !== m.original ? ` (normalized ${JSON.stringify(m.normalized)})` : ''}`)
  }
  if (r.inactive.length > 0) lines.push(`  not applied (their \`when\` is false): ${r.inactive.join(', ')}`)
  if (r.output !== undefined) lines.push(`output: ${r.output}`)
  return lines.join('\n') + '\n'
}
