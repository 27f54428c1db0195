/*
 * A small N-API binding to libfuse 3's low-level API, for Cloudy's mount (docs/MOUNT.md).
 *
 * One thread per mount reads requests from /dev/fuse (libfuse's single-threaded loop) and hands
 * each to JavaScript through a thread-safe function; it never waits for an answer, so the
 * JavaScript side may have any number of requests in flight. JavaScript answers each request by
 * calling one of the reply functions with the request's handle; libfuse's replies write to the
 * device and are safe from any thread. Cache invalidations run on a thread of their own: the
 * kernel may make one wait until a read of the same file is answered, and reads are answered
 * on the JavaScript thread.
 *
 * Everything about paths, inodes and files lives in JavaScript (mount.ts); this file moves
 * requests and replies across, and answers itself only the reads, writes and fsyncs of files
 * JavaScript handed over as a journal's data file (setDirect), the lookups of names it knows
 * are not there (knowEmpty), and the creations in folders made through the mount, whose records
 * it appends to the journal's log itself ("creations made here"). Names that are not UTF-8
 * cannot be represented there: a lookup of one answers ENOENT, a creation EILSEQ, here; one
 * longer than 255 bytes ENAMETOOLONG.
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 34
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

enum op {
  OP_LOOKUP = 1,
  OP_FORGET = 2,
  OP_GETATTR = 3,
  OP_SETATTR = 4,
  OP_READLINK = 5,
  OP_MKNOD = 6,
  OP_MKDIR = 7,
  OP_UNLINK = 8,
  OP_RMDIR = 9,
  OP_SYMLINK = 10,
  OP_RENAME = 11,
  OP_LINK = 12,
  OP_OPEN = 13,
  OP_READ = 14,
  OP_WRITE = 15,
  OP_FLUSH = 16,
  OP_RELEASE = 17,
  OP_FSYNC = 18,
  OP_OPENDIR = 19,
  OP_READDIR = 20,
  OP_RELEASEDIR = 21,
  OP_FSYNCDIR = 22,
  OP_CREATE = 23,
  OP_NOTES = 24,
  OP_CREATED = 25,
  OP_END = 99,
};

/* One request on its way to JavaScript. Strings and bytes are copies: libfuse reuses its buffer. */
struct msg {
  int op;
  fuse_req_t req;
  uint64_t ino;
  double n1, n2, n3, n4;
  char *s1, *s2;
  char *bytes;
  size_t nbytes;
  /* Notes of what direct files did before this request was read (see `struct mount`). */
  double *notes;
  size_t nnotes;
  struct direct *freed;
  double n5;
  int busy; /* a request that may change the journals: counted in `busy` until JavaScript answers it */
};

struct notice {
  struct notice *next;
  uint64_t ino;
  char *name; /* NULL: invalidate the inode; else the entry `name` in folder `ino` */
};

/*
 * An open file whose reads and writes this file answers itself, on the data file `fd` (a
 * journal's; docs/MOUNT.md, "Direct I/O"). `durable` is the journal's flag, 1 while every
 * record of its log is durable: an fsync then needs only the data file's fdatasync.
 */
struct direct {
  struct direct *next;
  uint64_t fh;
  int fd; /* a duplicate of JavaScript's descriptor, closed here */
  int writable;
  const int32_t *durable;
  napi_ref durable_ref; /* keeps `durable` alive; dropped on the JavaScript thread */
  int written; /* written since JavaScript was last told */
  off_t unflushed; /* bytes written here since a flush was last asked (see WRITE_BEHIND) */
  int flush_err;   /* an early flush's error, for this handle's next fsync (see WRITE_BEHIND) */
};

/*
 * Write-behind. Once this many bytes of a file were written here since its last flush was asked,
 * a thread of its own makes what the data file holds durable (fdatasync on a duplicate), while
 * the program goes on writing. A large file's fsync then waits for its last few MiB only, as the
 * disk (and a virtual machine host's cache under it) writes the rest during the copy instead of
 * all at the end; a local disk's kernel starts its own write-back only once 10% of memory is
 * dirty. Small files never reach it, and at most one flush per file waits at a time, so a disk
 * slower than the writes gets fewer, larger flushes.
 */
#define WRITE_BEHIND ((off_t)16 << 20)

struct flush_job {
  struct flush_job *next;
  uint64_t fh;
  int fd; /* a duplicate of the direct file's, closed once flushed */
};

#define DIRECT_BUCKETS 1024

/* A file JavaScript made ready for a creation answered here: inode number, handle, data file. */
struct new_file {
  uint64_t ino, fh;
  int fd;
  char id[40];
};

/*
 * A journal's log, which this file appends to under `lock` while the session is up: JavaScript's
 * records (appendLog) and those of the creations answered here, so the log stays one ordered log
 * (see "creations made here"). `seq` is the journal's counter of sequence numbers, shared with
 * JavaScript; `durable` its flag of "every record durable", set and cleared under `lock` only.
 */
struct jlog {
  uint32_t token;
  int fd;
  pthread_mutex_t lock;
  int32_t *seq, *durable;
  napi_ref seq_ref, durable_ref;
  off_t size;
  int32_t logged; /* the highest sequence number appended */
  double made;    /* records of creations appended here */
  int busy;       /* JavaScript is changing this journal itself: no creation here meanwhile */
  struct new_file *files; /* its new files, under the mount's `dlock` */
  size_t n, cap;
};

struct mount {
  struct fuse_session *se;
  napi_threadsafe_function tsfn;
  pthread_t loop;
  uid_t uid;
  gid_t gid;
  unsigned max_write;
  /* The invalidation thread and its queue. */
  pthread_t notifier;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct notice *head, *tail;
  int stopping;
  int loop_done;
  /* Direct files by handle; `dlock` is held across each direct read or write, so a file taken
     back by JavaScript (setDirect) is written no more once that returns. */
  pthread_mutex_t dlock;
  struct direct *direct[DIRECT_BUCKETS];
  /*
   * Notes for JavaScript, under `dlock`: triples (kind, fh, ino), NOTE_WROTE for a direct file's
   * first write since JavaScript was told, NOTE_RELEASED for a direct file closed here. They go
   * with the next message to JavaScript, so it reads them before any request that came after
   * them, or NOTE_DELAY_MS after the first one by the notifier thread if no request comes.
   */
  double *notes;
  size_t nnotes, notes_cap;
  struct direct *freed; /* released here; freed on the JavaScript thread (their references) */
  int notes_armed;      /* under `lock`: the notifier sends them at `notes_due` */
  struct timespec notes_due;
  /* The write-behind thread and its queue, under `flock`. */
  pthread_t flusher;
  pthread_mutex_t flock;
  pthread_cond_t fwake;
  struct flush_job *fhead;
  int fstop;
  /* Folders whose names are all known here, and those names (see "names known here"); under `klock`. */
  pthread_mutex_t klock;
  struct known_dir **kdirs;
  struct known_name **knames;
  /* The journals' logs (see struct jlog), by token; the array under `dlock`. */
  struct jlog **jlogs;
  size_t njlogs;
  double entry_ttl, attr_ttl;
  /* Requests forwarded to JavaScript that may change a journal and are not answered yet. */
  int busy;
};

struct known_dir {
  struct known_dir *next;
  uint64_t ino;
  uint32_t token; /* the journal a creation in it is recorded in (0: none) */
  char *rel;      /* the folder's path in that journal */
};

struct known_name {
  struct known_name *next;
  uint64_t parent;
  char name[];
};

#define KNOWN_BUCKETS 65536

enum { NOTE_WROTE = 1, NOTE_RELEASED = 2 };
#define NOTE_DELAY_MS 50

static struct mount *mount_of(fuse_req_t req) { return (struct mount *)fuse_req_userdata(req); }

/* The direct file of handle `fh`, or NULL; called with `dlock` held. */
static struct direct **direct_slot(struct mount *mt, uint64_t fh) {
  struct direct **p = &mt->direct[fh % DIRECT_BUCKETS];
  while (*p && (*p)->fh != fh) p = &(*p)->next;
  return p;
}

/*
 * ---- names known here ----
 *
 * A folder JavaScript just made, empty, is named here (knowEmpty), and every request that may
 * make a name in a folder (create, mknod, mkdir, symlink, link, rename) adds that name here
 * before JavaScript sees it. A lookup in such a folder of any other name is then answered "no
 * such name" here: a program that copies a tree into the mount costs one trip to JavaScript
 * per file (its create), not two. A name stays known though its making failed or it was
 * removed since: its lookup merely goes to JavaScript. JavaScript forgets them all before its
 * views change without the kernel (a sync job), and a folder whose names it makes itself (a
 * file deleted while open is renamed to a hidden name), docs/MOUNT.md "Names known here".
 */

