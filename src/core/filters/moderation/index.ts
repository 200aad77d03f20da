import type { FilterFactory } from '../../chain/types.js'
import type { Ports } from '../../ports.js'
import { compileRules } from './compile-rules.js'
import { createModerationFilter } from './filter.js'
import { attachPreview } from './preview.js'
import { moderationSchema, type ModerationConfig } from './schema.js'

/** `spec.moderation`: keywords, regex, PII and classifier rules over prompts and answers. */
export const moderationFactory: FilterFactory<ModerationConfig, Ports> = {
  name: 'moderation',
  schema: moderationSchema,
  compile(config, ports) {
    const compiled = compileRules(config, ports)
    const filter = attachPreview(createModerationFilter(config, compiled, ports), config, compiled)
    return compiled.ready ? Object.assign(filter, { ready: compiled.ready }) : filter
  },
}
