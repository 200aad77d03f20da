/**
 * Validates rendered Kubernetes manifests against the API's JSON schemas, from maintained
 * packages: kubernetes-models for the built-in kinds, and the prometheus-operator and cert-manager
 * models for the CRDs the chart may render. No cluster is needed.
 */
import { parseAllDocuments } from 'yaml'

/** apiVersion → the module that models its kinds. */
function moduleFor(apiVersion: string): string | undefined {
  if (apiVersion === 'v1') return 'kubernetes-models/v1'
  if (apiVersion.startsWith('monitoring.coreos.com/')) return `@kubernetes-models/prometheus-operator/${apiVersion}`
  if (apiVersion.startsWith('cert-manager.io/')) return `@kubernetes-models/cert-manager/${apiVersion}`
  const [group, version] = apiVersion.split('/')
  if (!group || !version) return undefined
  // Built-in groups without a dot (apps, batch, policy…) keep their short name in the package.
  return `kubernetes-models/${group}/${version}`
}

/** Errors as `kind/name: message`; empty when every document is valid. Unknown kinds are errors too. */
export async function validateManifests(yamlText: string): Promise<string[]> {
  const errors: string[] = []
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) {
      errors.push(`(yaml): ${doc.errors.map((e) => e.message).join('; ')}`)
      continue
    }
    const value = doc.toJS() as { apiVersion?: string; kind?: string; metadata?: { name?: string } } | null
    if (value === null || value === undefined) continue
    errors.push(...(await validateObject(value)))
  }
  return errors
}

export async function validateObject(value: { apiVersion?: string; kind?: string; metadata?: { name?: string } }): Promise<string[]> {
  const where = `${value.kind ?? '(no kind)'}/${value.metadata?.name ?? '(no name)'}`
  if (!value.apiVersion || !value.kind) return [`${where}: apiVersion and kind are required`]
  const mod = moduleFor(value.apiVersion)
  let models: Record<string, unknown>
  try {
    models = (await import(mod ?? '(none)')) as Record<string, unknown>
  } catch {
    return [`${where}: no schema for apiVersion ${value.apiVersion}`]
  }
  const Model = models[value.kind] as (new (data: unknown) => { validate(): void }) | undefined
  if (!Model) return [`${where}: no schema for kind ${value.kind} in ${value.apiVersion}`]
  try {
    new Model(value).validate()
    return []
  } catch (err) {
    return [`${where}: ${(err as Error).message}`]
  }
}
