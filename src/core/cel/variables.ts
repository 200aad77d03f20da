/** The variables a condition may read, and their types for the load-time checker. */
import { DYN, listOf, mapOf, record, STRING, TIMESTAMP, type StaticType } from './static-types.js'

export type CelVariableName = 'principal' | 'request' | 'time' | 'source'

export const VARIABLE_TYPES: ReadonlyMap<CelVariableName, StaticType> = new Map<CelVariableName, StaticType>([
  [
    'principal',
    record('principal', {
      subject: STRING,
      roles: listOf(STRING),
      tenant: STRING,
      region: STRING,
      tier: STRING,
      claims: mapOf(STRING, DYN),
    }),
  ],
  [
    'request',
    record('request', {
      method: STRING,
      path: STRING,
      host: STRING,
      route: STRING,
      model: STRING,
      headers: mapOf(STRING, STRING),
      body: mapOf(STRING, DYN),
    }),
  ],
  ['time', TIMESTAMP],
  ['source', record('source', { ip: STRING })],
])

export function isVariableName(name: string): name is CelVariableName {
  return VARIABLE_TYPES.has(name as CelVariableName)
}
