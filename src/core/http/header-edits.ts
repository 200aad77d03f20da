import type { HeaderEdits } from '../chain/types.js'

/**
 * Header changes the filters ask for, applied to the flat [name, value, …] list the upstream
 * receives. Empty until a filter writes, so a request without edits pays nothing at forward.
 */
export class HeaderEditList implements HeaderEdits {
  #edits: Map<string, string | null> | undefined

  set(name: string, value: string): void {
    ;(this.#edits ??= new Map()).set(name.toLowerCase(), value)
  }

  remove(name: string): void {
    ;(this.#edits ??= new Map()).set(name.toLowerCase(), null)
  }

  apply(raw: string[]): string[] {
    const edits = this.#edits
    if (!edits) return raw
    const out: string[] = []
    for (let i = 0; i < raw.length; i += 2) {
      if (!edits.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!)
    }
    for (const [name, value] of edits) if (value !== null) out.push(name, value)
    return out
  }
}
