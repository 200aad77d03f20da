import { isObject } from './json.js'

export type Path = readonly (string | number)[]

/**
 * Keys whose string values are protocol, not prose: identifiers, enums, signatures, opaque or
 * binary payloads. Text under them is never shown to a reader, and rewriting it would break the
 * protocol (an item_id the client looks up, a signature the API verifies), so the deep scan of
 * unknown events skips them. Every other string is treated as text.
 */
const STRUCTURAL_KEYS = new Set([
  'type',
  'object',
  'id',
  'model',
  'role',
  'status',
  'finish_reason',
  'stop_reason',
  'stop_sequence',
  'signature',
  'encrypted_content',
  'encrypted_index',
  'obfuscation',
  'logprobs',
  'top_logprobs',
  'system_fingerprint',
  'service_tier',
  'media_type',
  'mime_type',
  'b64_json',
])

export function isStructuralKey(key: string): boolean {
  return STRUCTURAL_KEYS.has(key) || key.endsWith('_id') || key.endsWith('_b64')
}

/** Deeper JSON than this is not walked: the caller treats the whole event as one opaque text. */
export const MAX_SCAN_DEPTH = 64

/**
 * Calls `onText` with the path and value of every string in `root` that is not under a
 * structural key, in document order; object keys themselves are not text. Returns false (after
 * reporting what it saw) when the value nests deeper than MAX_SCAN_DEPTH, so that the caller can
 * fall back to scanning the raw JSON rather than miss a string.
 */
export function scanStrings(root: unknown, base: Path, onText: (path: Path, text: string) => void): boolean {
  return walk(root, base as (string | number)[], onText, 0)
}

function walk(v: unknown, path: (string | number)[], onText: (path: Path, text: string) => void, depth: number): boolean {
  if (typeof v === 'string') {
    if (v !== '') onText(path, v)
    return true
  }
  if (typeof v !== 'object' || v === null) return true
  if (depth >= MAX_SCAN_DEPTH) return false
  let ok = true
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) ok = walk(v[i], [...path, i], onText, depth + 1) && ok
    return ok
  }
  if (!isObject(v)) return true
  for (const key of Object.keys(v)) {
    if (isStructuralKey(key)) continue
    ok = walk(v[key], [...path, key], onText, depth + 1) && ok
  }
  return ok
}
