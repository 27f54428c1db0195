import t from 'tap'
import { settleAll } from '../../lib/settle-all.js'

t.test('values in order when all succeed', async (t) => {
  t.same(await settleAll([1, Promise.resolve(2), new Promise((r) => setTimeout(() => r(3), 5))]), [1, 2, 3])
})

t.test('rejects with the first failure only once every promise has settled', async (t) => {
  let slowDone = false
  const slow = new Promise((r) => setTimeout(() => r((slowDone = true)), 30))
  const failing = Promise.reject(new Error('first'))
  const later = new Promise((_, reject) => setTimeout(() => reject(new Error('second')), 10))
  await t.rejects(settleAll([failing, slow, later]), { message: 'first' })
  t.ok(slowDone, 'the slow one had finished before the rejection')
})
