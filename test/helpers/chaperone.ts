import { mkdtemp, writeFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { startChaperone, type Running } from '../../src/main.js'
import type { FilterFactory } from '../../src/core/chain/types.js'
import type { Classifier } from '../../src/core/ports.js'
import type { ProcessConfig } from '../../src/core/config/process-schema.js'
import { startDemoChatbot, type DemoChatbot } from '../../src/demo/chatbot.js'

export const PASS_THROUGH_POLICY = `apiVersion: chaperone.dev/v1
kind: Policy
metadata: { name: test }
spec: {}
`

/** Collects pino's JSON lines so tests can assert on what was logged. */
export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = []
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(JSON.parse(line) as Record<string, unknown>)
    cb()
  }
  text(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n')
  }
}

export interface Stack {
  dir: string
  bot: DemoChatbot
  chaperone: Running
  logs: LogSink
  close(): Promise<void>
}

export async function tmpConfigDir(files: Record<string, string> = { 'policy.yaml': PASS_THROUGH_POLICY }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'chaperone-test-'))
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content)
  return dir
}

/** A demo chatbot and a Chaperone in front of it, both on free loopback ports. */
export async function startStack(opts: {
  files?: Record<string, string>
  dir?: string
  upstream?: string
  adjust?: (c: ProcessConfig) => ProcessConfig
  env?: Record<string, string>
  paceMs?: number
  factories?: readonly FilterFactory[]
  classifiers?: ReadonlyMap<string, Classifier>
} = {}): Promise<Stack> {
  const dir = opts.dir ?? (await tmpConfigDir(opts.files))
  const bot = await startDemoChatbot({ paceMs: opts.paceMs ?? 1 })
  const logs = new LogSink()
  const chaperone = await startChaperone({
    configDir: dir,
    overrides: { listen: '127.0.0.1:0', admin: '127.0.0.1:0', upstream: opts.upstream ?? bot.url },
    env: opts.env ?? { CHAPERONE_ADMIN_TOKEN: 'test-token' },
    logDestination: logs,
    ...(opts.factories && { factories: opts.factories }),
    ...(opts.classifiers && { classifiers: opts.classifiers }),
    adjust: (c) => {
      const fast = { ...c, reload: { debounceMs: 50, hashCheckIntervalMs: 0 }, telemetry: { logLevel: 'debug' as const, accessLog: true } }
      return opts.adjust ? opts.adjust(fast) : fast
    },
  })
  return {
    dir,
    bot,
    chaperone,
    logs,
    async close() {
      await chaperone.stop()
      await bot.close()
      if (!opts.dir) await rm(dir, { recursive: true, force: true })
    },
  }
}
