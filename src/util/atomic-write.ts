/**
 * Write a file so that readers see either the old content or the new, never
 * a half-written file: write a temp file in the same directory, fsync it,
 * rename it over the target, then fsync the directory so the rename survives
 * a crash. On any failure the temp file is removed and the target is left as
 * it was.
 *
 * `data` may be an iterable of chunks, consumed while writing, so large files
 * (checkpoints) never need one buffer holding all of their bytes.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

let counter = 0;

function writeAll(fd: number, bytes: Uint8Array): void {
  // writeSync may write less than asked (and at most 2 GiB per call).
  const CHUNK = 1 << 30;
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, Math.min(CHUNK, bytes.length - off));
}

export function atomicWriteFileSync(
  file: string, data: string | Uint8Array | Iterable<Uint8Array>, opts: { createDir?: boolean } = {},
): void {
  const dir = path.dirname(path.resolve(file));
  if (opts.createDir ?? true) mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${counter++}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch (err) {
    throw new Error(`cannot create a temporary file in ${dir}: ${(err as Error).message}`, { cause: err });
  }
  try {
    try {
      if (typeof data === 'string') writeAll(fd, Buffer.from(data, 'utf8'));
      else if (data instanceof Uint8Array) writeAll(fd, data);
      else for (const chunk of data) writeAll(fd, chunk);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dir);
}

/** Make a directory's entries (a rename into it) durable; some filesystems refuse, and renames stay atomic anyway. */
export function fsyncDir(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself is still atomic.
  }
}
