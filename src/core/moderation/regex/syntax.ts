/**
 * First pass over an operator's pattern, before RE2 and the parser see it:
 *  - constructs RE2 cannot run (backreferences, lookaround, atomic groups, possessive
 *    quantifiers, \C) are refused here with a message naming the construct and its offset,
 *    because RE2's own messages ("invalid perl operator: (?<") do not say what is wrong;
 *  - RE2 syntax that JavaScript lacks is rewritten into its JavaScript equivalent, so that
 *    regjsparser (in `u` mode, which reads code points as RE2 does) can parse the pattern for the
 *    analysis: (?P<name>…), \pL, \p{^Greek}, \x{…}, \Q…\E, \A, \z, [[:alpha:]], a literal `{`,
 *    `}` or `]`, escaped punctuation, and inline flags `(?i)` (scoped to the rest of their group).
 *
 * RE2 itself always compiles the operator's pattern as written; the rewrite is for the analysis.
 */

export type SyntaxResult = { ok: true; source: string } | { ok: false; message: string }

const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/')

const POSIX: Record<string, ReadonlyArray<readonly [number, number]>> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
}

const hex = (u: number): string => `\\u{${u.toString(16)}}`

function posixRanges(name: string, negated: boolean): string {
  const ranges = POSIX[name]!
  let out = ''
  if (!negated) {
    for (const [a, b] of ranges) out += a === b ? hex(a) : `${hex(a)}-${hex(b)}`
    return out
  }
  let next = 0
  for (const [a, b] of ranges) {
    if (a > next) out += `${hex(next)}-${hex(a - 1)}`
    next = b + 1
  }
  return out + `${hex(next)}-${hex(0x10ffff)}`
}

class Refusal extends Error {}

function refuse(message: string): never {
  throw new Refusal(message)
}

/** Rewrites `pattern` for regjsparser, or explains which unsupported construct it uses. */
export function toParserSyntax(pattern: string): SyntaxResult {
  try {
    return { ok: true, source: new Rewriter(pattern).run() }
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, message: e.message }
    throw e
  }
}

class Rewriter {
  private out = ''
  private i = 0
  /** Per open group (index 0 is the whole pattern): `)` still owed for inline flags inside it. */
  private readonly owed: number[] = [0]
  /** Inline flags may stand here: at the start of the pattern or of a group, or after `|`. */
  private atBranchStart = true

  constructor(private readonly p: string) {}

