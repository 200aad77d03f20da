export { MemoryRevocationStore } from './memory-store.js'
export { RedisRevocationStore, type RedisRevocationStoreOptions } from './redis-store.js'
export { MAX_ENTRY_CHARS, RevocationStoreFullError, toRevocation } from './revocation-entry.js'
export { RevocationSet } from './revocation-set.js'
