/** The text form of a verify report: one line per writer, then warnings, then a verdict. */
import type { Finding, VerifyReport, Warning } from './types.js'

const where = (p: Finding | Warning) => `${p.file}:${p.line}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}`

export function renderVerifyReport(r: VerifyReport): string {
  const out: string[] = []
  for (const w of r.writers) {
    if (w.problem) {
      out.push(`${w.writer}: ${w.problem.classification.toUpperCase()} at ${where(w.problem)}: ${w.problem.message}`)
      continue
    }
    const seqs = w.firstSeq === null ? '' : ` (seq ${w.firstSeq}-${w.lastSeq})`
    const cps = [`${w.checkpoints.inLog} checkpoint${w.checkpoints.inLog === 1 ? '' : 's'} in the log`]
    if (r.signaturesChecked) cps.push(`${w.checkpoints.verified} signature${w.checkpoints.verified === 1 ? '' : 's'} verified`)
    if (w.checkpoints.external > 0) cps.push(`${w.checkpoints.externalMatched} of ${w.checkpoints.external} checkpoint copies matched`)
    out.push(`${w.writer}: ok, ${w.records} record${w.records === 1 ? '' : 's'}${seqs}, ${cps.join(', ')}`)
  }
  for (const p of r.problems) if (!r.writers.some((w) => w.problem === p)) out.push(`${p.writer}: ${p.classification.toUpperCase()} at ${where(p)}: ${p.message}`)
  for (const w of r.warnings) out.push(`warning: ${w.writer}: ${w.kind} at ${where(w)}: ${w.message}`)
  if (!r.signaturesChecked) out.push('note: checkpoint signatures were not checked (no --public-key)')
  if (r.writers.length === 0 && r.problems.length === 0) out.push('no records')
  const failed = r.problems.length > 0 ? `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}` : r.ok ? '' : `${r.warnings.length} warning${r.warnings.length === 1 ? '' : 's'} (--strict)`
  out.push(r.ok ? 'OK' : `FAILED: ${failed}`)
  return out.join('\n') + '\n'
}