  run(): string {
    const p = this.p
    while (this.i < p.length) {
      const c = p[this.i]!
      const startOfBranch = this.atBranchStart
      this.atBranchStart = false
      switch (c) {
        case '\\':
          this.escape(false)
          break
        case '(':
          this.group(startOfBranch)
          break
        case ')':
          this.out += ')'.repeat(this.owed.pop() ?? 0)
          if (this.owed.length === 0) this.owed.push(0) // unbalanced: RE2 has refused it already
          this.out += ')'
          this.i++
          break
        case '|':
          this.out += '|'
          this.i++
          this.atBranchStart = true
          break
        case '[':
          this.charClass()
          break
        case '*':
        case '+':
        case '?':
          this.out += c
          this.i++
          this.afterQuantifier(c)
          break
        case '{': {
          const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(this.i))
          if (m) {
            this.out += m[0]
            this.i += m[0].length
            this.afterQuantifier(m[0])
          } else {
            // RE2 reads a brace that does not form a repetition as a literal.
            this.out += '\\{'
            this.i++
          }
          break
        }
        case '}':
        case ']':
          this.out += '\\' + c
          this.i++
          break
        default:
          this.out += c
          this.i++
      }
    }
    this.out += ')'.repeat(this.owed.reduce((a, b) => a + b, 0))
    return this.out
  }

  private afterQuantifier(q: string): void {
    const next = this.p[this.i]
    if (next === '+') {
      refuse(`possessive quantifier ${q}+ at offset ${this.i - q.length} is not supported by RE2; drop the last "+" (RE2 never backtracks, so the plain ${q} is just as safe)`)
    }
    if (next === '?') {
      this.out += '?'
      this.i++
    }
  }

  private group(startOfBranch: boolean): void {
    const p = this.p
    const at = this.i
    const rest = p.slice(at, at + 4)
    if (rest.startsWith('(?=')) refuse(`lookahead (?=…) at offset ${at} is not supported: RE2 has no lookaround assertions`)
    if (rest.startsWith('(?!')) refuse(`negative lookahead (?!…) at offset ${at} is not supported: RE2 has no lookaround assertions`)
    if (rest.startsWith('(?<=')) refuse(`lookbehind (?<=…) at offset ${at} is not supported: RE2 has no lookaround assertions`)
    if (rest.startsWith('(?<!')) refuse(`negative lookbehind (?<!…) at offset ${at} is not supported: RE2 has no lookaround assertions`)
    if (rest.startsWith('(?>')) refuse(`atomic group (?>…) at offset ${at} is not supported by RE2 (it never backtracks, so a plain (?:…) is just as safe)`)
    if (rest.startsWith('(?P=')) refuse(`named backreference (?P=…) at offset ${at} is not supported: RE2 has no backreferences`)
    if (rest.startsWith('(?P>') || rest.startsWith('(?R') || /^\(\?[+-]?\d/.test(rest)) refuse(`recursion at offset ${at} is not supported by RE2`)
    if (rest.startsWith('(?P<')) {
      this.out += '(?<'
      this.i += 4
      this.owed.push(0)
      this.atBranchStart = true
      return
    }
    const flags = /^\(\?([imsU]*)(?:-([imsU]*))?([:)])/.exec(p.slice(at))
    if (flags && (flags[1] !== '' || flags[2] !== undefined)) {
      const on = jsFlags(flags[1]!)
      const off = jsFlags(flags[2] ?? '')
      const open = on === '' && off === '' ? '(?:' : `(?${on}${off === '' ? '' : '-' + off}:`
      this.i += flags[0].length
      this.out += open
      if (flags[3] === ':') {
        this.owed.push(0)
      } else {
        // (?i) applies to the rest of its group, every later alternative included; at the start of
        // a branch that is exactly (?i:…) around the rest of the group.
        if (!startOfBranch) {
          refuse(`inline flags ${flags[0]} at offset ${at} must start the pattern, a group or an alternative; to apply them to part of a group write (?${flags[0].slice(2, -1)}:…)`)
        }
        this.owed[this.owed.length - 1]!++
      }
      this.atBranchStart = true
      return
    }
    this.out += '('
    this.i++
    if (p[this.i] === '?' && p[this.i + 1] === ':') {
      this.out += '?:'
      this.i += 2
    }
    this.owed.push(0)
    this.atBranchStart = true
  }

  private escape(inClass: boolean): void {
    const p = this.p
    const at = this.i
    const c = p[at + 1]
    if (c === undefined) {
      this.out += '\\'
      this.i++
      return
    }
    if (!inClass && c >= '1' && c <= '9') refuse(`backreference \\${c} at offset ${at} is not supported: RE2 matches in linear time and has no backreferences`)
    if (c === 'k' && p[at + 2] === '<') refuse(`named backreference ${p.slice(at, p.indexOf('>', at) + 1 || undefined)} at offset ${at} is not supported: RE2 has no backreferences`)
    if (c === 'C') refuse(`\\C at offset ${at} (any single byte) is not supported: it can split a character in two`)
    if (c === 'Q') {
      const end = p.indexOf('\\E', at + 2)
      const lit = p.slice(at + 2, end < 0 ? undefined : end)
      for (const ch of lit) this.out += hex(ch.codePointAt(0)!)
      this.i = end < 0 ? p.length : end + 2
      return
    }
    if (!inClass && c === 'A') {
      this.out += '^'
      this.i += 2
      return
    }
    if (!inClass && c === 'z') {
      this.out += '$'
      this.i += 2
      return
    }
    if (c === 'p' || c === 'P') {
      let name: string
      let len: number
      if (p[at + 2] === '{') {
        const close = p.indexOf('}', at + 3)
        if (close < 0) {
          this.out += p.slice(at)
          this.i = p.length
          return
        }
        name = p.slice(at + 3, close)
        len = close + 1 - at
      } else {
        name = p[at + 2] ?? ''
        len = 3
      }
      let negated = c === 'P'
      if (name.startsWith('^')) {
        negated = !negated
        name = name.slice(1)
      }
      this.out += `\\${negated ? 'P' : 'p'}{${name}}`
      this.i += len
      return
    }
    if (c === 'x' && p[at + 2] === '{') {
      const close = p.indexOf('}', at + 3)
      const digits = close < 0 ? '' : p.slice(at + 3, close)
      if (/^[0-9A-Fa-f]+$/.test(digits)) {
        this.out += `\\u{${digits}}`
        this.i = close + 1
        return
      }
    }
    const code = c.charCodeAt(0)
    if (code < 128 && !/[0-9A-Za-z]/.test(c) && !SYNTAX_CHARS.has(c) && !(inClass && c === '-')) {
      // RE2 lets any punctuation be escaped; JavaScript's u mode only the syntax characters.
      this.out += hex(code)
      this.i += 2
      return
    }
    this.out += '\\' + c
    this.i += 2
  }

  private charClass(): void {
    const p = this.p
    this.out += '['
    this.i++
    if (p[this.i] === '^') {
      this.out += '^'
      this.i++
    }
    // RE2 reads a `]` right after the opening bracket as a member.
    if (p[this.i] === ']') {
      this.out += '\\]'
      this.i++
    }
    let afterSetEscape = false
    while (this.i < p.length) {
      const c = p[this.i]!
      if (c === ']') {
        this.out += ']'
        this.i++
        return
      }
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(p.slice(this.i))
      if (posix && POSIX[posix[2]!]) {
        this.out += posixRanges(posix[2]!, posix[1] === '^')
        this.i += posix[0].length
        afterSetEscape = true
        continue
      }
      if (c === '\\') {
        const e = p[this.i + 1] ?? ''
        this.escape(true)
        afterSetEscape = /[dDwWsSpP]/.test(e)
        continue
      }
      if (c === '-') {
        // RE2 takes a `-` next to \d, \w… as a member; JavaScript's u mode refuses the range.
        const nextIsSet = p[this.i + 1] === '\\' && /[dDwWsSpP]/.test(p[this.i + 2] ?? '')
        this.out += afterSetEscape || nextIsSet ? '\\-' : '-'
      } else if (c === '[') {
        this.out += '\\['
      } else {
        this.out += c
      }
      afterSetEscape = false
      this.i++
    }
  }
}

function jsFlags(flags: string): string {
  // U (ungreedy) changes which match is preferred, not which texts can match: the analysis ignores it.
  let out = ''
  for (const f of 'ims') if (flags.includes(f)) out += f
  return out
}
