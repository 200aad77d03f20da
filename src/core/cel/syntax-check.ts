/**
 * Syntax diagnostics an operator can act on. The library's parser reports where its last
 * alternative gave up, which is often not where the mistake is (`a == ` is reported at the `=`,
 * as "expecting end of input"), so the shape of the expression is checked first over tokens:
 * values and operators alternate, brackets pair up, every `?` has its `:`.
 * Returns undefined when the shape is sound; the library's parser remains the authority.
 */
import { lex, type Token } from './lexer.js'

export interface SyntaxProblem {
  readonly offset: number
  /** `at` renders another offset the message refers to ("column 4"). */
  readonly message: (at: (offset: number) => string) => string
}

type Opener = '(' | 'call(' | '[' | 'index[' | '{' | '?'

interface Open {
  readonly kind: Opener
  readonly offset: number
}

const BINARY: ReadonlySet<string> = new Set(['||', '&&', '==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', 'in'])
const LITERAL_WORDS: ReadonlySet<string> = new Set(['true', 'false', 'null'])
const CLOSES: Readonly<Record<string, readonly Opener[]>> = { ')': ['(', 'call('], ']': ['[', 'index['], '}': ['{'] }
const CLOSER_OF: Readonly<Record<Opener, string>> = { '(': ')', 'call(': ')', '[': ']', 'index[': ']', '{': '}', '?': ':' }

const show = (t: Token): string => `'${t.text.length > 24 ? `${t.text.slice(0, 21)}...` : t.text}'`
const isOperator = (t: Token): boolean => (t.kind === 'op' || t.text === 'in') && BINARY.has(t.text)
const startsValue = (t: Token): boolean =>
  t.kind === 'number' || t.kind === 'string' || (t.kind === 'ident' && t.text !== 'in') || t.text === '(' || t.text === '[' || t.text === '{' || t.text === '!'

/** `f()`, `[]`, `{}`, and the trailing comma CEL allows in list and map literals. */
function mayCloseEmpty(top: Open, prev: Token | undefined): boolean {
  if (prev?.offset === top.offset) return top.kind === 'call(' || top.kind === '[' || top.kind === '{'
  return prev?.text === ',' && (top.kind === '[' || top.kind === '{')
}

const problem = (offset: number, message: SyntaxProblem['message']): SyntaxProblem => ({ offset, message })

export function checkSyntax(src: string): SyntaxProblem | undefined {
  const lexed = lex(src)
  if (!lexed.ok) return problem(lexed.offset, () => lexed.message)
  const tokens = lexed.tokens
  if (tokens.length === 0) return problem(0, () => 'the expression is empty')

  const stack: Open[] = []
  let needValue = true
  let prev: Token | undefined
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!
    const next = tokens[i + 1]
    const top = stack[stack.length - 1]
    if (needValue) {
      if (t.kind === 'number' || t.kind === 'string' || (t.kind === 'ident' && t.text !== 'in')) {
        needValue = false
        if (t.kind === 'ident' && !LITERAL_WORDS.has(t.text) && next?.text === '(') {
          stack.push({ kind: 'call(', offset: next.offset })
          needValue = true
          i++
        }
      } else if (t.text === '(' || t.text === '[' || t.text === '{') {
        stack.push({ kind: t.text, offset: t.offset })
      } else if (t.text === '!' || t.text === '-') {
        // unary: still waiting for the value it applies to
      } else if (t.text === '.') {
        if (next?.kind !== 'ident') return problem(t.offset, () => "a name must follow '.'")
      } else if (t.text in CLOSES && top !== undefined && CLOSES[t.text]!.includes(top.kind) && mayCloseEmpty(top, prev)) {
        stack.pop()
        needValue = false
      } else if (t.text === ')' && top?.kind === '(' && prev?.offset === top.offset) {
        return problem(top.offset, () => "empty parentheses: '()' holds no value")
      } else if (prev === undefined) {
        return problem(t.offset, () => `the expression starts with ${show(t)}; a value must come first`)
      } else {
        const p = prev
        return problem(t.offset, (at) => `a value is missing between ${show(p)} at ${at(p.offset)} and ${show(t)}`)
      }
    } else if (isOperator(t)) {
      needValue = true
    } else if (t.text === '.') {
      if (next?.kind !== 'ident') return problem(t.offset, () => "a name must follow '.'")
      i++
      if (tokens[i + 1]?.text === '(') {
        stack.push({ kind: 'call(', offset: tokens[i + 1]!.offset })
        needValue = true
        i++
      }
    } else if (t.text === '[') {
      stack.push({ kind: 'index[', offset: t.offset })
      needValue = true
    } else if (t.text === '{' && prev?.kind === 'ident') {
      stack.push({ kind: '{', offset: t.offset })
      needValue = true
    } else if (t.text === '?') {
      stack.push({ kind: '?', offset: t.offset })
      needValue = true
    } else if (t.text === ':') {
      if (top?.kind === '?') stack.pop()
      else if (top?.kind !== '{') return problem(t.offset, () => "':' has no matching '?' (nor is it inside a map literal)")
      needValue = true
    } else if (t.text === ',') {
      if (top?.kind === '?') return problem(top.offset, () => "this '?' has no ':' part")
      if (top?.kind !== 'call(' && top?.kind !== '[' && top?.kind !== '{') return problem(t.offset, () => "',' may only separate arguments or list and map entries")
      needValue = true
    } else if (t.text in CLOSES) {
      if (top?.kind === '?') return problem(top.offset, () => "this '?' has no ':' part")
      if (top === undefined) return problem(t.offset, () => `${show(t)} has no matching opening bracket`)
      if (!CLOSES[t.text]!.includes(top.kind)) {
        return problem(t.offset, (at) => `${show(t)} does not close the '${top.kind.slice(-1)}' at ${at(top.offset)} (expected '${CLOSER_OF[top.kind]}')`)
      }
      stack.pop()
    } else if (startsValue(t)) {
      const p = prev!
      return problem(t.offset, (at) => `an operator is missing between ${show(p)} at ${at(p.offset)} and ${show(t)}`)
    } else {
      return problem(t.offset, () => `unexpected ${show(t)}`)
    }
    prev = tokens[i]
  }
  if (needValue) {
    const last = prev!
    return problem(last.offset, () => `the expression ends after ${show(last)}; a value is missing`)
  }
  const open = stack[stack.length - 1]
  if (open !== undefined) {
    if (open.kind === '?') return problem(open.offset, () => "this '?' has no ':' part")
    return problem(open.offset, () => `this '${open.kind.slice(-1)}' is never closed`)
  }
  return undefined
}
