import client from 'prom-client'
import type { AuditStats } from './writer.js'
import { LOSS_REASONS } from './writer.js'

/**
 * The audit writer's health, read from its stats() at scrape time: the request path only queues
 * records. Loss is counted by reason and never silent (ChaperoneAuditLoss pages on any).
 */
export function registerAuditMetrics(registry: client.Registry, stats: () => AuditStats): void {
  const registers = [registry]
  const gauge = (name: string, help: string, read: (s: AuditStats) => number) =>
    new client.Gauge({
      name,
      help,
      registers,
      collect(this: client.Gauge) {
        this.set(read(stats()))
      },
    })
  const counter = (name: string, help: string, read: (s: AuditStats) => number) =>
    new client.Counter({
      name,
      help,
      registers,
      collect(this: client.Counter) {
        this.reset()
        this.inc(read(stats()))
      },
    })
  counter('chaperone_audit_records_total', 'Records the audit sink took (decisions, reloads, checkpoints, start and recovery records).', (s) => s.written)
  new client.Counter({
    name: 'chaperone_audit_lost_records_total',
    help: 'Audit records lost, by reason: queue_full (block policy, or buffer past the queue), spill_full, spill_error, spill_torn, unsynced (written but an fsync failed), closed, invalid.',
    labelNames: ['reason'],
    registers,
    collect(this: client.Counter<'reason'>) {
      this.reset()
      const lost = stats().lost
      for (const r of LOSS_REASONS) this.labels(r).inc(lost[r] ?? 0)
    },
  })
  counter('chaperone_audit_sink_errors_total', 'Audit sink failures (open, write, fsync); the writer retries with backoff.', (s) => s.sinkErrors)
  counter('chaperone_audit_checkpoints_total', 'Signed checkpoints written.', (s) => s.checkpoints)
  counter('chaperone_audit_checkpoint_copy_errors_total', 'Checkpoints the second sink (file or Redis) did not take.', (s) => s.checkpointCopyErrors)
  counter('chaperone_audit_pseudonym_fallbacks_total', 'Subjects written without their per-subject pseudonym because Redis did not answer (the onRedisError policy applied).', (s) => s.pseudonyms.fallbacks)
  gauge('chaperone_audit_queue_depth', 'Audit records waiting for the sink.', (s) => s.queued)
  gauge('chaperone_audit_lag_seconds', 'Age of the oldest queued audit record.', (s) => s.lagMs / 1000)
  gauge('chaperone_audit_accepting', '1 while records can be kept; 0 means audit-required routes are refused (onFailure: block).', (s) => (s.accepting ? 1 : 0))
  gauge('chaperone_audit_sink_up', '1 while the audit sink takes writes.', (s) => (s.sinkUp ? 1 : 0))
  gauge('chaperone_audit_spill_bytes', 'Bytes in the spill file waiting for the sink (onFailure: buffer).', (s) => s.spill?.bytes ?? 0)
}
