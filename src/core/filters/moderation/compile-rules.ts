import { ConfigCompileError } from '../../config/errors.js'
import type { Ports } from '../../ports.js'
import { compileCondition, type Condition } from '../../cel/index.js'
import { activationReads } from '../../cel/request-activation.js'
import { compileKeywords } from '../../moderation/keywords/index.js'
import { compileRegexes, validateRegexRule } from '../../moderation/regex/index.js'
import { compilePii, type PiiType } from '../../moderation/pii/index.js'
import { foldText } from '../../moderation/normalize/index.js'
import { maskFor } from '../../moderation/redact.js'
import type { CompiledModeration, MatcherBinding, ModerationRule, RuleRef } from '../../moderation/rules.js'
import type { ModerationConfig } from './schema.js'

export interface CompiledRules {
  readonly policy: CompiledModeration
  /** Per rule: its `when`, when it has one. */
  readonly conditions: readonly (Condition | undefined)[]
  /** Some `when` reads the request body (request.model, request.body). */
  readonly conditionsReadBody: boolean
  /** Some `when` reads request.headers. */
  readonly conditionsReadHeaders: boolean
}

/**
 * Rules → one keyword automaton, one regex set and one PII detector set for the whole policy
 * (each shared by every rule that uses it), plus the conditions. Errors point at the rule's
 * key, relative to `spec.moderation`, so that the loader can name the file and path.
 */
export function compileRules(config: ModerationConfig, ports: Ports): CompiledRules {
  const rules: ModerationRule[] = []
  const conditions: (Condition | undefined)[] = []
  const seen = new Map<string, number>()

  const keywordEntries: { text: string; wordBoundary: boolean }[] = []
  const keywordRefs: RuleRef[][] = []
  const keywordIndex = new Map<string, number>()
  const regexRules: { pattern: string; caseInsensitive: boolean; maxMatchLength: number }[] = []
  const regexRefs: RuleRef[][] = []
  const piiRefs = new Map<PiiType, RuleRef[]>()

  config.rules.forEach((r, i) => {
    const at = (...p: (string | number)[]) => ['rules', i, ...p]
    const dup = seen.get(r.name)
    if (dup !== undefined) throw new ConfigCompileError(at('name'), `rule name ${JSON.stringify(r.name)} is already used by rules[${dup}]`)
    seen.set(r.name, i)

    let condition: Condition | undefined
    if (r.when !== undefined) {
      const c = compileCondition(r.when)
      if (!c.ok) throw new ConfigCompileError(at('when'), c.message)
      condition = c.condition
    }
    conditions.push(condition)

    let classifierRule: ModerationRule['classifier']
    if (r.classifier) {
      const classifier = ports.classifiers?.get(r.classifier.name)
      if (!classifier) {
        const known = [...(ports.classifiers?.keys() ?? [])]
        throw new ConfigCompileError(at('classifier', 'name'), `no classifier named ${JSON.stringify(r.classifier.name)} is configured${known.length ? ` (configured: ${known.join(', ')})` : ''}`)
      }
      classifierRule = { classifier, thresholds: r.classifier.thresholds, mode: r.classifier.mode, timeoutMs: r.classifier.timeoutMs, onError: r.classifier.onError }
    }

    rules.push({
      name: r.name,
      direction: r.direction,
      action: r.action,
      shadow: r.shadow,
      mask: maskFor(r.redact, r.pii !== undefined),
      ...(classifierRule ? { classifier: classifierRule } : {}),
    })

    if (r.keywords || r.lists) {
      const words = [...(r.keywords ?? [])]
      r.lists?.forEach((name, li) => {
        const list = config.lists?.[name]
        if (!list) throw new ConfigCompileError(at('lists', li), `no keyword list named ${JSON.stringify(name)} in moderation.lists`)
        words.push(...list)
      })
      words.forEach((w, wi) => {
        const folded = foldText(w).trim()
        if (folded === '') throw new ConfigCompileError(at(r.keywords && wi < r.keywords.length ? 'keywords' : 'lists', wi), `keyword ${JSON.stringify(w)} is empty after normalization`)
        // Entries are shared by folded text and boundary flag; each keeps the list of rules.
        const key = `${r.wordBoundary ? 'b' : 's'}:${folded}`
        let id = keywordIndex.get(key)
        if (id === undefined) {
          id = keywordEntries.length
          keywordIndex.set(key, id)
          keywordEntries.push({ text: folded, wordBoundary: r.wordBoundary })
          keywordRefs.push([])
        }
        if (!keywordRefs[id]!.some((ref) => ref.rule === i)) keywordRefs[id]!.push({ rule: i })
      })
    }
    if (r.regex !== undefined) {
      const v = validateRegexRule(r.regex, { caseInsensitive: r.caseInsensitive }, r.maxMatchLength!)
      if (!v.ok) throw new ConfigCompileError(at('regex'), v.message)
      regexRules.push({ pattern: r.regex, caseInsensitive: r.caseInsensitive, maxMatchLength: r.maxMatchLength! })
      regexRefs.push([{ rule: i }])
    }
    for (const type of r.pii ?? []) {
      let refs = piiRefs.get(type)
      if (!refs) piiRefs.set(type, (refs = []))
      refs.push({ rule: i, label: type })
    }
  })

  const reads = activationReads(conditions)
  const matchers: MatcherBinding[] = []
  if (keywordEntries.length > 0) matchers.push({ matcher: compileKeywords(keywordEntries), refs: keywordRefs })
  if (regexRules.length > 0) matchers.push({ matcher: compileRegexes(regexRules), refs: regexRefs })
  if (piiRefs.size > 0) {
    const types = [...piiRefs.keys()]
    matchers.push({ matcher: compilePii(types), refs: types.map((t) => piiRefs.get(t)!) })
  }
  return {
    policy: { rules, matchers, decodeBase64: config.normalize.decodeBase64, classifierWindow: config.classifierWindowChars },
    conditions,
    conditionsReadBody: reads.body,
    conditionsReadHeaders: reads.headers,
  }
}