static size_t known_hash(uint64_t parent, const char *name) {
  uint64_t h = 1469598103934665603ULL ^ parent;
  h *= 1099511628211ULL;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return (size_t)(h % KNOWN_BUCKETS);
}

/* Folder `ino`'s entry if it is known here; called with `klock` held. */
static struct known_dir *known_entry(struct mount *mt, uint64_t ino) {
  if (!mt->kdirs) return NULL;
  for (struct known_dir *d = mt->kdirs[ino % KNOWN_BUCKETS]; d; d = d->next)
    if (d->ino == ino) return d;
  return NULL;
}

/* Whether folder `ino` is known here; called with `klock` held. */
static int known_dir(struct mount *mt, uint64_t ino) { return known_entry(mt, ino) != NULL; }

static struct known_name **known_slot(struct mount *mt, uint64_t parent, const char *name) {
  struct known_name **p = &mt->knames[known_hash(parent, name)];
  while (*p && ((*p)->parent != parent || strcmp((*p)->name, name) != 0)) p = &(*p)->next;
  return p;
}

/* Whether `name` is surely not in folder `parent`: the folder is known here, the name is not. */
static int known_absent(struct mount *mt, uint64_t parent, const char *name) {
  pthread_mutex_lock(&mt->klock);
  int absent = known_dir(mt, parent) && !*known_slot(mt, parent, name);
  pthread_mutex_unlock(&mt->klock);
  return absent;
}

/* `name` may exist in folder `parent` from now on. Out of memory, the folder is no longer known. */
static void forget_known_dir(struct mount *mt, uint64_t ino);
static void known_add(struct mount *mt, uint64_t parent, const char *name) {
  pthread_mutex_lock(&mt->klock);
  if (known_dir(mt, parent)) {
    struct known_name **p = known_slot(mt, parent, name);
    if (!*p) {
      size_t len = strlen(name);
      struct known_name *n = malloc(sizeof *n + len + 1);
      if (n) {
        n->next = NULL;
        n->parent = parent;
        memcpy(n->name, name, len + 1);
        *p = n;
      } else forget_known_dir(mt, parent);
    }
  }
  pthread_mutex_unlock(&mt->klock);
}

/* Folder `ino` is known no more (its names stay until all are forgotten); `klock` held. */
static void forget_known_dir(struct mount *mt, uint64_t ino) {
  if (!mt->kdirs) return;
  for (struct known_dir **p = &mt->kdirs[ino % KNOWN_BUCKETS]; *p; p = &(*p)->next)
    if ((*p)->ino == ino) {
      struct known_dir *d = *p;
      *p = d->next;
      free(d->rel);
      free(d);
      return;
    }
}

/* Every folder and name known here is forgotten; `klock` held. */
static void forget_known(struct mount *mt) {
  if (!mt->kdirs) return;
  for (size_t i = 0; i < KNOWN_BUCKETS; i++) {
    while (mt->kdirs[i]) {
      struct known_dir *d = mt->kdirs[i];
      mt->kdirs[i] = d->next;
      free(d->rel);
      free(d);
    }
    while (mt->knames[i]) {
      struct known_name *n = mt->knames[i];
      mt->knames[i] = n->next;
      free(n);
    }
  }
}

/* ---- UTF-8 ---- */

static int valid_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    unsigned c = *p;
    int n;
    unsigned min;
    if (c < 0x80) { p++; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; c &= 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { n = 2; c &= 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { n = 3; c &= 0x07; min = 0x10000; }
    else return 0;
    p++;
    for (int i = 0; i < n; i++, p++) {
      if ((*p & 0xC0) != 0x80) return 0;
      c = (c << 6) | (*p & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
  }
  return 1;
}

/* ---- requests to JavaScript ---- */

static struct msg *msg_new(int op, fuse_req_t req, uint64_t ino) {
  struct msg *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->op = op;
  m->req = req;
  m->ino = ino;
  return m;
}

static void msg_free(struct msg *m) {
  free(m->notes);
  free(m->s1);
  free(m->s2);
  free(m->bytes);
  free(m);
}

static int post(struct mount *mt, struct msg *m, napi_threadsafe_function_call_mode mode);

/*
 * Whether request `op` may change a journal: while one is with JavaScript, creations are not
 * answered here (see "creations made here"). An open for writing may truncate; a release may
 * remove a file deleted while open.
 */
static int may_change(int op, double n1) {
  switch (op) {
    case OP_LOOKUP: case OP_GETATTR: case OP_READLINK: case OP_READ: case OP_FLUSH: case OP_FSYNC:
    case OP_OPENDIR: case OP_READDIR: case OP_RELEASEDIR: case OP_FSYNCDIR:
      return 0;
    case OP_OPEN:
      return ((int)n1 & O_ACCMODE) != O_RDONLY || ((int)n1 & O_TRUNC);
    default:
      return 1;
  }
}

static void send_msg(fuse_req_t req, struct msg *m) {
  struct mount *mt = mount_of(req);
  /* Counted before it is queued: the loop thread, which makes the creations, sees it at once. */
  if (m && req && may_change(m->op, m->n1)) {
    m->busy = 1;
    __atomic_add_fetch(&mt->busy, 1, __ATOMIC_SEQ_CST);
  }
  if (!m || !post(mt, m, napi_tsfn_nonblocking)) {
    if (m) {
      if (m->busy) __atomic_sub_fetch(&mt->busy, 1, __ATOMIC_SEQ_CST);
      msg_free(m);
    }
    if (req) fuse_reply_err(req, EIO);
  }
}

/* A request naming an entry: names longer than NAME_MAX bytes (which the kernel lets through
   up to 1024 for FUSE) or not UTF-8 cannot exist here. */
static int named(fuse_req_t req, const char *name, int create_errno) {
  if (strlen(name) > 255) {
    fuse_reply_err(req, ENAMETOOLONG);
    return 0;
  }
  if (valid_utf8(name)) return 1;
  fuse_reply_err(req, create_errno);
  return 0;
}

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  struct mount *mt = userdata;
  /* Large writes: the kernel's limit, up to what was asked. */
  conn->max_write = mt->max_write;
  conn->max_readahead = conn->max_readahead > 1024 * 1024 ? conn->max_readahead : 1024 * 1024;
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  /* READDIRPLUS always: the listing's attributes save one lookup per entry. */
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  /* Pages stay cached across opens and size or time changes; dropped only when told. */
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  if (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA) conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  /* Direct reads go from the data file to the device without a copy through here. */
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  conn->time_gran = 1000; /* times are kept to the microsecond */
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  if (!named(req, name, ENOENT)) return;
  if (known_absent(mount_of(req), parent, name)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct msg *m = msg_new(OP_LOOKUP, req, parent);
  if (m && !(m->s1 = strdup(name))) { msg_free(m); m = NULL; }
  send_msg(req, m);
}

static void forget_one(struct mount *mt, fuse_ino_t ino, uint64_t n) {
  struct msg *m = msg_new(OP_FORGET, NULL, ino);
  if (!m) return;
  m->n1 = (double)n;
  if (!post(mt, m, napi_tsfn_nonblocking)) msg_free(m);
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  forget_one(mount_of(req), ino, nlookup);
  fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  for (size_t i = 0; i < count; i++) forget_one(mount_of(req), forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi;
  send_msg(req, msg_new(OP_GETATTR, req, ino));
}

static double ms_of(const struct timespec *t) { return (double)t->tv_sec * 1000.0 + (double)t->tv_nsec / 1e6; }

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  struct msg *m = msg_new(OP_SETATTR, req, ino);
  if (m) {
    /* n1: what is set (FUSE_SET_ATTR_*), with bit 30 when through an open file. */
    m->n1 = (double)(to_set | (fi ? (1 << 30) : 0));
    m->n2 = (double)attr->st_mode;
    m->n3 = (double)attr->st_size;
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
      struct timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      m->n4 = ms_of(&now);
    } else m->n4 = ms_of(&attr->st_mtim);
  }
  send_msg(req, m);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino) { send_msg(req, msg_new(OP_READLINK, req, ino)); }

static void entry_op(fuse_req_t req, int op, fuse_ino_t parent, const char *name, double n1, double n2, const char *s2) {
  if (!named(req, name, op == OP_UNLINK || op == OP_RMDIR ? ENOENT : EILSEQ)) return;
  struct msg *m = msg_new(op, req, parent);
  if (m) {
    m->n1 = n1;
    m->n2 = n2;
    if (!(m->s1 = strdup(name)) || (s2 && !(m->s2 = strdup(s2)))) {
      msg_free(m);
      m = NULL;
    }
  }
  send_msg(req, m);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  (void)rdev;
  known_add(mount_of(req), parent, name);
  entry_op(req, OP_MKNOD, parent, name, mode, 0, NULL);
}
static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  known_add(mount_of(req), parent, name);
  entry_op(req, OP_MKDIR, parent, name, mode, 0, NULL);
}
static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) { entry_op(req, OP_UNLINK, parent, name, 0, 0, NULL); }
static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) { entry_op(req, OP_RMDIR, parent, name, 0, 0, NULL); }

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  known_add(mount_of(req), parent, name);
  entry_op(req, OP_SYMLINK, parent, name, 0, 0, link);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags) {
  if (!named(req, name, ENOENT)) return;
  known_add(mount_of(req), newparent, newname);
  entry_op(req, OP_RENAME, parent, newname, (double)newparent, (double)flags, name);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  if (!named(req, newname, EILSEQ)) return;
  known_add(mount_of(req), newparent, newname);
  struct msg *m = msg_new(OP_LINK, req, ino);
  if (m) {
    m->n1 = (double)newparent;
    if (!(m->s1 = strdup(newname))) { msg_free(m); m = NULL; }
  }
  send_msg(req, m);
}

