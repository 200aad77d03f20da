/**
 * Polls until `cond` holds or `ms` pass, and says which. Tests assert on the state afterwards,
 * so a slow machine makes them slower, never wrong, and no sleep is an assertion in disguise.
 */
export async function eventually(cond: () => boolean, ms = 5000, stepMs = 5): Promise<boolean> {
  const deadline = performance.now() + ms
  while (!cond()) {
    if (performance.now() > deadline) return false
    await new Promise((r) => setTimeout(r, stepMs))
  }
  return true
}
