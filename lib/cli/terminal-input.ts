/**
 * Questions on a terminal, one line each, the way a wizard asks several in a row: the terminal
 * in raw mode for the whole conversation, what was typed ahead kept for the next question (a
 * line-by-line reader that closes between questions would drop it), answers echoed unless
 * secret, Backspace, and Ctrl-C or Ctrl-D on an empty line to cancel.
 */
import { UsageError } from '../errors.js'

export class TerminalInput {
  #stdin: NodeJS.ReadStream
  #stderr: NodeJS.WritableStream
  #pending = ''
  #wasRaw: boolean | undefined
  #listening = false
  #wake: (() => void) | undefined
  #ended = false

  constructor(stdin: NodeJS.ReadStream, stderr: NodeJS.WritableStream) {
    this.#stdin = stdin
    this.#stderr = stderr
  }

  #onData = (data: Buffer | string) => {
    this.#pending += data.toString('utf8')
    this.#wake?.()
  }

  #onEnd = () => {
    this.#ended = true
    this.#wake?.()
  }

  #listen(): void {
    if (this.#listening) return
    this.#listening = true
    this.#wasRaw = this.#stdin.isRaw
    this.#stdin.setRawMode?.(true)
    this.#stdin.on('data', this.#onData)
    this.#stdin.on('end', this.#onEnd)
    this.#stdin.resume()
  }

  /** One line typed after `text`; echoed unless `secret`. */
  async line(text: string, o: { secret?: boolean } = {}): Promise<string> {
    this.#listen()
    this.#stderr.write(text)
    let value = ''
    for (;;) {
      while (this.#pending.length) {
        // One character (a code point: an emoji typed is one, as Backspace takes it back).
        const ch = String.fromCodePoint(this.#pending.codePointAt(0)!)
        this.#pending = this.#pending.slice(ch.length)
        if (ch === '\r' || ch === '\n') {
          // A line typed ahead may end in CR LF: one end.
          if (ch === '\r' && this.#pending.startsWith('\n')) this.#pending = this.#pending.slice(1)
          this.#stderr.write('\n')
          return value
        }
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
          this.#stderr.write('\n')
          throw new UsageError('cancelled; nothing was changed')
        }
        if (ch === '\u007f' || ch === '\b') {
          if (value && !o.secret) this.#stderr.write('\b \b')
          value = value.slice(0, /[\uDC00-\uDFFF]$/.test(value) ? -2 : -1)
        } else if (ch >= ' ') {
          value += ch
          if (!o.secret) this.#stderr.write(ch)
        }
      }
      if (this.#ended) {
        this.#stderr.write('\n')
        throw new UsageError('the terminal closed before the answer; nothing was changed')
      }
      await new Promise<void>((resolve) => (this.#wake = resolve))
      this.#wake = undefined
    }
  }

  /** A yes/no question; Enter takes `dflt`. */
  async yes(text: string, dflt: boolean): Promise<boolean> {
    for (;;) {
      const a = (await this.line(`${text} [${dflt ? 'Y/n' : 'y/N'}] `)).trim().toLowerCase()
      if (a === '') return dflt
      if (a === 'y' || a === 'yes') return true
      if (a === 'n' || a === 'no') return false
      this.#stderr.write('Answer y or n.\n')
    }
  }

  /** Give the terminal back as it was. */
  close(): void {
    if (!this.#listening) return
    this.#listening = false
    this.#stdin.off('data', this.#onData)
    this.#stdin.off('end', this.#onEnd)
    this.#stdin.setRawMode?.(this.#wasRaw ?? false)
    this.#stdin.pause()
  }
}