static void file_op(fuse_req_t req, int op, fuse_ino_t ino, double n1, double n2, struct fuse_file_info *fi) {
  struct msg *m = msg_new(op, req, ino);
  if (m) {
    m->n1 = n1;
    m->n2 = n2;
    m->n3 = fi ? (double)fi->fh : -1;
  }
  send_msg(req, m);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { file_op(req, OP_OPEN, ino, fi->flags, 0, fi); }

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  struct mount *mt = mount_of(req);
  pthread_mutex_lock(&mt->dlock);
  struct direct *d = *direct_slot(mt, fi->fh);
  if (d) {
    /* From the data file to the device (spliced where the kernel can). */
    struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
    bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    bv.buf[0].fd = d->fd;
    bv.buf[0].pos = off;
    fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
    pthread_mutex_unlock(&mt->dlock);
    return;
  }
  pthread_mutex_unlock(&mt->dlock);
  file_op(req, OP_READ, ino, (double)size, (double)off, fi);
}

/* A note for JavaScript (with `dlock` held); the notifier is told when the first one waits. */
static void add_note(struct mount *mt, int kind, uint64_t fh, uint64_t ino) {
  if (mt->nnotes + 3 > mt->notes_cap) {
    size_t cap = mt->notes_cap ? mt->notes_cap * 2 : 96;
    double *n = realloc(mt->notes, cap * sizeof *n);
    if (!n) return; /* out of memory: lost; a write is still told when JavaScript takes the file back */
    mt->notes = n;
    mt->notes_cap = cap;
  }
  int first = mt->nnotes == 0;
  mt->notes[mt->nnotes++] = kind;
  mt->notes[mt->nnotes++] = (double)fh;
  mt->notes[mt->nnotes++] = (double)ino;
  if (first) {
    pthread_mutex_lock(&mt->lock);
    if (!mt->notes_armed) {
      mt->notes_armed = 1;
      clock_gettime(CLOCK_REALTIME, &mt->notes_due);
      mt->notes_due.tv_nsec += NOTE_DELAY_MS * 1000000L;
      if (mt->notes_due.tv_nsec >= 1000000000L) {
        mt->notes_due.tv_sec++;
        mt->notes_due.tv_nsec -= 1000000000L;
      }
      pthread_cond_signal(&mt->wake);
    }
    pthread_mutex_unlock(&mt->lock);
  }
}

/* Hand the waiting notes to message `m` (with `dlock` held); a written file is noted again at its next write. */
static void take_notes(struct mount *mt, struct msg *m) {
  if (mt->nnotes) {
    m->notes = malloc(mt->nnotes * sizeof *m->notes);
    if (!m->notes) return; /* out of memory: they wait for the next message */
    for (size_t i = 0; i < mt->nnotes; i += 3) {
      if (mt->notes[i] != NOTE_WROTE) continue;
      struct direct *d = *direct_slot(mt, (uint64_t)mt->notes[i + 1]);
      if (d) d->written = 0;
    }
    memcpy(m->notes, mt->notes, mt->nnotes * sizeof *m->notes);
    m->nnotes = mt->nnotes;
    mt->nnotes = 0;
  }
  m->freed = mt->freed;
  mt->freed = NULL;
}

/*
 * Queue `m` for JavaScript with the notes waiting; false if the channel is closing. Taking the
 * notes and queuing are one step under `dlock`: a message queued by another thread in between
 * would reach JavaScript ahead of the notes it should come after. (The queue has no limit, so
 * queuing never waits.)
 */
static int post(struct mount *mt, struct msg *m, napi_threadsafe_function_call_mode mode) {
  pthread_mutex_lock(&mt->dlock);
  take_notes(mt, m);
  int ok = napi_call_threadsafe_function(mt->tsfn, m, mode) == napi_ok;
  pthread_mutex_unlock(&mt->dlock);
  return ok;
}

/* With `dlock` held, after `n` bytes were written to `d` here. */
static void write_behind(struct mount *mt, struct direct *d, size_t n) {
  d->unflushed += (off_t)n;
  if (d->unflushed < WRITE_BEHIND) return;
  d->unflushed = 0;
  pthread_mutex_lock(&mt->flock);
  struct flush_job **p = &mt->fhead;
  while (*p && (*p)->fh != d->fh) p = &(*p)->next;
  if (!*p && !mt->fstop) {
    struct flush_job *j = calloc(1, sizeof *j);
    if (j && (j->fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 0)) >= 0) {
      j->fh = d->fh;
      *p = j;
      pthread_cond_signal(&mt->fwake);
    } else free(j); /* no memory or descriptor: the fsync does it all, as without write-behind */
  }
  pthread_mutex_unlock(&mt->flock);
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  struct mount *mt = mount_of(req);
  pthread_mutex_lock(&mt->dlock);
  struct direct *d = *direct_slot(mt, fi->fh);
  if (d && d->writable) {
    size_t done = 0;
    int err = 0;
    while (done < size) {
      ssize_t n = pwrite(d->fd, buf + done, size - done, off + (off_t)done);
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
        break;
      }
      done += (size_t)n;
    }
    if (done > 0) write_behind(mt, d, done);
    if (done > 0 && !d->written) {
      d->written = 1;
      /* Before the reply: whatever the program asks next reaches JavaScript with this note. */
      add_note(mt, NOTE_WROTE, fi->fh, ino);
    }
    pthread_mutex_unlock(&mt->dlock);
    /* A short write (a full disk) says what was written; none at all, why. */
    if (done > 0 || !err) fuse_reply_write(req, done);
    else fuse_reply_err(req, err);
    return;
  }
  pthread_mutex_unlock(&mt->dlock);
  struct msg *m = msg_new(OP_WRITE, req, ino);
  if (m) {
    m->n1 = (double)off;
    m->n3 = (double)fi->fh;
    m->nbytes = size;
    if (!(m->bytes = malloc(size ? size : 1))) { msg_free(m); m = NULL; }
    else memcpy(m->bytes, buf, size);
  }
  send_msg(req, m);
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { file_op(req, OP_FLUSH, ino, 0, 0, fi); }
static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  struct mount *mt = mount_of(req);
  pthread_mutex_lock(&mt->dlock);
  struct direct **p = direct_slot(mt, fi->fh);
  struct direct *d = *p;
  if (d) {
    /* Answered here (nobody waits for it); JavaScript closes its side with the next message. */
    *p = d->next;
    d->next = mt->freed;
    mt->freed = d;
    add_note(mt, NOTE_RELEASED, fi->fh, ino);
  }
  pthread_mutex_unlock(&mt->dlock);
  if (d) fuse_reply_err(req, 0);
  else file_op(req, OP_RELEASE, ino, fi->flags, 0, fi);
}
static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  struct mount *mt = mount_of(req);
  pthread_mutex_lock(&mt->dlock);
  struct direct *d = *direct_slot(mt, fi->fh);
  int flush_err = d ? d->flush_err : 0;
  if (flush_err) {
    d->flush_err = 0; /* told once, as the kernel tells it */
    pthread_mutex_unlock(&mt->dlock);
    fuse_reply_err(req, flush_err);
    return;
  }
  /* Every record of the journal durable: the file is, once its data file is. Else JavaScript
     syncs the log too. */
  int fd = d && d->writable && d->durable && __atomic_load_n(d->durable, __ATOMIC_ACQUIRE) == 1 ? fcntl(d->fd, F_DUPFD_CLOEXEC, 0) : -1;
  pthread_mutex_unlock(&mt->dlock);
  if (fd >= 0) {
    int r = fdatasync(fd);
    int err = r < 0 ? errno : 0;
    close(fd);
    fuse_reply_err(req, err);
    return;
  }
  file_op(req, OP_FSYNC, ino, datasync, 0, fi);
}
static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { file_op(req, OP_OPENDIR, ino, fi->flags, 0, fi); }

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  struct msg *m = msg_new(OP_READDIR, req, ino);
  if (m) { m->n1 = (double)size; m->n2 = (double)off; m->n3 = (double)fi->fh; m->n4 = 0; }
  send_msg(req, m);
}
static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  struct msg *m = msg_new(OP_READDIR, req, ino);
  if (m) { m->n1 = (double)size; m->n2 = (double)off; m->n3 = (double)fi->fh; m->n4 = 1; }
  send_msg(req, m);
}
static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) { file_op(req, OP_RELEASEDIR, ino, 0, 0, fi); }
static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) { file_op(req, OP_FSYNCDIR, ino, datasync, 0, fi); }

