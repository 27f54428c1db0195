/**
 * Progress of long operations, as the command line shows it (lib/sync/progress.ts is what the
 * library reports): on a terminal, a bar drawn by cli-progress (a well-kept renderer: redraws
 * at most 5 times a second, ETA over a moving window) with the bytes and files done of the
 * total, the rate and the current file; with --json, one JSON line per quarter second on stderr
 * (stdout keeps the one result document); in a pipe, nothing (the command's summary is the
 * only output, as restic's).
 */
import cliProgress from 'cli-progress'
import type { ProgressFor, ProgressSink } from '../sync/progress.js'
import { formatBytes } from '../text/format.js'
import type { CliIo } from './io.js'

/** What both renderers count. */
class Tally {
  files = 0
  bytes = 0
  filesTotal = 0
  bytesTotal = 0
  current = ''
  /** Where the shown file's bytes end in the count: a small file read meanwhile does not replace it. */
  #currentEnd = 0
  readonly start = performance.now()

  file(path: string, size: number): void {
    this.files++
    if (this.bytes < this.#currentEnd && size < this.#currentEnd - this.bytes) return
    this.current = path
    this.#currentEnd = this.bytes + size
  }

  get seconds(): number {
    return Math.max(0.001, (performance.now() - this.start) / 1000)
  }

  get rate(): number {
    return this.bytes / this.seconds
  }
}

/** The file's name cut to `width` characters from the left, so that its end stays readable. */
function fit(path: string, width: number): string {
  return path.length <= width ? path : '…' + path.slice(path.length - width + 1)
}

class TerminalBar implements ProgressSink {
  #t = new Tally()
  #bar: cliProgress.SingleBar
  #label: string
  #columns: number
  #started = false

  constructor(io: CliIo, label: string) {
    this.#label = label
    this.#columns = (io.stderr as NodeJS.WriteStream).columns || 100
    this.#bar = new cliProgress.SingleBar({
      stream: io.stderr as NodeJS.WriteStream,
      format: '{label} {percentage}% [{bar}] {done} of {size}, {files} files, {rate}, ETA {eta_formatted} {file}',
      barsize: 16,
      fps: 5,
      hideCursor: true,
      clearOnComplete: true,
      linewrap: false,
      etaBuffer: 50,
      formatValue: (v, _o, type) => (type === 'percentage' ? String(v).padStart(3) : String(v)),
    })
  }

  #payload() {
    const t = this.#t
    return {
      label: this.#label,
      done: formatBytes(t.bytes),
      size: formatBytes(t.bytesTotal),
      files: `${t.files} of ${t.filesTotal}`,
      rate: `${formatBytes(t.rate)}/s`,
      file: fit(t.current, Math.max(10, this.#columns - 100)),
    }
  }

  total(files: number, bytes: number): void {
    this.#t.filesTotal = files
    this.#t.bytesTotal = bytes
    if (bytes === 0 && files === 0) return
    this.#bar.start(Math.max(1, bytes), 0, this.#payload())
    this.#started = true
  }

  file(path: string, size: number): void {
    this.#t.file(path, size)
    if (this.#started) this.#bar.update(Math.min(this.#t.bytes, this.#t.bytesTotal), this.#payload())
  }

  add(bytes: number): void {
    this.#t.bytes += bytes
    if (this.#started) this.#bar.update(Math.min(this.#t.bytes, this.#t.bytesTotal), this.#payload())
  }

  done(): void {
    if (!this.#started) return
    this.#t.current = ''
    this.#bar.update(this.#t.bytesTotal, this.#payload())
    this.#bar.stop()
  }
}

/** One JSON line on stderr per quarter second, and one at the end (`"done": true`). */
class JsonEvents implements ProgressSink {
  #t = new Tally()
  #io: CliIo
  #label: string
  #last = 0

  constructor(io: CliIo, label: string) {
    this.#io = io
    this.#label = label
  }

  #emit(done: boolean): void {
    const t = this.#t
    const now = performance.now()
    if (!done && now - this.#last < 250) return
    this.#last = now
    const fraction = t.bytesTotal ? Math.min(1, t.bytes / t.bytesTotal) : done ? 1 : 0
    const left = t.rate > 0 ? Math.max(0, (t.bytesTotal - t.bytes) / t.rate) : undefined
    this.#io.stderr.write(
      JSON.stringify({
        type: 'progress',
        operation: this.#label,
        percent: Math.floor(fraction * 1000) / 10,
        bytes_done: t.bytes,
        bytes_total: t.bytesTotal,
        files_done: t.files,
        files_total: t.filesTotal,
        bytes_per_second: Math.round(t.rate),
        ...(left !== undefined && !done ? { eta_seconds: Math.round(left) } : {}),
        ...(t.current && !done ? { file: t.current } : {}),
        seconds: Math.round(t.seconds * 10) / 10,
        ...(done ? { done: true } : {}),
      }) + '\n',
    )
  }

  total(files: number, bytes: number): void {
    this.#t.filesTotal = files
    this.#t.bytesTotal = bytes
    this.#emit(false)
  }

  file(path: string, size: number): void {
    this.#t.file(path, size)
    this.#emit(false)
  }

  add(bytes: number): void {
    this.#t.bytes += bytes
    this.#emit(false)
  }

  done(): void {
    this.#emit(true)
  }
}

const silent: ProgressSink = { add: () => {}, done: () => {} }

/** The progress display for a command: a bar on a terminal, JSON lines with --json, else none. */
export function progressFor(io: CliIo, json: boolean | undefined): ProgressFor {
  if (json) return (label) => new JsonEvents(io, label)
  if (io.stderr.isTTY) return (label) => new TerminalBar(io, label)
  return () => silent
}
