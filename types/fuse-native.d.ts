// The part of fuse-native's API that mount.ts uses (the package ships no types).
declare module 'fuse-native' {
  type Callback<T = unknown> = (code: number, value?: T) => void
  export interface Stat {
    mtime: Date
    atime: Date
    ctime: Date
    size: number
    mode: number
    uid: number
    gid: number
    nlink?: number
  }
  export interface Operations {
    init?(cb: Callback): void
    getattr?(path: string, cb: Callback<Stat>): void
    readdir?(path: string, cb: (code: number, names?: string[]) => void): void
    readlink?(path: string, cb: Callback<string>): void
    open?(path: string, flags: number, cb: Callback<number>): void
    release?(path: string, fd: number, cb: Callback): void
    read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytes: number) => void): void
    write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: (bytes: number) => void): void
    create?(path: string, mode: number, cb: Callback<number>): void
    unlink?(path: string, cb: Callback): void
    mkdir?(path: string, mode: number, cb: Callback): void
    rmdir?(path: string, cb: Callback): void
    rename?(src: string, dest: string, cb: Callback): void
    truncate?(path: string, size: number, cb: Callback): void
    chmod?(path: string, mode: number, cb: Callback): void
    /** Times in milliseconds since the epoch (not Dates, whatever older typings said). */
    utimens?(path: string, atime: number, mtime: number, cb: Callback): void
  }
  export interface FuseOptions {
    force?: boolean
    mkdir?: boolean
    debug?: boolean
    fsname?: string
    autoUnmount?: boolean
    [option: string]: unknown
  }
  export default class Fuse {
    constructor(mnt: string, ops: Operations, opts?: FuseOptions)
    mount(cb: (err: Error | null) => void): void
    unmount(cb: (err: Error | null) => void): void
    static unmount(mnt: string, cb: (err: Error | null) => void): void
    static isConfigured(cb: (err: Error | null, configured: boolean) => void): void
    static ENOENT: number
    static EROFS: number
    static EIO: number
    static ENOTDIR: number
    static EISDIR: number
    static EINVAL: number
    static EPERM: number
  }
}