/*
 * ---- creations made here ----
 *
 * A creation in a folder known here (made through the kernel, its names all known) whose
 * journal has a new file ready (JavaScript gives them ahead: giveNewFile) and registered its log
 * (attachLog) is answered here: its record is appended to the journal's log first, as
 * JavaScript's `Journal.record` would write it, then the file is direct and the kernel answered,
 * and JavaScript is told (OP_CREATED) to take it into its map of the journal, before any
 * request that came after. Not while a request that may change a journal is with JavaScript, nor
 * while JavaScript changes that journal itself (logBusy): a rename must not move a folder whose
 * files the map does not hold yet. docs/MOUNT.md, "Creations answered by the binding".
 */
static void fill_stat(struct mount *mt, struct stat *st, double ino, double mode, double size, double mtime_ms);

/* The log of journal `token`; `dlock` held. */
static struct jlog *jlog_of(struct mount *mt, uint32_t token) {
  for (size_t i = 0; i < mt->njlogs; i++)
    if (mt->jlogs[i]->token == token) return mt->jlogs[i];
  return NULL;
}

/* Append `len` bytes to `j`'s log, whole or not at all (cut back); 0 or the errno. `j->lock` held. */
static int jlog_write(struct jlog *j, const char *buf, size_t len, int32_t seq) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(j->fd, buf + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      /* A torn line would glue the next record to it; if even this fails, the next open cuts it. */
      if (ftruncate(j->fd, j->size) < 0) {}
      return e;
    }
    done += (size_t)n;
  }
  j->size += (off_t)len;
  if (seq > j->logged) j->logged = seq;
  __atomic_store_n(j->durable, 0, __ATOMIC_SEQ_CST);
  return 0;
}

/* `s` escaped as the inside of a JSON string, at `out` (room for 6 bytes per byte of `s`). */
static size_t json_escape(char *out, const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      out[n++] = '\\';
      out[n++] = (char)*p;
    } else if (*p < 0x20) n += (size_t)sprintf(out + n, "\\u%04x", *p);
    else out[n++] = (char)*p;
  }
  return n;
}

/* Answer the creation of `name` in `parent` (path `rel` in journal `token`) here, if it can be. */
static int create_here(struct mount *mt, fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, uint32_t token, const char *rel) {
  /* Everything that can fail is had first: once the record is in the log, the file is used. */
  size_t rl = strlen(rel), nl = strlen(name);
  char *path = malloc(rl + nl + 2);
  char *line = malloc(6 * (rl + nl + 2) + 256);
  struct msg *m = msg_new(OP_CREATED, NULL, parent);
  struct direct *d = calloc(1, sizeof *d);
  int32_t seq = 0;
  struct new_file f;
  if (!path || !line || !m || !d || !(m->s1 = strdup(name))) goto no;
  sprintf(path, "%s%s%s", rel, rl ? "/" : "", name);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  /* Milliseconds to the microsecond, as the journal keeps times; written and read back, so the
     log, JavaScript and the kernel have the same number. */
  char msbuf[40];
  snprintf(msbuf, sizeof msbuf, "%lld.%03ld", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000, (now.tv_nsec / 1000) % 1000);
  double ms = strtod(msbuf, NULL);
  /* The log's lock is taken before the array's is let go: detachLog frees a log only once it holds it. */
  pthread_mutex_lock(&mt->dlock);
  struct jlog *j = jlog_of(mt, token);
  int have = j && j->n > 0;
  if (have) {
    f = j->files[--j->n];
    pthread_mutex_lock(&j->lock);
  }
  pthread_mutex_unlock(&mt->dlock);
  if (!have) goto no;
  if (!j->busy && !__atomic_load_n(&mt->busy, __ATOMIC_SEQ_CST)) {
    int32_t next = __atomic_add_fetch(j->seq, 1, __ATOMIC_SEQ_CST);
    int len = sprintf(line, "{\"seq\":%d,\"changes\":[{\"path\":\"", next);
    len += (int)json_escape(line + len, path);
    len += sprintf(line + len, "\",\"node\":{\"kind\":\"file\",\"data\":\"%s\",\"size\":0,\"mode\":%d,\"mtimeMs\":%s},\"clear\":true}]}\n",
                   f.id, (int)(mode & 07777), msbuf);
    if (jlog_write(j, line, (size_t)len, next) == 0) {
      j->made++;
      seq = next;
    }
  }
  pthread_mutex_unlock(&j->lock);
  if (!seq) {
    /* JavaScript makes it (and says what the disk said, if that is what failed); the file goes back. */
    pthread_mutex_lock(&mt->dlock);
    struct jlog *k = jlog_of(mt, token);
    if (k && k->n < k->cap) k->files[k->n++] = f;
    else close(f.fd);
    pthread_mutex_unlock(&mt->dlock);
    goto no;
  }
  free(line);
  d->fh = f.fh;
  d->fd = f.fd;
  d->writable = 1;
  m->s2 = path;
  m->n1 = (double)(mode & 07777);
  m->n2 = (double)f.ino;
  m->n3 = (double)f.fh;
  m->n4 = ms;
  m->n5 = (double)seq;
  pthread_mutex_lock(&mt->dlock);
  d->next = mt->direct[f.fh % DIRECT_BUCKETS];
  mt->direct[f.fh % DIRECT_BUCKETS] = d;
  pthread_mutex_unlock(&mt->dlock);
  /* Queued before the reply: JavaScript takes the file in before anything asked after it. */
  if (!post(mt, m, napi_tsfn_nonblocking)) {
    msg_free(m);
    fuse_reply_err(req, EIO); /* the session is ending */
    return 1;
  }
  struct fuse_entry_param e;
  memset(&e, 0, sizeof e);
  fill_stat(mt, &e.attr, (double)f.ino, (double)(S_IFREG | (mode & 07777)), 0, ms);
  e.ino = f.ino;
  e.entry_timeout = mt->entry_ttl;
  e.attr_timeout = mt->attr_ttl;
  struct fuse_file_info fi;
  memset(&fi, 0, sizeof fi);
  fi.fh = f.fh;
  fi.keep_cache = 1;
  fi.noflush = 1;
  fuse_reply_create(req, &e, &fi);
  return 1;
no:
  free(path);
  free(line);
  if (m) msg_free(m);
  free(d);
  return 0;
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  struct mount *mt = mount_of(req);
  uint32_t token = 0;
  char *rel = NULL;
  pthread_mutex_lock(&mt->klock);
  struct known_dir *k = known_entry(mt, parent);
  if (k && k->token && k->rel) {
    token = k->token;
    rel = strdup(k->rel);
  }
  pthread_mutex_unlock(&mt->klock);
  known_add(mt, parent, name);
  int done = rel && strlen(name) <= 255 && valid_utf8(name) && create_here(mt, req, parent, name, mode, token, rel);
  free(rel);
  if (!done) entry_op(req, OP_CREATE, parent, name, mode, fi->flags, NULL);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino) {
  (void)ino;
  /* Free space is the storage account's, which the mount cannot know: generous figures, so
     that tools that check before copying go on. */
  struct statvfs s = {0};
  s.f_bsize = 4096;
  s.f_frsize = 4096;
  s.f_blocks = 1ULL << 32;
  s.f_bfree = 1ULL << 31;
  s.f_bavail = 1ULL << 31;
  s.f_files = 1ULL << 24;
  s.f_ffree = 1ULL << 23;
  s.f_favail = 1ULL << 23;
  s.f_namemax = 255;
  fuse_reply_statfs(req, &s);
}

