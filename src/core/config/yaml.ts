/**
 * YAML text → plain values, keeping enough of the parse tree to give every later error a line.
 * YAML 1.2 core schema (so `no` stays a string), unique keys enforced, aliases bounded.
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Document, type Node } from 'yaml'
import { ROOT_PATH, type ConfigError, type PathSegment } from './errors.js'

export interface Position {
  readonly line: number
  readonly col: number
}

export interface YamlDocument {
  /** Index among the file's non-empty documents. */
  readonly index: number
  readonly value: unknown
  /** Best-effort position of the node at `path` (of its key when `key` is set). */
  locate(path: readonly PathSegment[], key?: boolean): Position | undefined
}

export type YamlParseResult = { ok: true; docs: YamlDocument[] } | { ok: false; errors: ConfigError[] }

/** Expanding aliases is where YAML bombs explode; configs have no reason for more. */
const MAX_ALIAS_COUNT = 100

export function parseYamlFile(file: string, content: string): YamlParseResult {
  const lineCounter = new LineCounter()
  const parsed = parseAllDocuments(content, { lineCounter, prettyErrors: true, uniqueKeys: true, version: '1.2', merge: false })
  // An empty stream comes back as an EmptyStream object rather than an array.
  const all = Array.isArray(parsed) ? parsed : []
  const errors: ConfigError[] = []
  const docs: YamlDocument[] = []
  for (const doc of all) {
    // Warnings (unknown tags and the like) would silently change meaning, so they are errors too.
    for (const e of [...doc.errors, ...doc.warnings]) {
      const pos = e.linePos?.[0]
      errors.push({
        file,
        path: ROOT_PATH,
        message: `YAML ${e.name === 'YAMLWarning' ? 'warning' : 'syntax error'}: ${firstLine(e.message)}`,
        ...(pos ? { line: pos.line, col: pos.col } : {}),
      })
    }
    if (errors.length > 0 || isEmpty(doc)) continue
    let value: unknown
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
    } catch (e) {
      errors.push({ file, path: ROOT_PATH, message: `YAML: ${(e as Error).message}` })
      continue
    }
    const index = docs.length
    docs.push({ index, value, locate: (path, key) => locate(doc, lineCounter, path, key) })
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, docs }
}

/** The library appends a code excerpt after the first line; the log wants one line. */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:$/, '')
}

/** A `---` with nothing after it, or a file of comments, is not a document anyone wrote. */
function isEmpty(doc: Document.Parsed): boolean {
  const c = doc.contents
  return c === null || (isScalar(c) && (c.value === null || c.value === undefined) && c.range[0] === c.range[1])
}

function locate(doc: Document.Parsed, lc: LineCounter, path: readonly PathSegment[], key = false): Position | undefined {
  let node: unknown = doc.contents
  let best: Node | undefined = isNode(node) ? node : undefined
  for (const [i, seg] of path.entries()) {
    const last = i === path.length - 1
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg))
      if (!pair) break
      if (last && key && isNode(pair.key)) {
        best = pair.key
        break
      }
      node = pair.value
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg]
    } else {
      break
    }
    if (!isNode(node)) break
    best = node
  }
  const offset = best?.range?.[0]
  return offset === undefined ? undefined : lc.linePos(offset)
}

function isNode(n: unknown): n is Node {
  return typeof n === 'object' && n !== null && 'range' in n
}
