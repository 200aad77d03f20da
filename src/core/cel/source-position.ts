/** Where an offset of an expression is, in the words an operator reads: "column 12", or "line 2, column 5". */
export function positionOf(source: string, offset: number): { line: number; column: number } {
  const at = Math.max(0, Math.min(offset, source.length))
  let line = 1
  let lineStart = 0
  for (let i = 0; i < at; i++) {
    if (source.charCodeAt(i) === 10) {
      line++
      lineStart = i + 1
    }
  }
  // Columns count characters as seen, so a surrogate pair is one column.
  let column = 1
  for (let i = lineStart; i < at; i++) {
    const c = source.charCodeAt(i)
    if (c < 0xdc00 || c > 0xdfff || i === lineStart) column++
  }
  return { line, column }
}

export function describePosition(source: string, offset: number): string {
  const { line, column } = positionOf(source, offset)
  return source.includes('\n') ? `line ${line}, column ${column}` : `column ${column}`
}

/**
 * The library records an operator at the blank before it and a field access or method call at
 * its dot; an operator looks for the operator or the name after the dot.
 */
export function focusOffset(source: string, position: number): number {
  let at = skipBlanks(source, position)
  if (source[at] === '.' && isNameStart(source.charCodeAt(skipBlanks(source, at + 1)))) at = skipBlanks(source, at + 1)
  return at
}

function skipBlanks(source: string, from: number): number {
  let at = from
  while (at < source.length && (source[at] === ' ' || source[at] === '\t' || source[at] === '\n' || source[at] === '\r')) at++
  return at
}

const isNameStart = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95
