import type { RequestBody } from '../chain/types.js'

/** A RequestBody over bytes already read; JSON is parsed at most once, on first use. */
export function bufferedBody(bytes: Uint8Array, contentType: string | undefined, contentEncoding: string | undefined): RequestBody {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
  const enc = contentEncoding?.trim().toLowerCase()
  const encoding = enc && enc !== 'identity' ? enc : undefined
  let parsed: { value: unknown } | undefined
  let outgoing = bytes
  return {
    bytes,
    contentType: type,
    encoding,
    json() {
      if (!parsed) {
        parsed = { value: undefined }
        if (encoding === undefined && isJsonType(type)) {
          try {
            parsed.value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown
          } catch {
            // Not JSON after all: filters see no fields, and the bytes go upstream unchanged.
          }
        }
      }
      return parsed.value
    },
    replaceJson(value) {
      parsed = { value }
      outgoing = new TextEncoder().encode(JSON.stringify(value))
    },
    get outgoing() {
      return outgoing
    },
  }
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}

/** rawHeaders with Content-Length set to `length` (any previous one and Transfer-Encoding removed). */
export function withContentLength(raw: readonly string[], length: number): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase()
    if (lower === 'content-length' || lower === 'transfer-encoding') continue
    out.push(raw[i]!, raw[i + 1]!)
  }
  out.push('content-length', String(length))
  return out
}
