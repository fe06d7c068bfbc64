/**
 * safetensors files (Node): atomic writes and reads that name the file in
 * every error. The format itself (bytes in, bytes out) is safetensors.ts,
 * which the core and browsers use.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { atomicWriteFileSync } from '../util/atomic-write.js';
import type { Tensor } from '../tensor.js';
import type { Module } from '../nn/module.js';
import {
  SafetensorsError, checkHost, lengthPrefix, parseHeader, plan, readAll, tensorBytes,
  type Metadata, type SafetensorsContent, type Source, type TensorInfo,
} from './safetensors.js';

/** An error from the operating system (it carries an errno code such as EACCES). */
function isSystemError(err: unknown): boolean {
  return typeof (err as { code?: unknown } | undefined)?.code === 'string';
}

/**
 * Write a safetensors file atomically (atomicWriteFileSync: temp file, fsync,
 * rename): readers see either the old file or the complete new one, never a
 * partial write; on any error `file` is left as it was. Tensor bytes are
 * produced one at a time while writing, so a checkpoint is never held twice.
 */
export function saveSafetensors(file: string, tensors: ReadonlyMap<string, Tensor>, metadata?: Metadata): void {
  checkHost();
  const where = `safetensors: ${file}`;
  const { header, entries } = plan(tensors, metadata, where);
  function* chunks(): Generator<Uint8Array> {
    yield lengthPrefix(header.length);
    yield header;
    for (const e of entries) yield tensorBytes(e, where);
  }
  try {
    // A missing directory is the caller's mistake to hear about, not something to create.
    atomicWriteFileSync(file, chunks(), { createDir: false });
  } catch (err) {
    // File-system failures get the file named; errors from the tensors themselves pass through.
    if (isSystemError(err) || isSystemError((err as Error).cause)) throw new SafetensorsError(`${where}: ${(err as Error).message}`);
    throw err;
  }
}

function fileSource(file: string, fd: number): Source {
  const size = fstatSync(fd).size;
  return {
    label: `safetensors: ${file}`,
    size,
    read(pos, into) {
      const CHUNK = 1 << 30;
      let done = 0;
      while (done < into.length) {
        const n = readSync(fd, into, done, Math.min(CHUNK, into.length - done), pos + done);
        if (n === 0) throw new SafetensorsError(`safetensors: ${file}: truncated: unexpected end of file at byte ${pos + done}`);
        done += n;
      }
    },
  };
}

/** Run read on a Source over the open file, closing it afterwards; a file that cannot be opened is named. */
function withFileSource<T>(file: string, read: (src: Source) => T): T {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new SafetensorsError(`safetensors: cannot open ${file}: ${(err as Error).message}`);
  }
  try {
    return read(fileSource(file, fd));
  } finally {
    closeSync(fd);
  }
}

/** Read a safetensors file. Errors name the file and what is wrong with it. */
export function loadSafetensors(file: string): SafetensorsContent {
  return withFileSource(file, readAll);
}

/** Only the header: names, dtypes, shapes and offsets, in file order, plus metadata. */
export function readSafetensorsHeader(file: string): { tensors: Map<string, TensorInfo>; metadata: Metadata } {
  return withFileSource(file, (src) => {
    const { metadata, infos } = parseHeader(src);
    return { tensors: new Map(infos), metadata };
  });
}

// ---------------------------------------------------------------- modules

/** Save module.stateDict() (PyTorch key names) to a safetensors file, atomically. */
export function saveModel(module: Module, file: string, metadata?: Metadata): void {
  saveSafetensors(file, module.stateDict(), metadata);
}

/**
 * Load a safetensors checkpoint into module with loadStateDict. With strict
 * (the default) missing or unexpected keys and shape mismatches are errors
 * naming the file.
 */
export function loadModel(module: Module, file: string, strict = true): { missingKeys: string[]; unexpectedKeys: string[]; metadata: Metadata } {
  const { tensors, metadata } = loadSafetensors(file);
  try {
    return { ...module.loadStateDict(tensors, strict), metadata };
  } catch (err) {
    throw new Error(`loadModel(${file}): ${(err as Error).message}`);
  }
}
