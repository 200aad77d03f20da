import { z } from 'zod'

/** ISO 639-1, as language detectors report it. */
const language = z.string().regex(/^[a-z]{2}$/, 'an ISO 639-1 code such as "en"')

const onnx = z
  .strictObject({
    model: z.string().min(1).max(4096).describe('The .onnx file: "builtin:toxicity" or "builtin:injection" for the shipped models, or a path (relative to the config directory, or absolute) to a model with the same input contract (README, "Model contract"). A change to the file reloads the policy.'),
    maxBatch: z.number().int().min(1).max(256).default(32).describe('Most windows scored in one run; windows of concurrent streams share a run.'),
    maxWaitMs: z.number().min(0).max(50).default(0).describe('Longest a window waits for others to fill its batch when the model is idle. 0 (continuous batching): an idle model runs a window at once, and windows that arrive while it runs form the next batch, so batches grow with load and an idle window never waits.'),
    maxQueue: z.number().int().min(1).max(1_000_000).default(4096).describe('Most windows waiting for a run; past it a window is refused at once and its rule applies onError.'),
    threads: z.number().int().min(1).max(16).default(1).describe('onnxruntime intra-op threads for this model. Runs are off the event loop either way.'),
  })
  .describe('A model run in-process by onnxruntime-node.')

const remote = z
  .strictObject({
    url: z
      .string()
      .refine((s) => /^https?:\/\/./.test(s) && URL.canParse(s), 'an http:// or https:// URL')
      .describe('Full URL of an OpenAI-compatible moderation endpoint, e.g. https://api.openai.com/v1/moderations.'),
    model: z.string().min(1).max(200).optional().describe('Sent as "model", e.g. omni-moderation-latest.'),
    apiKeyFile: z.string().min(1).optional().describe('File holding the bearer token (a mounted Secret); wins over apiKeyEnv.'),
    apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional().describe('Environment variable holding the bearer token.'),
    timeoutMs: z.number().int().min(1).max(60_000).default(2000).describe('Bound of one HTTP call; the rule’s own timeoutMs bounds what a window waits.'),
    maxBatch: z.number().int().min(1).max(256).default(32).describe('Most windows sent in one request.'),
    breaker: z
      .strictObject({
        consecutiveFailures: z.number().int().min(1).max(1000).default(5).describe('Failures in a row that open the circuit.'),
        halfOpenAfterMs: z.number().int().min(100).max(3_600_000).default(10_000).describe('While open, calls fail at once (onError); after this long one trial call goes through.'),
      })
      .prefault({}),
  })
  .describe('An OpenAI-compatible /v1/moderations endpoint (OpenAI, or a self-hosted guard model). Labels are its category names (hate, harassment, violence, …) and "flagged".')

export const classifierDeclSchema = z
  .strictObject({
    onnx: onnx.optional(),
    remote: remote.optional(),
    languages: z
      .union([z.array(language).min(1), z.literal('any')])
      .optional()
      .describe('Languages the classifier was trained on; windows detected in another language go to the rule’s otherLanguages fallback. Default: what the model file declares (onnx), any (remote).'),
  })
  .superRefine((d, ctx) => {
    if ((d.onnx ? 1 : 0) + (d.remote ? 1 : 0) !== 1) ctx.addIssue({ code: 'custom', message: 'a classifier needs exactly one of onnx, remote' })
  })
  .describe('A classifier moderation rules can name.')

export const otherLanguagesSchema = z
  .strictObject({
    lists: z.array(z.string().min(1)).min(1).optional().describe('Keyword lists (moderation.lists) checked on a window in a language the classifier does not cover; a hit applies the rule’s action.'),
    classifier: z
      .strictObject({
        name: z.string().min(1),
        thresholds: z.record(z.string(), z.number().min(0).max(1)).refine((t) => Object.keys(t).length > 0, 'at least one label threshold'),
      })
      .optional()
      .describe('Another classifier that covers the language (typically a remote one); its verdict applies the rule’s action.'),
  })
  .describe('Where windows in a language the classifier was not trained on go. Without lists or classifier the window is flagged (never acted on, never passed as clean). Every such window is counted as unsupported_language.')

export type ClassifierDecl = z.output<typeof classifierDeclSchema>
export type OtherLanguagesConfig = z.output<typeof otherLanguagesSchema>
