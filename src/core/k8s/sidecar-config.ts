/**
 * The injector's sidecar settings file (`chaperone inject-webhook --sidecar-config FILE`): what
 * every injected sidecar looks like unless a pod's annotations say otherwise. Closed at every
 * depth and fully defaulted, so an absent or empty file is valid. Read once at start.
 */
import { z } from 'zod'
import { ROOT_PATH, type ConfigError } from '../config/errors.js'
import { issuesToErrors } from '../config/issues.js'
import { parseYamlFile } from '../config/yaml.js'

export const DEFAULT_SIDECAR_IMAGE = 'ghcr.io/chaperone-proxy/chaperone:0.1.0'

const port = (def: number, description: string) => z.number().int().min(1).max(65535).default(def).describe(description)

/** RFC 1123 subdomain: what the API server accepts as a ConfigMap or Secret name. */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const objectName = (def: string, description: string) =>
  z.string().regex(DNS_SUBDOMAIN, 'expected a Kubernetes object name (lowercase letters, digits, "-" and ".")').default(def).describe(description)

/** The API server's own Quantity pattern; a bad one would make every injected pod invalid. */
const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/
const quantity = z.union([z.string().regex(QUANTITY, 'expected a Kubernetes quantity, e.g. 100m or 256Mi'), z.number().nonnegative()])
const resourceList = z.record(z.string().min(1), quantity)

const envVar = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'expected an environment variable name'),
    value: z.string().optional(),
    // Passed through as written: the API server validates the source (secretKeyRef, fieldRef, …).
    valueFrom: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((e) => e.value === undefined || e.valueFrom === undefined, { message: 'value and valueFrom are exclusive' })

export const sidecarSettingsSchema = z
  .strictObject({
    image: z.string().regex(/^\S+$/, 'expected an image reference').default(DEFAULT_SIDECAR_IMAGE).describe('Image of the injected sidecar.'),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    configMap: objectName('chaperone-config', 'Policies ConfigMap when a pod has no chaperone.dev/config annotation (in the pod’s namespace).'),
    adminSecret: objectName('chaperone-admin', 'Secret (in the pod’s namespace) with key admin-token; optional: without it /admin/* stays disabled.'),
    listenPort: port(8080, 'Chaperone’s port when a pod has no chaperone.dev/listen-port annotation.'),
    upstreamPort: port(8000, 'The chatbot’s port when a pod has no chaperone.dev/upstream-port annotation.'),
    adminPort: port(9090, 'Probes and metrics port when a pod has no chaperone.dev/admin-port annotation.'),
    resources: z
      .strictObject({ requests: resourceList.optional(), limits: resourceList.optional() })
      .default({ requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '256Mi' } })
      .describe('Resources of the sidecar; replaces the default as a whole.'),
    env: z.array(envVar).default([]).describe('Extra EnvVar objects; one named CHAPERONE_ADMIN_TOKEN replaces the default secret reference.'),
    nativeSidecar: z
      .boolean()
      .default(false)
      .describe('Inject as an init container with restartPolicy Always (Kubernetes 1.29+): starts before and stops after the chatbot.'),
  })
  .superRefine((s, ctx) => {
    // The sidecar shares the pod's network namespace with the chatbot: one port each.
    const pairs: [keyof typeof s & string, keyof typeof s & string][] = [
      ['listenPort', 'upstreamPort'],
      ['adminPort', 'listenPort'],
      ['adminPort', 'upstreamPort'],
    ]
    for (const [a, b] of pairs) {
      if (s[a] === s[b]) ctx.addIssue({ code: 'custom', path: [a], message: `must differ from ${b} (both ${String(s[a])})` })
    }
    const names = new Set<string>()
    for (const [i, e] of s.env.entries()) {
      if (names.has(e.name)) ctx.addIssue({ code: 'custom', path: ['env', i, 'name'], message: `duplicate environment variable ${e.name}` })
      names.add(e.name)
    }
  })
  .prefault({})

export type SidecarSettings = z.output<typeof sidecarSettingsSchema>
export type SidecarSettingsInput = z.input<typeof sidecarSettingsSchema>

export type SidecarSettingsResult = { ok: true; settings: SidecarSettings } | { ok: false; errors: ConfigError[] }

/** `text` undefined means no file was given: every default applies. */
export function parseSidecarSettings(fileName: string, text: string | undefined): SidecarSettingsResult {
  if (text === undefined) return { ok: true, settings: sidecarSettingsSchema.parse(undefined) }
  const parsed = parseYamlFile(fileName, text)
  if (!parsed.ok) return parsed
  const [doc, extra] = parsed.docs
  if (extra) return { ok: false, errors: [{ file: fileName, path: ROOT_PATH, message: 'expected a single YAML document' }] }
  const result = sidecarSettingsSchema.safeParse(doc?.value ?? undefined)
  if (result.success) return { ok: true, settings: result.data }
  return { ok: false, errors: issuesToErrors(result.error.issues, { file: fileName, ...(doc ? { locate: doc.locate } : {}) }) }
}