static const struct fuse_lowlevel_ops ops = {
    .init = ll_init,
    .lookup = ll_lookup,
    .forget = ll_forget,
    .forget_multi = ll_forget_multi,
    .getattr = ll_getattr,
    .setattr = ll_setattr,
    .readlink = ll_readlink,
    .mknod = ll_mknod,
    .mkdir = ll_mkdir,
    .unlink = ll_unlink,
    .rmdir = ll_rmdir,
    .symlink = ll_symlink,
    .rename = ll_rename,
    .link = ll_link,
    .open = ll_open,
    .read = ll_read,
    .write = ll_write,
    .flush = ll_flush,
    .release = ll_release,
    .fsync = ll_fsync,
    .opendir = ll_opendir,
    .readdir = ll_readdir,
    .readdirplus = ll_readdirplus,
    .releasedir = ll_releasedir,
    .fsyncdir = ll_fsyncdir,
    .create = ll_create,
    .statfs = ll_statfs,
};

/* ---- the JavaScript side of a request ---- */

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

static napi_value str_or_undefined(napi_env env, const char *s) {
  napi_value r;
  if (s) napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r);
  else napi_get_undefined(env, &r);
  return r;
}

static void free_bytes(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static void join_threads(napi_env env, struct mount *mt);
static void direct_free(napi_env env, struct direct *d);
static void jlog_free(napi_env env, struct jlog *j);

/* Called on the JavaScript thread for each request: handler(op, req, ino, n1, n2, n3, n4, s1, s2, notes, n5, busy). */
static void call_js(napi_env env, napi_value handler, void *context, void *data) {
  struct mount *mt = context;
  struct msg *m = data;
  if (!env) { /* the function is being torn down */
    if (m->req) fuse_reply_err(m->req, EIO);
    msg_free(m);
    return;
  }
  napi_value args[12], undefined, result;
  napi_get_undefined(env, &undefined);
  args[0] = num(env, m->op);
  args[1] = num(env, (double)(uintptr_t)m->req);
  args[2] = num(env, (double)m->ino);
  args[3] = num(env, m->n1);
  args[4] = num(env, m->n2);
  args[5] = num(env, m->n3);
  args[6] = num(env, m->n4);
  args[7] = str_or_undefined(env, m->s1);
  if (m->op == OP_WRITE) {
    napi_create_external_buffer(env, m->nbytes, m->bytes, free_bytes, NULL, &args[8]);
    m->bytes = NULL;
  } else args[8] = str_or_undefined(env, m->s2);
  args[9] = undefined;
  args[10] = num(env, m->n5);
  napi_get_boolean(env, m->busy != 0, &args[11]);
  if (m->nnotes) {
    void *data = NULL;
    napi_value ab;
    if (napi_create_arraybuffer(env, m->nnotes * sizeof(double), &data, &ab) == napi_ok) {
      memcpy(data, m->notes, m->nnotes * sizeof(double));
      napi_create_typedarray(env, napi_float64_array, m->nnotes, ab, 0, &args[9]);
    }
  }
  while (m->freed) {
    struct direct *d = m->freed;
    m->freed = d->next;
    direct_free(env, d);
  }
  if (m->op == OP_END) join_threads(env, mt);
  msg_free(m);
  napi_status st = napi_call_function(env, undefined, handler, 12, args, &result);
  if (st == napi_pending_exception) {
    /* The handler must not throw; if it does, the process reports it as any uncaught error. */
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
    napi_fatal_exception(env, e);
  }
}

/* ---- threads ---- */

/* Send the waiting notes now, if no request has carried them meanwhile. */
static void send_notes(struct mount *mt) {
  struct msg *m = msg_new(OP_NOTES, NULL, 0);
  if (!m) return;
  pthread_mutex_lock(&mt->dlock);
  take_notes(mt, m);
  int sent = (m->nnotes || m->freed) && napi_call_threadsafe_function(mt->tsfn, m, napi_tsfn_nonblocking) == napi_ok;
  pthread_mutex_unlock(&mt->dlock);
  if (!sent) msg_free(m);
}

static void *notify_main(void *arg) {
  struct mount *mt = arg;
  pthread_mutex_lock(&mt->lock);
  for (;;) {
    while (!mt->head && !mt->stopping) {
      if (!mt->notes_armed) {
        pthread_cond_wait(&mt->wake, &mt->lock);
        continue;
      }
      if (pthread_cond_timedwait(&mt->wake, &mt->lock, &mt->notes_due) == ETIMEDOUT) {
        mt->notes_armed = 0;
        pthread_mutex_unlock(&mt->lock);
        send_notes(mt);
        pthread_mutex_lock(&mt->lock);
      }
    }
    if (!mt->head) break;
    struct notice *n = mt->head;
    mt->head = n->next;
    if (!mt->head) mt->tail = NULL;
    int done = mt->loop_done;
    pthread_mutex_unlock(&mt->lock);
    if (!done) {
      /* -ENOENT: the kernel had nothing cached under that name or inode; nothing to drop. */
      if (n->name) fuse_lowlevel_notify_inval_entry(mt->se, n->ino, n->name, strlen(n->name));
      else fuse_lowlevel_notify_inval_inode(mt->se, n->ino, 0, 0);
    }
    free(n->name);
    free(n);
    pthread_mutex_lock(&mt->lock);
  }
  pthread_mutex_unlock(&mt->lock);
  return NULL;
}

/*
 * An early flush failed. The error must reach the program's fsync: the duplicate shares the data
 * file's open file description with the binding's descriptor and JavaScript's, and the kernel
 * reports a write-back error once per description, so the fsync's own fdatasync would return 0.
 */
static void flush_failed(struct mount *mt, uint64_t fh, int err) {
  pthread_mutex_lock(&mt->dlock);
  struct direct *d = *direct_slot(mt, fh);
  if (d && !d->flush_err) d->flush_err = err;
  pthread_mutex_unlock(&mt->dlock);
}

static void *flush_main(void *arg) {
  struct mount *mt = arg;
  pthread_mutex_lock(&mt->flock);
  for (;;) {
    while (!mt->fhead && !mt->fstop) pthread_cond_wait(&mt->fwake, &mt->flock);
    struct flush_job *j = mt->fhead;
    if (!j) break;
    mt->fhead = j->next;
    int stop = mt->fstop;
    pthread_mutex_unlock(&mt->flock);
    /* This only does early what the fsync would do; an error is the fsync's to report. */
    int err = !stop && fdatasync(j->fd) < 0 ? errno : 0;
    close(j->fd);
    if (err) flush_failed(mt, j->fh, err);
    free(j);
    pthread_mutex_lock(&mt->flock);
  }
  pthread_mutex_unlock(&mt->flock);
  return NULL;
}

static void *loop_main(void *arg) {
  struct mount *mt = arg;
  /* Ends when the kernel ends the connection: an unmount (from here or outside) or an abort. */
  fuse_session_loop(mt->se);
  pthread_mutex_lock(&mt->lock);
  mt->loop_done = 1;
  mt->stopping = 1;
  pthread_cond_signal(&mt->wake);
  pthread_mutex_unlock(&mt->lock);
  pthread_mutex_lock(&mt->flock);
  mt->fstop = 1;
  pthread_cond_signal(&mt->fwake);
  pthread_mutex_unlock(&mt->flock);
  struct msg *m = msg_new(OP_END, NULL, 0);
  if (m && !post(mt, m, napi_tsfn_blocking)) msg_free(m);
  return NULL;
}

/* On the JavaScript thread: a direct file taken out of the table. */
static void direct_free(napi_env env, struct direct *d) {
  if (d->durable_ref) napi_delete_reference(env, d->durable_ref);
  close(d->fd);
  free(d);
}

/* On the JavaScript thread, once the loop has ended: the threads are joined, the session freed. */
static void join_threads(napi_env env, struct mount *mt) {
  pthread_join(mt->loop, NULL);
  pthread_join(mt->notifier, NULL);
  pthread_join(mt->flusher, NULL);
  /* The connection has ended, so this unmounts nothing (libfuse sees the device's error). */
  fuse_session_unmount(mt->se);
  fuse_session_destroy(mt->se);
  mt->se = NULL;
  pthread_mutex_lock(&mt->dlock);
  for (int i = 0; i < DIRECT_BUCKETS; i++) {
    while (mt->direct[i]) {
      struct direct *d = mt->direct[i];
      mt->direct[i] = d->next;
      direct_free(env, d);
    }
  }
  for (size_t i = 0; i < mt->njlogs; i++) jlog_free(env, mt->jlogs[i]);
  free(mt->jlogs);
  mt->jlogs = NULL;
  mt->njlogs = 0;
  pthread_mutex_unlock(&mt->dlock);
  pthread_mutex_lock(&mt->klock);
  forget_known(mt);
  free(mt->kdirs);
  free(mt->knames);
  mt->kdirs = NULL;
  mt->knames = NULL;
  pthread_mutex_unlock(&mt->klock);
  napi_release_threadsafe_function(mt->tsfn, napi_tsfn_release);
}

/* ---- exported functions ---- */

#define ARGS(n)                                                        \
  size_t argc = n;                                                     \
  napi_value argv[n];                                                  \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);

