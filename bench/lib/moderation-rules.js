// @ts-check
// The moderation rule set the benchmark runs, written as a policy file so that the engine bench
// and the proxy bench load exactly the same rules: 1,000 whole-word keywords, 50 regex rules and
// every PII detector.
import { prng } from './prng.js'

const ONSETS = ['b', 'bl', 'br', 'c', 'ch', 'cl', 'cr', 'd', 'dr', 'f', 'fl', 'fr', 'g', 'gl', 'gr', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 'pl', 'pr', 'qu', 'r', 's', 'sc', 'sh', 'sk', 'sl', 'sm', 'sn', 'sp', 'st', 'str', 'sw', 't', 'th', 'tr', 'v', 'w', 'wh', 'z']
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'ee', 'oo', 'ou', 'oi']
const CODAS = ['', 'b', 'ck', 'd', 'g', 'k', 'l', 'll', 'm', 'n', 'nd', 'ng', 'nk', 'p', 'r', 'rd', 'rk', 'rt', 's', 'sh', 'ss', 'st', 't', 'x', 'zz']

/** `n` distinct English-looking words of 4 to 14 letters. @param {number} n @param {number} seed */
export function pseudoWords(n, seed = 7) {
  const rnd = prng(seed)
  const pick = (/** @type {string[]} */ a) => a[Math.floor(rnd() * a.length)]
  const out = new Set()
  while (out.size < n) {
    const syllables = 1 + Math.floor(rnd() * 3)
    let w = ''
    for (let i = 0; i < syllables; i++) w += pick(ONSETS) + pick(VOWELS) + pick(CODAS)
    if (w.length >= 4 && w.length <= 14) out.add(w)
  }
  return [...out]
}

/** Fifty regex rules of the kinds operators write: ids, hostnames, accounts, project names. */
export function regexRules() {
  /** @type {{ name: string, regex: string, maxMatchLength: number, caseInsensitive?: boolean }[]} */
  const rules = []
  const prefixes = ['ACME', 'INV', 'PO', 'TKT', 'CASE', 'ORD', 'SKU', 'RMA', 'JIRA', 'OPS', 'SEC', 'HR', 'FIN', 'LEG', 'ENG', 'QA', 'REL', 'CHG', 'INC', 'PRB']
  prefixes.forEach((p, i) => rules.push({ name: `id-${p.toLowerCase()}`, regex: `${p}-[0-9]{${4 + (i % 4)}}`, maxMatchLength: p.length + 1 + 4 + (i % 4) }))
  const hosts = ['corp', 'internal', 'intra', 'lan', 'prod', 'staging', 'dev', 'vault', 'db', 'k8s']
  hosts.forEach((h) => rules.push({ name: `host-${h}`, regex: `[a-z0-9-]{1,40}\\.${h}\\.example\\.com`, maxMatchLength: 60 }))
  const projects = ['falcon', 'eagle', 'osprey', 'condor', 'kestrel', 'harrier', 'merlin', 'hobby', 'peregrine', 'gyrfalcon']
  projects.forEach((p) => rules.push({ name: `project-${p}`, regex: `project\\s+${p}`, caseInsensitive: true, maxMatchLength: 9 + p.length + 4 }))
  for (let i = 0; i < 10; i++) rules.push({ name: `account-${i}`, regex: `ACCT${i}[0-9]{8}`, maxMatchLength: 13 })
  return rules
}

/** The policy file both benches load. @param {{ keywords?: number, regexes?: boolean, pii?: boolean }} [o] */
export function benchPolicy(o = {}) {
  const words = pseudoWords(o.keywords ?? 1000)
  const lines = [
    'apiVersion: chaperone.dev/v1',
    'kind: Policy',
    'metadata: { name: bench-moderation }',
    'spec:',
    '  moderation:',
    '    rules:',
  ]
  if (words.length > 0) {
    lines.push('      - name: banned-words', '        direction: response', '        action: block', '        wordBoundary: true', `        keywords: [${words.join(', ')}]`)
  }
  if (o.regexes ?? true) {
    for (const r of regexRules()) {
      lines.push(`      - name: ${r.name}`, '        direction: response', '        action: redact', `        regex: '${r.regex}'`, `        maxMatchLength: ${r.maxMatchLength}`)
      if (r.caseInsensitive) lines.push('        caseInsensitive: true')
    }
  }
  if (o.pii ?? true) {
    lines.push('      - name: all-pii', '        direction: response', '        action: redact', '        pii: [email, phone, credit_card, iban, us_ssn, br_cpf, br_cnpj, ipv4, ipv6, jwt, api_key, mrn]')
  }
  return lines.join('\n') + '\n'
}
