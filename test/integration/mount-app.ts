/**
 * `cloudy mount --app ID DIR`: one application's folder alone, the process holding only that
 * space's key (and the chain's). Every way toward another application's data finds nothing.
 */
import t from 'tap'
import { cloudy, computer, initVault, tempDir } from '../helpers/cli.js'
import { mountPoint, sh, startMount } from '../helpers/mount.js'

t.test('an --app mount reaches its own space and nothing else', async (t) => {
  const vault = tempDir(t, 'vault')
  const a = computer(t)
  await initVault(t, a, vault, [], 'alpha-pc')
  const full = mountPoint(t)
  const fullMount = await startMount(t, a, full)
  await sh(`mkdir ${full}/apps/alpha ${full}/apps/beta`)
  await sh(
    `echo BETA-SECRET > ${full}/apps/beta/secret.txt && mkdir ${full}/apps/beta/dir && echo BETA-SECRET > ${full}/apps/beta/dir/deep.txt`,
  )
  await sh(`echo alpha data > ${full}/apps/alpha/a.txt && mkdir ${full}/apps/alpha/sub`)
  // Links an application might plant to reach its neighbour.
  await sh(
    [
      `ln -s ../beta/secret.txt ${full}/apps/alpha/rel-link`,
      `ln -s ../../beta/secret.txt ${full}/apps/alpha/sub/rel-link2`,
      `ln -s /apps/beta/secret.txt ${full}/apps/alpha/abs-link`,
      `ln -s ${full}/apps/beta/secret.txt ${full}/apps/alpha/full-link`,
      `ln -s .. ${full}/apps/alpha/up`,
    ].join(' && '),
  )
  await fullMount.stop()

  const dir = mountPoint(t)
  const app = await startMount(t, a, dir, ['--app', 'alpha'])
  t.same(
    (await sh(`ls -A ${dir}`)).split('\n').filter(Boolean),
    ['a.txt', 'abs-link', 'full-link', 'rel-link', 'sub', 'up'],
    "listing: alpha's files only",
  )
  t.equal(await sh(`cat ${dir}/a.txt`), 'alpha data\n')
  for (const path of [
    `${dir}/../beta/secret.txt`,
    `${dir}/beta/secret.txt`,
    `${dir}/apps/beta/secret.txt`,
    `${dir}/sub/../../beta/secret.txt`,
    `${dir}/up/beta/secret.txt`,
    `${dir}/rel-link`,
    `${dir}/sub/rel-link2`,
    `${dir}/abs-link`,
    `${dir}/full-link`,
    `${dir}/.preview/PLAN.txt`,
    `${dir}/settings`,
  ])
    await t.rejects(sh(`cat ${path}`), /No such file|Is a directory/, `opening ${path.slice(dir.length)} finds nothing`)
  t.same(
    (await sh(`cd ${dir}/.. && ls -A`)).split('\n').filter(Boolean),
    ['m'],
    'traversing .. leaves the mount, into the folder it is mounted on',
  )
  t.same((await sh(`cd ${dir}/up && ls -A`)).split('\n').filter(Boolean), ['m'], 'a link to .. leads to the same place')
  await t.rejects(sh(`grep -r BETA-SECRET ${dir}`), /Command failed/, "no byte of beta's data anywhere under the mount")

  // The application writes; its data goes to its space, the full mount shows it.
  await sh(`echo written by alpha > ${dir}/new.txt`)
  await app.stop()
  const again = await startMount(t, a, full)
  t.equal(await sh(`cat ${full}/apps/alpha/new.txt`), 'written by alpha\n')
  t.equal(await sh(`cat ${full}/apps/beta/secret.txt`), 'BETA-SECRET\n', 'beta untouched')
  await again.stop()

  // An application not made yet is made by its first --app mount, and listed under apps/.
  const gamma = await startMount(t, a, dir, ['--app', 'gamma'])
  t.equal(await sh(`ls -A ${dir}`), '', 'a new application starts empty')
  await sh(`echo g > ${dir}/g.txt`)
  await gamma.stop()
  await startMount(t, a, full)
  t.same((await sh(`ls ${full}/apps`)).split('\n').filter(Boolean), ['alpha', 'beta', 'gamma'])
  t.equal(await sh(`cat ${full}/apps/gamma/g.txt`), 'g\n')

  const bad = await cloudy(a, ['mount', '--app', '../beta', dir])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /not an application id/)
})