static double get_num(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

static fuse_req_t get_req(napi_env env, napi_value v) { return (fuse_req_t)(uintptr_t)get_num(env, v); }

static napi_value throw_error(napi_env env, const char *code, const char *message) {
  napi_throw_error(env, code, message);
  return NULL;
}

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static void fill_stat(struct mount *mt, struct stat *st, double ino, double mode, double size, double mtime_ms) {
  memset(st, 0, sizeof *st);
  st->st_ino = (ino_t)ino;
  st->st_mode = (mode_t)mode;
  st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
  st->st_uid = mt->uid;
  st->st_gid = mt->gid;
  st->st_size = (off_t)size;
  st->st_blksize = 4096;
  st->st_blocks = (blkcnt_t)((size + 511) / 512);
  double secs = mtime_ms / 1000.0;
  time_t s = (time_t)secs;
  if ((double)s > secs) s--;
  long ns = (long)((mtime_ms - (double)s * 1000.0) * 1e6);
  if (ns < 0) ns = 0;
  if (ns > 999999999) ns = 999999999;
  st->st_mtim.tv_sec = s;
  st->st_mtim.tv_nsec = ns;
  st->st_atim = st->st_mtim;
  st->st_ctim = st->st_mtim;
}

/* mount(dir, options, maxWrite, handler, entryTimeout, attrTimeout) -> external handle; the
   timeouts are those of the creations answered here. */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  ARGS(6);
  char *dir = get_string(env, argv[0]);
  char *opts = get_string(env, argv[1]);
  struct mount *mt = calloc(1, sizeof *mt);
  if (!dir || !opts || !mt) {
    free(dir);
    free(opts);
    free(mt);
    return throw_error(env, "ENOMEM", "out of memory");
  }
  mt->uid = geteuid();
  mt->gid = getegid();
  mt->max_write = (unsigned)get_num(env, argv[2]);
  mt->entry_ttl = get_num(env, argv[4]);
  mt->attr_ttl = get_num(env, argv[5]);
  pthread_mutex_init(&mt->lock, NULL);
  pthread_cond_init(&mt->wake, NULL);
  pthread_mutex_init(&mt->dlock, NULL);
  pthread_mutex_init(&mt->klock, NULL);
  pthread_mutex_init(&mt->flock, NULL);
  pthread_cond_init(&mt->fwake, NULL);
  char *fargv[] = {"cloudy", "-o", opts, NULL};
  struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
  mt->se = fuse_session_new(&args, &ops, sizeof ops, mt);
  if (!mt->se) {
    free(dir);
    free(opts);
    free(mt);
    return throw_error(env, "EINVAL", "libfuse refused the mount options");
  }
  if (fuse_session_mount(mt->se, dir) != 0) {
    fuse_session_destroy(mt->se);
    free(dir);
    free(opts);
    free(mt);
    return throw_error(env, "EMOUNT", "the mount failed (libfuse said why on stderr)");
  }
  free(dir);
  free(opts);
  napi_value name;
  napi_create_string_utf8(env, "cloudy-fuse", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, NULL, mt, call_js, &mt->tsfn) != napi_ok) {
    fuse_session_unmount(mt->se);
    fuse_session_destroy(mt->se);
    free(mt);
    return throw_error(env, "EIO", "could not make the request channel");
  }
  pthread_create(&mt->notifier, NULL, notify_main, mt);
  pthread_create(&mt->flusher, NULL, flush_main, mt);
  pthread_create(&mt->loop, NULL, loop_main, mt);
  napi_value handle;
  /* The struct outlives the session on purpose: replies may come after the end (and go nowhere). */
  napi_create_external(env, mt, NULL, NULL, &handle);
  return handle;
}

static struct mount *get_mount(napi_env env, napi_value v) {
  void *p = NULL;
  napi_get_value_external(env, v, &p);
  return p;
}

static napi_value js_reply_err(napi_env env, napi_callback_info info) {
  ARGS(2);
  fuse_reply_err(get_req(env, argv[0]), (int)get_num(env, argv[1]));
  return NULL;
}

/* replyEntry(req, ino, mode, size, mtimeMs, entryTimeout, attrTimeout); ino 0: a cached "no such name". */
/* The entry in argv[1..6] (ino, mode, size, mtimeMs, entryTimeout, attrTimeout) of a reply to `req`. */
static void get_entry(napi_env env, napi_value *argv, fuse_req_t req, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  fill_stat(mount_of(req), &e->attr, get_num(env, argv[1]), get_num(env, argv[2]), get_num(env, argv[3]), get_num(env, argv[4]));
  e->ino = (fuse_ino_t)get_num(env, argv[1]);
  e->entry_timeout = get_num(env, argv[5]);
  e->attr_timeout = get_num(env, argv[6]);
}

static napi_value js_reply_entry(napi_env env, napi_callback_info info) {
  ARGS(7);
  fuse_req_t req = get_req(env, argv[0]);
  struct fuse_entry_param e;
  get_entry(env, argv, req, &e);
  fuse_reply_entry(req, &e);
  return NULL;
}

/* An open file or folder's handle and flags: 1 keep the page cache (files), 2 direct I/O, 4 keep
   the listing (folders), 8 no FLUSH at close (the file system has nothing to do then). */
static void get_open(napi_env env, napi_value fh, napi_value flags, struct fuse_file_info *fi) {
  memset(fi, 0, sizeof *fi);
  fi->fh = (uint64_t)get_num(env, fh);
  int f = (int)get_num(env, flags);
  fi->keep_cache = (f & 1) != 0;
  fi->direct_io = (f & 2) != 0;
  fi->cache_readdir = (f & 4) != 0;
  fi->noflush = (f & 8) != 0;
}

/* replyCreate(req, ino, mode, size, mtimeMs, entryTimeout, attrTimeout, fh, flags) */
static napi_value js_reply_create(napi_env env, napi_callback_info info) {
  ARGS(9);
  fuse_req_t req = get_req(env, argv[0]);
  struct fuse_entry_param e;
  get_entry(env, argv, req, &e);
  struct fuse_file_info fi;
  get_open(env, argv[7], argv[8], &fi);
  /* -ENOENT: the creating call was interrupted; the file was made, nobody has it open. */
  fuse_reply_create(req, &e, &fi);
  return NULL;
}

/* replyAttr(req, ino, mode, size, mtimeMs, attrTimeout) */
static napi_value js_reply_attr(napi_env env, napi_callback_info info) {
  ARGS(6);
  fuse_req_t req = get_req(env, argv[0]);
  struct stat st;
  fill_stat(mount_of(req), &st, get_num(env, argv[1]), get_num(env, argv[2]), get_num(env, argv[3]), get_num(env, argv[4]));
  fuse_reply_attr(req, &st, get_num(env, argv[5]));
  return NULL;
}

static napi_value js_reply_readlink(napi_env env, napi_callback_info info) {
  ARGS(2);
  fuse_req_t req = get_req(env, argv[0]);
  char *s = get_string(env, argv[1]);
  if (!s) fuse_reply_err(req, ENOMEM);
  else fuse_reply_readlink(req, s);
  free(s);
  return NULL;
}

/* replyOpen(req, fh, flags) */
static napi_value js_reply_open(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct fuse_file_info fi;
  get_open(env, argv[1], argv[2], &fi);
  fuse_reply_open(get_req(env, argv[0]), &fi);
  return NULL;
}

/* replyBuf(req, buffer[, length]) */
static napi_value js_reply_buf(napi_env env, napi_callback_info info) {
  ARGS(3);
  void *data = NULL;
  size_t len = 0;
  napi_get_buffer_info(env, argv[1], &data, &len);
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t == napi_number) {
    double want = get_num(env, argv[2]);
    if (want >= 0 && want < (double)len) len = (size_t)want;
  }
  fuse_reply_buf(get_req(env, argv[0]), data, len);
  return NULL;
}

static napi_value js_reply_write(napi_env env, napi_callback_info info) {
  ARGS(2);
  fuse_reply_write(get_req(env, argv[0]), (size_t)get_num(env, argv[1]));
  return NULL;
}

/*
 * replyDir(req, size, plus, names, meta) -> how many entries fitted. `meta` is a Float64Array of
 * six numbers per name: ino, mode, size, mtimeMs, the offset of the next entry, and the seconds
 * the kernel may keep the entry and its attributes (READDIRPLUS).
 */
