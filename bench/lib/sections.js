// @ts-check
// bench/RESULTS.md is written by several benches: run.js owns the top, and each other bench owns
// one section between `<!-- name:begin -->` and `<!-- name:end -->` that it rewrites alone.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'

/** The benches that own a section, in the order they append. */
export const SECTION_NAMES = ['moderation', 'authz', 'ratelimit', 'cache', 'classifier', 'telemetry', 'audit']

const pattern = (/** @type {string} */ name) => new RegExp(`<!-- ${name}:begin -->[\\s\\S]*<!-- ${name}:end -->`)

/** Replaces (or appends) the `name` section of `file` with `markdown`. @param {string} file @param {string} name @param {string} markdown */
export function writeSection(file, name, markdown) {
  const current = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const section = `<!-- ${name}:begin -->\n${markdown}\n<!-- ${name}:end -->`
  writeFileSync(file, pattern(name).test(current) ? current.replace(pattern(name), section) : `${current.trimEnd()}\n\n${section}\n`)
}

/** Every bench-owned section of `text`, to keep them when run.js rewrites the top. @param {string} text */
export function ownedSections(text) {
  return SECTION_NAMES.map((n) => pattern(n).exec(text)?.[0]).filter((s) => s !== undefined)
}
