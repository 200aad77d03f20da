/**
 * Who is calling, as the filters after authz see it. The authz filter sets it in
 * ctx.state under PRINCIPAL_STATE from a verified token; without authz there is none.
 */
export interface Principal {
  readonly subject?: string
  readonly roles: readonly string[]
  readonly tenant?: string
  readonly region?: string
  readonly tier?: string
  readonly claims: Readonly<Record<string, unknown>>
}

export const PRINCIPAL_STATE = 'principal'

export function principalOf(state: ReadonlyMap<string, unknown>): Principal | undefined {
  return state.get(PRINCIPAL_STATE) as Principal | undefined
}