static napi_value js_reply_dir(napi_env env, napi_callback_info info) {
  ARGS(5);
  fuse_req_t req = get_req(env, argv[0]);
  size_t size = (size_t)get_num(env, argv[1]);
  bool plus = false;
  napi_get_value_bool(env, argv[2], &plus);
  uint32_t count = 0;
  napi_get_array_length(env, argv[3], &count);
  napi_typedarray_type tt;
  size_t mlen = 0;
  void *mdata = NULL;
  napi_get_typedarray_info(env, argv[4], &tt, &mlen, &mdata, NULL, NULL);
  if (tt != napi_float64_array || mlen < (size_t)count * 6) {
    fuse_reply_err(req, EIO);
    return num(env, 0);
  }
  const double *meta = mdata;
  char *buf = malloc(size ? size : 1);
  if (!buf) {
    fuse_reply_err(req, ENOMEM);
    return num(env, 0);
  }
  struct mount *mt = mount_of(req);
  size_t used = 0;
  uint32_t i = 0;
  char name[1024];
  for (; i < count; i++) {
    napi_value v;
    size_t nlen = 0;
    napi_get_element(env, argv[3], i, &v);
    if (napi_get_value_string_utf8(env, v, name, sizeof name, &nlen) != napi_ok) break;
    const double *d = meta + (size_t)i * 6;
    size_t need;
    if (plus) {
      struct fuse_entry_param e;
      memset(&e, 0, sizeof e);
      fill_stat(mt, &e.attr, d[0], d[1], d[2], d[3]);
      e.ino = (fuse_ino_t)d[0];
      e.entry_timeout = d[5];
      e.attr_timeout = d[5];
      need = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)d[4]);
    } else {
      struct stat st;
      fill_stat(mt, &st, d[0], d[1], d[2], d[3]);
      need = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)d[4]);
    }
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
  return num(env, i);
}

static void enqueue(struct mount *mt, uint64_t ino, char *name) {
  struct notice *n = calloc(1, sizeof *n);
  if (!n) {
    free(name);
    return;
  }
  n->ino = ino;
  n->name = name;
  pthread_mutex_lock(&mt->lock);
  if (mt->loop_done) {
    pthread_mutex_unlock(&mt->lock);
    free(name);
    free(n);
    return;
  }
  if (mt->tail) mt->tail->next = n;
  else mt->head = n;
  mt->tail = n;
  pthread_cond_signal(&mt->wake);
  pthread_mutex_unlock(&mt->lock);
}

/* invalInode(handle, ino): the kernel drops the inode's attributes and cached pages. */
static napi_value js_inval_inode(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct mount *mt = get_mount(env, argv[0]);
  if (mt) enqueue(mt, (uint64_t)get_num(env, argv[1]), NULL);
  return NULL;
}

/* invalEntry(handle, parent, name): the kernel forgets what `name` in folder `parent` is. */
static napi_value js_inval_entry(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct mount *mt = get_mount(env, argv[0]);
  char *name = get_string(env, argv[2]);
  if (mt && name) enqueue(mt, (uint64_t)get_num(env, argv[1]), name);
  else free(name);
  return NULL;
}

/* The Int32Array `v`'s memory, kept alive by `ref` until it is deleted; NULL if `v` is not one. */
static int32_t *int32s(napi_env env, napi_value v, napi_ref *ref) {
  napi_typedarray_type tt;
  size_t len = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &tt, &len, &data, NULL, NULL) != napi_ok || tt != napi_int32_array || len < 1) return NULL;
  if (napi_create_reference(env, v, 1, ref) != napi_ok) return NULL;
  return data;
}

/*
 * setDirect(handle, fh, fd, writable, durable) -> whether the file was written directly since
 * JavaScript last took note. fd >= 0: this file answers the handle's reads (and writes, if
 * `writable`; fsyncs too while `durable`, an Int32Array that outlives the mount, holds 1) on a
 * duplicate of `fd`. fd < 0: it stops; no direct write happens after this returns.
 */
static napi_value js_set_direct(napi_env env, napi_callback_info info) {
  ARGS(5);
  struct mount *mt = get_mount(env, argv[0]);
  if (!mt) return throw_error(env, "EINVAL", "not a mount");
  uint64_t fh = (uint64_t)get_num(env, argv[1]);
  int fd = (int)get_num(env, argv[2]);
  struct direct *d = NULL;
  if (fd >= 0) {
    d = calloc(1, sizeof *d);
    if (!d) return throw_error(env, "ENOMEM", "out of memory");
    d->fh = fh;
    bool w = false;
    napi_get_value_bool(env, argv[3], &w);
    d->writable = w;
    d->durable = int32s(env, argv[4], &d->durable_ref);
    d->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d->fd < 0) {
      int e = errno;
      if (d->durable_ref) napi_delete_reference(env, d->durable_ref);
      free(d);
      return throw_error(env, "EIO", strerror(e));
    }
  }
  pthread_mutex_lock(&mt->dlock);
  struct direct **p = direct_slot(mt, fh);
  struct direct *old = *p;
  if (old) *p = old->next;
  if (d) {
    d->next = mt->direct[fh % DIRECT_BUCKETS];
    mt->direct[fh % DIRECT_BUCKETS] = d;
  }
  pthread_mutex_unlock(&mt->dlock);
  bool written = false;
  if (old) {
    written = old->written;
    direct_free(env, old);
  }
  napi_value r;
  napi_get_boolean(env, written, &r);
  return r;
}

/* knowEmpty(handle, ino[, token, rel]): folder `ino`, just made and empty, has only the names made
   in it from now on; with a journal's token and the folder's path in it, creations in it may be
   answered here. */
static napi_value js_know_empty(napi_env env, napi_callback_info info) {
  ARGS(4);
  struct mount *mt = get_mount(env, argv[0]);
  if (!mt) return throw_error(env, "EINVAL", "not a mount");
  uint64_t ino = (uint64_t)get_num(env, argv[1]);
  napi_valuetype tt = napi_undefined;
  if (argc >= 4) napi_typeof(env, argv[3], &tt);
  uint32_t token = tt == napi_string ? (uint32_t)get_num(env, argv[2]) : 0;
  char *rel = token ? get_string(env, argv[3]) : NULL;
  pthread_mutex_lock(&mt->klock);
  if (!mt->kdirs) {
    mt->kdirs = calloc(KNOWN_BUCKETS, sizeof *mt->kdirs);
    mt->knames = calloc(KNOWN_BUCKETS, sizeof *mt->knames);
    if (!mt->kdirs || !mt->knames) {
      free(mt->kdirs);
      free(mt->knames);
      mt->kdirs = NULL;
      mt->knames = NULL;
    }
  }
  struct known_dir *d = mt->kdirs && !known_dir(mt, ino) ? malloc(sizeof *d) : NULL;
  if (d) {
    d->ino = ino;
    d->token = rel ? token : 0;
    d->rel = rel;
    rel = NULL;
    d->next = mt->kdirs[ino % KNOWN_BUCKETS];
    mt->kdirs[ino % KNOWN_BUCKETS] = d;
  }
  pthread_mutex_unlock(&mt->klock);
  free(rel);
  return NULL;
}

static void jlog_free(napi_env env, struct jlog *j) {
  for (size_t i = 0; i < j->n; i++) close(j->files[i].fd);
  free(j->files);
  if (j->seq_ref) napi_delete_reference(env, j->seq_ref);
  if (j->durable_ref) napi_delete_reference(env, j->durable_ref);
  close(j->fd);
  pthread_mutex_destroy(&j->lock);
  free(j);
}

/* attachLog(handle, token, fd, seq, durable): journal `token`'s log is appended to here from now on
   (fd: its descriptor, duplicated; seq, durable: its shared counter and flag, Int32Arrays). */
static napi_value js_attach_log(napi_env env, napi_callback_info info) {
  ARGS(5);
  struct mount *mt = get_mount(env, argv[0]);
  if (!mt) return throw_error(env, "EINVAL", "not a mount");
  struct jlog *j = calloc(1, sizeof *j);
  if (!j) return throw_error(env, "ENOMEM", "out of memory");
  j->token = (uint32_t)get_num(env, argv[1]);
  j->fd = fcntl((int)get_num(env, argv[2]), F_DUPFD_CLOEXEC, 0);
  j->seq = int32s(env, argv[3], &j->seq_ref);
  j->durable = int32s(env, argv[4], &j->durable_ref);
  struct jlog **all = realloc(mt->jlogs, (mt->njlogs + 1) * sizeof *all);
  if (j->fd < 0 || !j->seq || !j->durable || !all) {
    if (all) mt->jlogs = all;
    if (j->fd < 0) j->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    jlog_free(env, j);
    return throw_error(env, "EINVAL", "could not take the journal's log");
  }
  pthread_mutex_init(&j->lock, NULL);
  j->size = lseek(j->fd, 0, SEEK_END);
  j->logged = __atomic_load_n(j->seq, __ATOMIC_SEQ_CST);
  pthread_mutex_lock(&mt->dlock);
  mt->jlogs = all;
  mt->jlogs[mt->njlogs++] = j;
  pthread_mutex_unlock(&mt->dlock);
  return NULL;
}

