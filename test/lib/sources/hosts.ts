/** Which /etc/hosts lines name this computer, and how its own lines go back into the chain's text. */
import t from 'tap'
import { joinHosts, namesThisComputer, splitHosts } from '../../../lib/sources/hosts.js'

const names = ['alpha.example.org', 'alpha']

t.test('the lines that name this computer', async (t) => {
  t.ok(namesThisComputer('127.0.1.1\tanything', names), "Debian's own-name address")
  t.ok(namesThisComputer('127.0.0.1 localhost alpha', names), 'a loopback line with its name')
  t.ok(namesThisComputer('::1 ALPHA', names), 'names are not case-sensitive')
  t.notOk(namesThisComputer('127.0.0.1 localhost', names), 'localhost is every computer’s')
  t.notOk(namesThisComputer('10.0.0.7 alpha', names), 'a network address the user gave its name is shared')
  t.notOk(namesThisComputer('# 127.0.1.1 alpha', names), 'a comment')
  t.notOk(namesThisComputer('', names))
})

t.test('split and joined again, a hosts file is unchanged', async (t) => {
  const text = '127.0.0.1 localhost\n127.0.1.1 alpha.example.org alpha\n\n10.0.0.5 nas # the NAS\n::1 localhost ip6-localhost\n'
  const { shared, own } = splitHosts(text, names)
  t.equal(shared, '127.0.0.1 localhost\n\n10.0.0.5 nas # the NAS\n::1 localhost ip6-localhost\n')
  t.same(own, ['127.0.1.1 alpha.example.org alpha'])
  t.equal(joinHosts(shared, own), text)
  t.equal(joinHosts('10.0.0.5 nas\n', own), '127.0.1.1 alpha.example.org alpha\n10.0.0.5 nas\n', 'no loopback line: first')
  t.equal(splitHosts('127.0.0.1 localhost', names).shared, '127.0.0.1 localhost\n', 'a last line without a newline')
})
