/**
 * compileCondition: parse, check and plan once at policy load; evaluate per request without
 * throwing.
 */
import { celType, isCelError, parse, plan, type CelError, type CelResult } from '@bufbuild/cel'
import { toBindings, type CelActivation, type CelBindings } from './activation.js'
import { celEnvironment } from './environment.js'
import { compileFastPath, type FastProgram } from './fast-path.js'
import { overloadTable } from './overloads.js'
import { describePosition, focusOffset, positionOf } from './source-position.js'
import { checkSyntax } from './syntax-check.js'
import { checkCondition, type CheckedCondition, type MissingNote } from './type-check.js'
import type { CelVariableName } from './variables.js'

export interface Condition {
  /** The expression as written. */
  readonly expression: string
  /** The variables it reads; the others need not be accurate in the activation. */
  readonly variables: ReadonlySet<CelVariableName>
  /** Whether it may read `request.body`; when false the caller need not decode the body. */
  readonly readsRequestBody: boolean
  /** The `request` fields it reads by name; '*' when it may read any. */
  readonly requestFields: ReadonlySet<string>
  /**
   * true or false; or, when evaluation fails (a field that is not set, a type that differs at
   * run time, an unknown time zone read from data…), the reason, for the caller's onError policy.
   * Never throws.
   */
  evaluate(activation: CelActivation): boolean | { error: string }
}

export type CompileResult =
  | { ok: true; condition: Condition }
  /** `message` starts with where ("column 12: ", "line 2, column 5: "); line and column are 1-based. */
  | { ok: false; message: string; line: number; column: number }

const overloads = overloadTable(celEnvironment.funcs)

export function compileCondition(expression: string): CompileResult {
  const syntax = checkSyntax(expression)
  if (syntax !== undefined) return failure(expression, syntax.offset, syntax.message((offset) => describePosition(expression, offset)))
  let parsed: ReturnType<typeof parse>
  try {
    // The library's grammar wants a line break after a comment, even a final one.
    parsed = parse(expression.endsWith('\n') ? expression : `${expression}\n`)
  } catch (e) {
    return parseFailure(expression, e)
  }
  try {
    const checked = checkCondition(expression, parsed, overloads)
    if (!checked.ok) return failure(expression, checked.offset, checked.message)
    const program = plan(celEnvironment, parsed)
    const positions = parsed.sourceInfo?.positions ?? {}
    return { ok: true, condition: new CompiledCondition(expression, compileFastPath(parsed), program, checked, positions) }
  } catch (e) {
    // A tree shape the checker or planner does not expect: refuse it rather than fail the load.
    return failure(expression, 0, `cannot be compiled: ${e instanceof Error ? e.message : String(e)}`)
  }
}

type Program = (bindings: CelBindings) => CelResult

class CompiledCondition implements Condition {
  readonly variables: ReadonlySet<CelVariableName>
  readonly readsRequestBody: boolean
  readonly requestFields: ReadonlySet<string>
  private readonly missingNotes: ReadonlyMap<string, MissingNote>

  constructor(
    readonly expression: string,
    private readonly fast: FastProgram | undefined,
    private readonly program: Program,
    checked: CheckedCondition,
    private readonly positions: Readonly<Record<string, number>>,
  ) {
    this.variables = checked.variables
    this.readsRequestBody = checked.readsRequestBody
    this.requestFields = checked.requestFields
    this.missingNotes = checked.missingNotes
  }

  evaluate(activation: CelActivation): boolean | { error: string } {
    if (this.fast !== undefined) {
      try {
        const answer = this.fast(activation)
        if (answer !== undefined) return answer
      } catch {
        // an activation that is not plain data (a getter that throws…): the library decides
      }
    }
    let result: CelResult
    try {
      result = this.program(toBindings(activation, this.variables))
    } catch (e) {
      // The library returns its errors; this is for data it cannot even wrap (an invalid Date…).
      return { error: `evaluation failed: ${e instanceof Error ? e.message : String(e)}` }
    }
    if (result === true || result === false) return result
    if (isCelError(result)) return { error: this.explain(result) }
    return { error: `the condition gave a ${celType(result).name}, not true or false` }
  }

  private explain(error: CelError): string {
    const id = error.exprId?.toString()
    const position = id === undefined ? undefined : this.positions[id]
    if (id === undefined || position === undefined) return error.message
    const note = this.missingNotes.get(id)
    if (note !== undefined && /not found|no such key/.test(error.message)) return `${describePosition(this.expression, note.offset)}: ${note.text}`
    return `${describePosition(this.expression, focusOffset(this.expression, position))}: ${error.message}`
  }
}

function failure(expression: string, offset: number, message: string): CompileResult {
  const { line, column } = positionOf(expression, offset)
  return { ok: false, message: `${describePosition(expression, offset)}: ${message}`, line, column }
}

/** The library parser's own error, for what the token-level diagnostics let through. */
function parseFailure(expression: string, e: unknown): CompileResult {
  const err = e as { rawMessage?: unknown; message?: unknown; location?: { start?: { offset?: unknown } } }
  const offset = typeof err.location?.start?.offset === 'number' ? err.location.start.offset : 0
  const raw = typeof err.rawMessage === 'string' ? err.rawMessage : typeof err.message === 'string' ? err.message : String(e)
  return failure(expression, offset, `syntax error: ${raw.replace(/^<input>:\d+:\d+: /, '')}`)
}
