import { ConfigCompileError, ConfigCompileErrors } from '../../config/errors.js'
import type { Classifier, LanguageDetectorHandle, LoadedClassifier, Ports } from '../../ports.js'
import { compileCondition, type Condition } from '../../cel/index.js'
import { activationReads } from '../../cel/request-activation.js'
import { compileKeywords } from '../../moderation/keywords/index.js'
import { compileRegexes, validateRegexRule } from '../../moderation/regex/index.js'
import { compilePii, type PiiType } from '../../moderation/pii/index.js'
import { foldText } from '../../moderation/normalize/index.js'
import { maskFor } from '../../moderation/redact.js'
import type { CompiledModeration, MatcherBinding, ModerationRule, OtherLanguagesRule, RuleRef } from '../../moderation/rules.js'
import type { ModerationConfig, RuleConfig } from './schema.js'
import type { ClassifierDecl } from './classifier-schema.js'

export interface CompiledRules {
  readonly policy: CompiledModeration
  /** Per rule: its `when`, when it has one. */
  readonly conditions: readonly (Condition | undefined)[]
  /** Some `when` reads the request body (request.model, request.body). */
  readonly conditionsReadBody: boolean
  /** Some `when` reads request.headers. */
  readonly conditionsReadHeaders: boolean
  /**
   * Settles once every declared classifier (and the language detector) can run; rejects with a
   * ConfigCompileError naming the declaration that cannot.
   */
  readonly ready?: () => Promise<void>
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
  const declared = loadDeclared(config, ports)
  const lookup = (name: string): Classifier | undefined => declared.get(name)?.classifier ?? ports.classifiers?.get(name)
  const known = () => [...new Set([...declared.keys(), ...(ports.classifiers?.keys() ?? [])])]
  let detector: LanguageDetectorHandle | undefined

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
      const classifier = lookup(r.classifier.name)
      if (!classifier) throw new ConfigCompileError(at('classifier', 'name'), `no classifier named ${JSON.stringify(r.classifier.name)} is declared in moderation.classifiers${known().length ? ` (declared: ${known().join(', ')})` : ''}`)
      const languages = languagesOf(classifier, declared.get(r.classifier.name)?.decl)
      const otherLanguages = r.classifier.otherLanguages ? compileOtherLanguages(r, config, lookup, declared, at) : undefined
      if (languages && !detector) {
        if (!ports.classifierLoader) throw new ConfigCompileError(at('classifier', 'name'), `classifier ${JSON.stringify(r.classifier.name)} covers only ${[...languages].join(', ')}, and no language detector is available here`)
        detector = ports.classifierLoader.languageDetector()
      }
      classifierRule = {
        classifier,
        thresholds: r.classifier.thresholds,
        mode: r.classifier.mode,
        timeoutMs: r.classifier.timeoutMs,
        onError: r.classifier.onError,
        ...(languages ? { languages } : {}),
        ...(otherLanguages ? { otherLanguages } : {}),
      }
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
  const waits = [...declared].map(([name, d]) => ({ path: declPath(name, d.decl), ready: () => d.classifier.ready() }))
  if (detector) {
    const d = detector
    waits.push({ path: ['classifiers'], ready: () => d.ready() })
  }
  return {
    policy: { rules, matchers, decodeBase64: config.normalize.decodeBase64, classifierWindow: config.classifierWindowChars, ...(detector ? { languageDetector: detector } : {}) },
    conditions,
    conditionsReadBody: reads.body,
    conditionsReadHeaders: reads.headers,
    ...(waits.length > 0 ? { ready: () => readyAll(waits) } : {}),
  }
}

interface Declared {
  readonly decl: ClassifierDecl
  readonly classifier: LoadedClassifier
}

function declPath(name: string, decl: ClassifierDecl): (string | number)[] {
  return decl.onnx ? ['classifiers', name, 'onnx', 'model'] : ['classifiers', name, 'remote', 'url']
}

function loadDeclared(config: ModerationConfig, ports: Ports): Map<string, Declared> {
  const out = new Map<string, Declared>()
  for (const [name, decl] of Object.entries(config.classifiers ?? {})) {
    if (ports.classifiers?.has(name)) throw new ConfigCompileError(['classifiers', name], `the process already provides a classifier named ${JSON.stringify(name)}`)
    if (!ports.classifierLoader) throw new ConfigCompileError(['classifiers', name], 'classifiers cannot be loaded here')
    try {
      out.set(name, { decl, classifier: ports.classifierLoader.load(name, decl) })
    } catch (e) {
      throw new ConfigCompileError(declPath(name, decl), (e as Error).message, { cause: e })
    }
  }
  return out
}

/** The declaration's languages win over the model's own; 'any' and a classifier without any mean every language. */
function languagesOf(classifier: Classifier, decl: ClassifierDecl | undefined): ReadonlySet<string> | undefined {
  const l = decl?.languages ?? classifier.languages
  return l === undefined || l === 'any' ? undefined : new Set(l)
}

function compileOtherLanguages(
  r: RuleConfig,
  config: ModerationConfig,
  lookup: (name: string) => Classifier | undefined,
  declared: ReadonlyMap<string, Declared>,
  at: (...p: (string | number)[]) => (string | number)[],
): OtherLanguagesRule {
  const o = r.classifier!.otherLanguages!
  let keywords: OtherLanguagesRule['keywords']
  if (o.lists) {
    const entries: { text: string; wordBoundary: boolean }[] = []
    o.lists.forEach((name, li) => {
      const list = config.lists?.[name]
      if (!list) throw new ConfigCompileError(at('classifier', 'otherLanguages', 'lists', li), `no keyword list named ${JSON.stringify(name)} in moderation.lists`)
      for (const w of list) {
        const folded = foldText(w).trim()
        if (folded !== '') entries.push({ text: folded, wordBoundary: r.wordBoundary })
      }
    })
    if (entries.length > 0) keywords = compileKeywords(entries)
  }
  let classifier: OtherLanguagesRule['classifier']
  if (o.classifier) {
    const c = lookup(o.classifier.name)
    if (!c) throw new ConfigCompileError(at('classifier', 'otherLanguages', 'classifier', 'name'), `no classifier named ${JSON.stringify(o.classifier.name)} is declared in moderation.classifiers`)
    if (o.classifier.name === r.classifier!.name) throw new ConfigCompileError(at('classifier', 'otherLanguages', 'classifier', 'name'), 'the fallback must be another classifier than the rule’s own')
    const languages = languagesOf(c, declared.get(o.classifier.name)?.decl)
    classifier = { classifier: c, thresholds: o.classifier.thresholds, ...(languages ? { languages } : {}) }
  }
  return { ...(keywords ? { keywords } : {}), ...(classifier ? { classifier } : {}) }
}

async function readyAll(waits: readonly { path: (string | number)[]; ready: () => Promise<void> }[]): Promise<void> {
  const results = await Promise.allSettled(waits.map((w) => w.ready()))
  const errors = results.flatMap((r, i) => (r.status === 'rejected' ? [new ConfigCompileError(waits[i]!.path, r.reason instanceof Error ? r.reason.message : String(r.reason))] : []))
  if (errors.length === 1) throw errors[0]
  if (errors.length > 1) throw new ConfigCompileErrors(errors)
}
