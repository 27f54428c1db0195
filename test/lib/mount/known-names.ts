/**
 * Names known to the binding (docs/MOUNT.md, "Names known here"): in a folder made through the
 * mount, a lookup of a name never made there is answered without JavaScript; every name made
 * there, through the kernel or (announced by `changing`) behind it, is still found. The mount
 * is served in this process over a journaled view; every access to it is a child process.
 */
import t, { type Test } from 'tap'
import type { JournaledView } from '../../../lib/mount/journaled-view.js'
import type { MountHandle } from '../../../mount.js'
import { sh } from '../../helpers/mount.js'
import { servedMount } from '../../helpers/served-mount.js'

/** A journaled view mounted here; `asked` holds every path its `stat` was asked, in order. */
async function mounted(t: Test): Promise<{ dir: string; view: JournaledView; handle: MountHandle; asked: string[] }> {
  const asked: string[] = []
  const spy = (view: JournaledView) => {
    const stat = view.stat.bind(view)
    view.stat = (path) => {
      asked.push(path)
      return stat(path)
    }
  }
  const { dir, view, handle } = await servedMount(t, 'app/k', spy)
  return { dir, view, handle, asked }
}

t.test('a lookup of a name never made in a folder made here does not reach the view', async (t) => {
  const { dir, asked } = await mounted(t)
  await sh(`mkdir ${dir}/d && echo a > ${dir}/d/a && mkdir ${dir}/d/sub && ln -s a ${dir}/d/l`)
  asked.length = 0
  t.equal(await sh(`cat ${dir}/d/a; readlink ${dir}/d/l; test -e ${dir}/d/nothing || echo none`), 'a\na\nnone\n')
  t.notOk(asked.includes('d/nothing'), 'answered by the binding')
  // A folder not made here (the root was there before): its lookups go to the view.
  await sh(`test -e ${dir}/nothing || true`)
  t.ok(asked.includes('nothing'), 'asked of the view')
  // Names made by a rename into it are found, and a name removed is simply asked of the view.
  await sh(`echo b > ${dir}/b && mv ${dir}/b ${dir}/d/moved && rm ${dir}/d/a`)
  asked.length = 0
  t.equal(await sh(`cat ${dir}/d/moved; test -e ${dir}/d/a || echo gone`), 'b\ngone\n')
})

t.test('a name made behind the kernel while `changing` is found; a folder listing it is not known', async (t) => {
  const { dir, view, handle, asked } = await mounted(t)
  await sh(`mkdir ${dir}/d`)
  const done = handle.changing()
  // During the change a folder made through the kernel is not known either.
  await sh(`mkdir ${dir}/e`)
  await view.create('d/behind', 0o644)
  await view.write('d/behind', Buffer.from('from elsewhere'), 0)
  await view.create('e/behind', 0o644)
  done()
  t.equal(await sh(`cat ${dir}/d/behind ${dir}/e/behind`), 'from elsewhere')
  asked.length = 0
  await sh(`test -e ${dir}/e/nothing || true`)
  t.ok(asked.includes('e/nothing'), 'the folder made during the change asks the view')
})

t.test('the hidden name of a file deleted while open is found in a folder made here', async (t) => {
  const { dir } = await mounted(t)
  await sh(`mkdir ${dir}/d && echo kept > ${dir}/d/f`)
  const out = await sh(
    `ino=$(stat -c %i ${dir}/d/f); exec 3<${dir}/d/f; rm ${dir}/d/f; cat ${dir}/d/.fuse_hidden$(printf %016x $ino); exec 3<&-`,
  )
  t.equal(out, 'kept\n', 'read by its hidden name')
})
