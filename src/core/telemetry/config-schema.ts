/** `telemetry.traces` in chaperone.yaml: OpenTelemetry traces, off until an endpoint is set. */
import { z } from 'zod'

const otlpEndpoint = z
  .string()
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), { message: 'expected an http:// or https:// URL, e.g. http://otel-collector:4318/v1/traces' })

export const tracesConfigSchema = z
  .strictObject({
    endpoint: otlpEndpoint
      .nullable()
      .default(null)
      .describe('OTLP/HTTP (JSON) traces URL of a collector, with its path, e.g. http://otel-collector:4318/v1/traces; null: no traces, and a client\'s traceparent passes through untouched.'),
    serviceName: z.string().min(1).max(256).default('chaperone').describe('service.name of every span.'),
    sampleRatio: z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe('Share of new traces recorded (0 to 1). Parent-based: a request whose client sent a traceparent follows that trace\'s sampled flag.'),
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an HTTP header name'), z.string())
      .default({})
      .describe('Headers sent with every export (a collector\'s API key).'),
    exportTimeoutMs: z.number().int().min(1).max(60_000).default(10_000).describe('Longest one export may take; spans of a failed export are dropped.'),
  })
  // Optional rather than defaulted: absent and `endpoint: null` both mean off, and code that
  // builds a telemetry block by hand (tests) need not know of it.
  .optional()
  .describe('OpenTelemetry traces: a span per request with child spans per filter hook, the upstream call, Redis commands and classifier calls.')

export type TracesConfig = NonNullable<z.output<typeof tracesConfigSchema>>
