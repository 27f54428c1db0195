/** Sizes for people: 1023 B, 1.5 KiB, 2.0 GiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`
}

/** An ISO time for people, to the second, in UTC as stored: `2026-12-03 18:00:05`. */
export function formatTime(iso: string): string {
  return iso.slice(0, 19).replace('T', ' ')
}

/** A file change in one word of one width, so that listed paths line up: `new    `, `changed`, `deleted`. */
export function changeWord(change: 'added' | 'changed' | 'deleted'): string {
  return change === 'added' ? 'new    ' : change
}