/* The log named by argv[1], locked (see detachLog), or NULL. */
static struct jlog *jlog_locked(napi_env env, napi_value *argv) {
  struct mount *mt = get_mount(env, argv[0]);
  if (!mt) return NULL;
  pthread_mutex_lock(&mt->dlock);
  struct jlog *j = jlog_of(mt, (uint32_t)get_num(env, argv[1]));
  if (j) pthread_mutex_lock(&j->lock);
  pthread_mutex_unlock(&mt->dlock);
  return j;
}

/* appendLog(handle, token, line, seq): JavaScript's record `seq` appended, whole or not at all. */
static napi_value js_append_log(napi_env env, napi_callback_info info) {
  ARGS(4);
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) return throw_error(env, "EINVAL", "not a buffer");
  struct jlog *j = jlog_locked(env, argv);
  if (!j) return throw_error(env, "EINVAL", "no such journal log");
  int err = jlog_write(j, data, len, (int32_t)get_num(env, argv[3]));
  pthread_mutex_unlock(&j->lock);
  if (err) return throw_error(env, strerrorname_np(err) ? strerrorname_np(err) : "EIO", strerror(err));
  return NULL;
}

/* logDurable(handle, token, upTo): records up to `upTo` are durable; the flag says so if no later one was appended. */
static napi_value js_log_durable(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct jlog *j = jlog_locked(env, argv);
  if (!j) return NULL;
  if ((int32_t)get_num(env, argv[2]) >= j->logged) __atomic_store_n(j->durable, 1, __ATOMIC_SEQ_CST);
  pthread_mutex_unlock(&j->lock);
  return NULL;
}

/* logBusy(handle, token, delta): JavaScript begins (1) or ends (-1) a change of its own. */
static napi_value js_log_busy(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct jlog *j = jlog_locked(env, argv);
  if (!j) return NULL;
  j->busy += (int)get_num(env, argv[2]);
  pthread_mutex_unlock(&j->lock);
  return NULL;
}

/* truncateLog(handle, token, taken): cut the log to nothing if JavaScript has taken in all `taken`
   creations recorded here (else one it has not is in it); true if cut. */
static napi_value js_truncate_log(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct jlog *j = jlog_locked(env, argv);
  if (!j) return throw_error(env, "EINVAL", "no such journal log");
  int cut = j->made == get_num(env, argv[2]);
  int err = cut && ftruncate(j->fd, 0) < 0 ? errno : 0;
  if (cut && !err) j->size = 0;
  pthread_mutex_unlock(&j->lock);
  if (err) return throw_error(env, strerrorname_np(err) ? strerrorname_np(err) : "EIO", strerror(err));
  napi_value r;
  napi_get_boolean(env, cut, &r);
  return r;
}

/* detachLog(handle, token): JavaScript writes the log itself again; its new files here are closed. */
static napi_value js_detach_log(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct mount *mt = get_mount(env, argv[0]);
  if (!mt) return throw_error(env, "EINVAL", "not a mount");
  uint32_t token = (uint32_t)get_num(env, argv[1]);
  struct jlog *j = NULL;
  pthread_mutex_lock(&mt->dlock);
  for (size_t i = 0; i < mt->njlogs; i++)
    if (mt->jlogs[i]->token == token) {
      j = mt->jlogs[i];
      mt->jlogs[i] = mt->jlogs[--mt->njlogs];
      break;
    }
  pthread_mutex_unlock(&mt->dlock);
  /* A creation taking the log's lock now finds it gone next time; one under way holds the lock. */
  if (j) {
    pthread_mutex_lock(&j->lock);
    pthread_mutex_unlock(&j->lock);
    jlog_free(env, j);
  }
  return NULL;
}

/* giveNewFile(handle, token, ino, fh, fd, id): a new file ready for a creation in journal `token`. */
static napi_value js_give_new_file(napi_env env, napi_callback_info info) {
  ARGS(6);
  struct mount *mt = get_mount(env, argv[0]);
  if (!mt) return throw_error(env, "EINVAL", "not a mount");
  struct new_file f = {(uint64_t)get_num(env, argv[2]), (uint64_t)get_num(env, argv[3]), -1, {0}};
  size_t idlen = 0;
  if (napi_get_value_string_utf8(env, argv[5], f.id, sizeof f.id, &idlen) != napi_ok || idlen == 0 || idlen >= sizeof f.id - 1)
    return throw_error(env, "EINVAL", "not a data file id");
  f.fd = fcntl((int)get_num(env, argv[4]), F_DUPFD_CLOEXEC, 0);
  if (f.fd < 0) return throw_error(env, "EIO", strerror(errno));
  pthread_mutex_lock(&mt->dlock);
  struct jlog *j = jlog_of(mt, (uint32_t)get_num(env, argv[1]));
  if (j && j->n == j->cap) {
    size_t cap = j->cap ? j->cap * 2 : 32;
    struct new_file *fs = realloc(j->files, cap * sizeof *fs);
    if (fs) {
      j->files = fs;
      j->cap = cap;
    }
  }
  int ok = j && j->n < j->cap;
  if (ok) j->files[j->n++] = f;
  pthread_mutex_unlock(&mt->dlock);
  if (!ok) {
    close(f.fd);
    return throw_error(env, "EINVAL", "no such journal log");
  }
  return NULL;
}

/* unbusy(handle): a request that may change a journal (see `may_change`) was answered. */
static napi_value js_unbusy(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct mount *mt = get_mount(env, argv[0]);
  if (mt) __atomic_sub_fetch(&mt->busy, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

/* forgetKnown(handle[, ino]): folder `ino`, or every folder, is no longer known here. */
static napi_value js_forget_known(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct mount *mt = get_mount(env, argv[0]);
  if (!mt) return throw_error(env, "EINVAL", "not a mount");
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  pthread_mutex_lock(&mt->klock);
  if (t == napi_number) forget_known_dir(mt, (uint64_t)get_num(env, argv[1]));
  else forget_known(mt);
  pthread_mutex_unlock(&mt->klock);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
      {"replyErr", NULL, js_reply_err, NULL, NULL, NULL, napi_default, NULL},
      {"replyEntry", NULL, js_reply_entry, NULL, NULL, NULL, napi_default, NULL},
      {"replyCreate", NULL, js_reply_create, NULL, NULL, NULL, napi_default, NULL},
      {"replyAttr", NULL, js_reply_attr, NULL, NULL, NULL, napi_default, NULL},
      {"replyReadlink", NULL, js_reply_readlink, NULL, NULL, NULL, napi_default, NULL},
      {"replyOpen", NULL, js_reply_open, NULL, NULL, NULL, napi_default, NULL},
      {"replyBuf", NULL, js_reply_buf, NULL, NULL, NULL, napi_default, NULL},
      {"replyWrite", NULL, js_reply_write, NULL, NULL, NULL, napi_default, NULL},
      {"replyDir", NULL, js_reply_dir, NULL, NULL, NULL, napi_default, NULL},
      {"invalInode", NULL, js_inval_inode, NULL, NULL, NULL, napi_default, NULL},
      {"invalEntry", NULL, js_inval_entry, NULL, NULL, NULL, napi_default, NULL},
      {"setDirect", NULL, js_set_direct, NULL, NULL, NULL, napi_default, NULL},
      {"knowEmpty", NULL, js_know_empty, NULL, NULL, NULL, napi_default, NULL},
      {"forgetKnown", NULL, js_forget_known, NULL, NULL, NULL, napi_default, NULL},
      {"attachLog", NULL, js_attach_log, NULL, NULL, NULL, napi_default, NULL},
      {"appendLog", NULL, js_append_log, NULL, NULL, NULL, napi_default, NULL},
      {"logDurable", NULL, js_log_durable, NULL, NULL, NULL, napi_default, NULL},
      {"logBusy", NULL, js_log_busy, NULL, NULL, NULL, napi_default, NULL},
      {"truncateLog", NULL, js_truncate_log, NULL, NULL, NULL, napi_default, NULL},
      {"detachLog", NULL, js_detach_log, NULL, NULL, NULL, napi_default, NULL},
      {"giveNewFile", NULL, js_give_new_file, NULL, NULL, NULL, napi_default, NULL},
      {"unbusy", NULL, js_unbusy, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
