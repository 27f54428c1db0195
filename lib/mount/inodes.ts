/**
 * The mount's inode table: the kernel names files by inode number, the views by path. Each
 * inode the kernel knows is a node in a tree of names, so its path is found by walking up and a
 * rename moves one node (with everything under it). Numbers are never reused, so an old number
 * cannot reach a new file.
 *
 * The kernel counts its references (each answer that names an inode is one) and gives them back
 * with FORGET; a node goes once the kernel forgot it, nothing under it is known and no file of
 * it is open.
 */

export const ROOT_INO = 1

/** An inode's state as the kernel was told it: type and mode bits, size, time, version. */
export interface Seen {
  mode: number
  size: number
  mtimeMs: number
  version?: string
}

export interface Inode {
  readonly ino: number
  /** The folder it is in, by name; undefined once deleted or replaced (it lives on while open). */
  parent: Inode | undefined
  name: string
  /** References the kernel holds. */
  lookups: number
  /** Open files of it. */
  opens: number
  /** Written since last made durable. */
  dirty: boolean
  /** A file deleted while open: renamed to a hidden name, deleted at its last close. */
  hidden?: boolean
  /** What the kernel was last told of it, to see what changed without it (`Seen`). */
  seen?: Seen
  children?: Map<string, Inode>
}

export class Inodes {
  readonly #byIno = new Map<number, Inode>()
  #next = ROOT_INO + 1
  readonly root: Inode = { ino: ROOT_INO, parent: undefined, name: '', lookups: 1, opens: 0, dirty: false }

  constructor() {
    this.#byIno.set(ROOT_INO, this.root)
  }

  get(ino: number): Inode | undefined {
    return this.#byIno.get(ino)
  }

  /** An inode number for a node made later (`child` with it): the binding answers creations with these. */
  reserve(): number {
    return this.#next++
  }

  /** The node of `name` in `parent`, made if the table has none (numbered `ino` if one was reserved for it). */
  child(parent: Inode, name: string, ino?: number): Inode {
    let node = parent.children?.get(name)
    if (!node) {
      node = { ino: ino ?? this.#next++, parent, name, lookups: 0, opens: 0, dirty: false }
      ;(parent.children ??= new Map()).set(name, node)
      this.#byIno.set(node.ino, node)
    }
    return node
  }

  /** The node of `name` in `parent`, if the table has one. */
  peek(parent: Inode, name: string): Inode | undefined {
    return parent.children?.get(name)
  }

  /** The view path of `node` ('' for the root); undefined once it has no name (deleted). */
  pathOf(node: Inode): string | undefined {
    if (node === this.root) return ''
    let path = node.name
    for (let p = node.parent; p !== this.root; p = p.parent) {
      if (!p) return undefined
      path = `${p.name}/${path}`
    }
    return node.parent ? path : undefined
  }

  /** The path of `name` in folder `parent`. */
  pathIn(parent: Inode, name: string): string | undefined {
    const dir = this.pathOf(parent)
    return dir === undefined ? undefined : dir === '' ? name : `${dir}/${name}`
  }

  /** `name` in `parent` is gone (deleted, or replaced by a rename): its node keeps its number. */
  detach(parent: Inode, name: string): void {
    const node = parent.children?.get(name)
    if (!node) return
    parent.children!.delete(name)
    node.parent = undefined
    this.#drop(node)
    this.#prune(parent)
  }

  /** A rename: the node at `name` moves to `newName` in `newParent`, replacing what was there. */
  move(parent: Inode, name: string, newParent: Inode, newName: string): void {
    const node = parent.children?.get(name)
    this.detach(newParent, newName)
    if (!node) return
    parent.children!.delete(name)
    node.parent = newParent
    node.name = newName
    ;(newParent.children ??= new Map()).set(newName, node)
    this.#prune(parent)
  }

  /**
   * The kernel takes a reference to `node`. A node dropped since it was handed out (a listing
   * answered in parts) is put back, under its name if that is still free.
   */
  hold(node: Inode): void {
    node.lookups++
    if (this.#byIno.get(node.ino) === node) return
    this.#byIno.set(node.ino, node)
    const parent = node.parent
    if (parent && this.#byIno.get(parent.ino) === parent && !parent.children?.has(node.name))
      (parent.children ??= new Map()).set(node.name, node)
    else node.parent = undefined
  }

  /** The kernel gave back `count` references. */
  forget(ino: number, count: number): void {
    const node = this.#byIno.get(ino)
    if (!node || node === this.root) return
    node.lookups = Math.max(0, node.lookups - count)
    this.#drop(node)
  }

  /** Drop `node` if nothing holds it any more; then its folder, if that is held by nothing either. */
  release(node: Inode): void {
    this.#drop(node)
  }

  #drop(node: Inode): void {
    if (node === this.root || node.lookups > 0 || node.opens > 0 || node.children?.size) return
    this.#byIno.delete(node.ino)
    const parent = node.parent
    if (parent && parent.children?.get(node.name) === node) {
      parent.children.delete(node.name)
      this.#prune(parent)
    }
  }

  #prune(folder: Inode): void {
    if (folder.children?.size === 0) folder.children = undefined
    if (!folder.children && folder.lookups === 0 && folder.opens === 0 && this.#byIno.get(folder.ino) === folder) this.#drop(folder)
  }

  /** Every node the kernel may know but the root. */
  all(): Inode[] {
    return [...this.#byIno.values()].filter((n) => n !== this.root)
  }
}
