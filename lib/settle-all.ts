/**
 * `Promise.all` that waits for every promise to settle before it rejects with the first failure.
 *
 * `Promise.all` rejects at the first failure and leaves the others running. In a walk that
 * stores what it reads, those others go on storing into a store that has already reported the
 * run failed, and on threads that the caller closes next; awaited with this, a failed walk has
 * stopped when its caller hears of the failure. No rejection is left unseen either.
 */
export async function settleAll<T>(items: readonly (T | PromiseLike<T>)[]): Promise<Awaited<T>[]> {
  const settled = await Promise.allSettled(items)
  const failed = settled.find((s) => s.status === 'rejected')
  if (failed) throw failed.reason
  return settled.map((s) => (s as PromiseFulfilledResult<Awaited<T>>).value)
}
