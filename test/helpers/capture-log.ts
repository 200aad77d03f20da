import type { LogPort } from '../../src/core/chain/types.js'

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error'
  obj: object
  msg: string | undefined
}

/** A LogPort that records what it is given, for assertions on what operators would see. */
export function captureLog(): LogPort & { entries: LogEntry[]; messages(level: LogEntry['level']): string[] } {
  const entries: LogEntry[] = []
  const at = (level: LogEntry['level']) => (obj: object, msg?: string) => void entries.push({ level, obj, msg })
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    messages: (level) => entries.filter((e) => e.level === level).map((e) => e.msg ?? ''),
  }
}
