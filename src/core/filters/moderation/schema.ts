import { z } from 'zod'
import { PII_TYPES } from '../../moderation/pii/index.js'
import { classifierDeclSchema, otherLanguagesSchema } from './classifier-schema.js'

const redact = z
  .strictObject({
    template: z.string().min(1).max(200).optional().describe('Replacement text; "{label}" becomes the PII type in capitals. Default "[REDACTED:{label}]" for PII, "[REDACTED]" otherwise.'),
    keepFirst: z.number().int().min(0).max(16).optional().describe('Partial mask: keep this many leading characters.'),
    keepLast: z.number().int().min(0).max(16).optional().describe('Partial mask: keep this many trailing characters, e.g. 4 for "****1234".'),
    maskChar: z.string().min(1).max(2).optional().describe('The character of a partial mask (default "*").'),
  })
  .describe('How a redacted span is written.')

const classifier = z
  .strictObject({
    name: z.string().min(1).describe('A classifier declared in moderation.classifiers, e.g. "toxicity".'),
    thresholds: z.record(z.string(), z.number().min(0).max(1)).refine((t) => Object.keys(t).length > 0, 'at least one label threshold').describe('Label → score at or above which the window matches, e.g. {hate: 0.8}.'),
    mode: z.enum(['inline', 'async']).default('inline').describe('inline: the window waits for the verdict; async: text flows on and a late verdict ends the stream with a retraction.'),
    timeoutMs: z.number().int().min(1).max(10_000).default(250),
    onError: z.enum(['allow', 'block']).default('allow').describe('What a timeout or a classifier failure (an open circuit breaker, a full queue) means for this rule; counted in chaperone_moderation_dependency_errors_total.'),
    otherLanguages: otherLanguagesSchema.optional(),
  })
  .describe('Score text windows (sentences, at most `windowChars`) with a classifier.')

export const ruleSchema = z
  .strictObject({
    name: z.string().min(1).max(128).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-"'),
    direction: z.enum(['request', 'response', 'both']).default('both').describe('request: prompts; response: the chatbot\'s answer; both.'),
    action: z.enum(['block', 'redact', 'flag']).default('block').describe('When rules overlap, the strictest wins: block, then redact, then flag.'),
    shadow: z.boolean().default(false).describe('Evaluate, log and count; never act.'),
    when: z.string().min(1).max(4096).optional().describe('CEL condition over principal, request, time and source; the rule applies only when it is true.'),
    keywords: z.array(z.string().min(1).max(256)).optional().describe('Words or phrases, matched on normalized text (case, homoglyphs, leetspeak, spacing folded).'),
    lists: z.array(z.string().min(1)).optional().describe('Names of keyword lists in `moderation.lists` (per language or region).'),
    wordBoundary: z.boolean().default(false).describe('Keywords match whole words only.'),
    regex: z.string().min(1).max(2000).optional().describe('An RE2 pattern over the literal normalized text (NFKC, invisible characters removed).'),
    caseInsensitive: z.boolean().default(false),
    maxMatchLength: z.number().int().min(1).max(4096).optional().describe('Required with regex: the longest match, which bounds how much text the rule holds back.'),
    pii: z.array(z.enum(PII_TYPES)).min(1).optional().describe(`PII detectors: ${PII_TYPES.join(', ')}.`),
    classifier: classifier.optional(),
    redact: redact.optional(),
  })
  .superRefine((r, ctx) => {
    const kinds = [r.keywords || r.lists ? 'keywords' : undefined, r.regex ? 'regex' : undefined, r.pii ? 'pii' : undefined, r.classifier ? 'classifier' : undefined].filter(Boolean)
    if (kinds.length !== 1) ctx.addIssue({ code: 'custom', message: `a rule needs exactly one of keywords/lists, regex, pii, classifier (found ${kinds.length === 0 ? 'none' : kinds.join(', ')})` })
    if (r.regex && r.maxMatchLength === undefined) ctx.addIssue({ code: 'custom', path: ['maxMatchLength'], message: 'required with regex: it bounds how much text the rule holds back' })
    if (r.classifier?.mode === 'async' && r.action === 'redact') ctx.addIssue({ code: 'custom', path: ['action'], message: 'an async classifier verdict arrives after the text is sent, so it can block (retract) or flag, not redact' })
  })

export const moderationSchema = z
  .strictObject({
    rules: z.array(ruleSchema).default([]),
    lists: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/), z.array(z.string().min(1).max(256))).optional().describe('Named keyword lists, e.g. per language: {profanity-de: [...]}.'),
    classifiers: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/), classifierDeclSchema).optional().describe('Classifiers rules can name: a shipped or mounted ONNX model, or a remote moderation endpoint.'),
    normalize: z
      .strictObject({
        decodeBase64: z.boolean().default(false).describe('Also check what base64 segments (16+ characters) decode to.'),
      })
      .prefault({}),
    classifierWindowChars: z.number().int().min(16).max(8192).default(400).describe('Longest window a classifier scores; a sentence end closes a window earlier.'),
    penaltyPoints: z.number().min(0).max(1_000_000).default(10).describe('Points a request that gets blocked reports to the abuse penalty box of the rate limits (a rateLimits entry with penalty); 0 reports nothing.'),
    blockMessage: z.string().min(1).max(500).default('This response was stopped by the content policy.').describe('What the user sees when a response is blocked; it reveals no rule.'),
    principal: z
      .strictObject({
        regionHeader: z.string().toLowerCase().optional().describe('A header set by a trusted hop (ingress, mesh) carrying the region; used when no verified claim gives one.'),
        tierHeader: z.string().toLowerCase().optional(),
        prefer: z.enum(['claim', 'header']).default('claim').describe('Which wins when a verified claim and the trusted header disagree.'),
      })
      .prefault({}),
    onConditionError: z.enum(['apply', 'skip']).default('apply').describe('A `when` that fails to evaluate: apply the rule (fail closed) or skip it; counted either way.'),
  })
  .describe('Streaming moderation of prompts and answers.')

export type ModerationConfig = z.output<typeof moderationSchema>
export type RuleConfig = z.output<typeof ruleSchema>
