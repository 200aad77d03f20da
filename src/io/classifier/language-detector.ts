/**
 * Language detection for classifier routing, with eld (Efficient Language Detector): about
 * 20 µs a window on this machine, and it says when it is not sure (a few words). The smallest
 * database is used: it tells apart the languages a routing rule needs, and the larger ones cost
 * 60–150 MB more memory in every sidecar. It is loaded only when a policy first needs it.
 */
import type { LanguageDetectorHandle } from '../../core/ports.js'

interface Eld {
  detect(text: string): { language: string; isReliable(): boolean }
}

export class EldLanguageDetector implements LanguageDetectorHandle {
  #eld: Eld | undefined
  #loading: Promise<void> | undefined

  ready(): Promise<void> {
    this.#loading ??= import('eld/extrasmall').then((m) => {
      this.#eld = (m as unknown as { eld: Eld }).eld
    })
    return this.#loading
  }

  detect(text: string): { language: string | undefined; reliable: boolean } {
    // Before ready() settles no window is routed away: the model scores it (never passed unscored).
    if (!this.#eld) return { language: undefined, reliable: false }
    const r = this.#eld.detect(text)
    return { language: r.language || undefined, reliable: r.language !== '' && r.isReliable() }
  }
}
