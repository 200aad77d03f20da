#!/usr/bin/env node
import { parseCommand } from './cli-args.js'
import { startChaperone, installSignalHandlers, StartupError } from './main.js'
import { lintConfigDir } from './io/config/validate.js'
import { exportJsonSchemas } from './core/config/json-schema.js'
import { checkText, renderPreview } from './io/config/check.js'

async function run(): Promise<number> {
  const cmd = parseCommand(process.argv.slice(2), process.env)
  switch (cmd.name) {
    case 'help':
      process.stdout.write(cmd.text)
      return 0
    case 'error':
      process.stderr.write(cmd.text)
      return 2
    case 'schema': {
      const s = exportJsonSchemas()
      process.stdout.write(JSON.stringify(cmd.process ? s.process : s.policy, null, 2) + '\n')
      return 0
    }
    case 'validate': {
      const { errors, warnings } = await lintConfigDir(cmd.configDir)
      for (const l of errors) process.stdout.write(l + '\n')
      for (const l of warnings) process.stdout.write(`warning: ${l}\n`)
      if (errors.length === 0) process.stdout.write(`${cmd.configDir}: ok${warnings.length > 0 ? ` (${warnings.length} warning${warnings.length > 1 ? 's' : ''})` : ''}\n`)
      return errors.length === 0 ? 0 : 1
    }
    case 'check': {
      const out = await checkText(cmd.configDir, cmd.input)
      if (!out.ok) {
        for (const l of out.errors) process.stderr.write(l + '\n')
        return 1
      }
      if (!out.result) {
        process.stderr.write(`${cmd.configDir}: no moderation rules\n`)
        return 1
      }
      process.stdout.write(cmd.json ? JSON.stringify(out.result, null, 2) + '\n' : renderPreview(out.result))
      return out.result.decision === 'block' ? 4 : out.result.decision === 'redact' ? 3 : 0
    }
    case 'audit': {
      // Only imported here: the serving path never loads the verifier.
      const { runAuditCommand } = await import('./io/audit/cli-commands.js')
      return runAuditCommand(cmd.argv, { stdout: process.stdout, stderr: process.stderr })
    }
    case 'serve': {
      const overrides = { ...(cmd.listen && { listen: cmd.listen }), ...(cmd.upstream && { upstream: cmd.upstream }), ...(cmd.admin && { admin: cmd.admin }) }
      const running = await startChaperone({ configDir: cmd.configDir, overrides, env: process.env })
      installSignalHandlers(running)
      return -1
    }
    case 'inject-webhook': {
      // Only imported here: the serving path never loads the webhook.
      const { runInjectWebhook, WebhookStartupError } = await import('./io/webhook/server.js')
      try {
        await runInjectWebhook(cmd)
      } catch (err) {
        if (!(err instanceof WebhookStartupError)) throw err
        process.stderr.write(err.message + '\n')
        return 1
      }
      return -1
    }
    case 'demo': {
      // The demo chatbot is only imported here, so it never loads on the serving path.
      const { startDemoChatbot } = await import('./demo/chatbot.js')
      const bot = await startDemoChatbot({ ...(cmd.paceMs !== undefined && { paceMs: cmd.paceMs }) })
      const running = await startChaperone({ configDir: cmd.configDir, overrides: { upstream: bot.url }, env: process.env })
      installSignalHandlers(running)
      process.stdout.write(
        `\nChaperone ${running.proxyUrl} -> demo chatbot ${bot.url}; admin ${running.adminUrl}\n\nTry:\n` +
          `  curl -N ${running.proxyUrl}/v1/chat/completions -H 'content-type: application/json' \\\n` +
          `    -d '{"model":"demo","stream":true,"messages":[{"role":"user","content":"Hello"}]}'\n\n`,
      )
      return -1
    }
  }
}

run().then(
  (code) => {
    if (code >= 0) process.exitCode = code
  },
  (err: unknown) => {
    if (err instanceof StartupError) process.stderr.write(err.message + '\n')
    else process.stderr.write(`chaperone: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  },
)
