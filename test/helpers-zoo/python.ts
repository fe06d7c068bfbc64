/**
 * Talking to the PyTorch side: scripts/*.py --serve read one JSON request per
 * line on stdin and answer one JSON line each, so a test file pays for
 * `import torch` once and can keep Python busy while torchlet computes.
 *
 * PyTorch 1.13 comes from Debian and lives in /usr/bin/python3 (the python3 on
 * PATH may be another interpreter); TORCHLET_PYTHON overrides it.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PYTHON = process.env.TORCHLET_PYTHON ?? '/usr/bin/python3';

/** A script under scripts/ (this file runs as dist/test/helpers-zoo/python.js). */
export function scriptPath(name: string): string {
  return fileURLToPath(new URL(`../../../scripts/${name}`, import.meta.url));
}

let torchCheck: string | null | undefined;

/**
 * null when PyTorch can be imported, else why not. Tests skip with this reason,
 * unless TORCHLET_REQUIRE_TORCH=1 makes a missing PyTorch a failure.
 */
export function torchUnavailable(): string | null {
  if (torchCheck !== undefined) return torchCheck;
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
  torchCheck = r.status === 0 ? null : `PyTorch not importable with ${PYTHON}: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop()}`;
  if (torchCheck && process.env.TORCHLET_REQUIRE_TORCH === '1') throw new Error(torchCheck);
  return torchCheck;
}

export type Reply = Record<string, unknown>;

export class PyServer {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly pending: Array<{ resolve: (r: Reply) => void; reject: (e: Error) => void; what: string }> = [];
  private stdoutBuf = '';
  private stderrTail = '';
  private exited: Error | null = null;
  private readonly exitPromise: Promise<void>;

  constructor(readonly script: string) {
    this.proc = spawn(PYTHON, [scriptPath(script), '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.setEncoding('utf8');
    this.proc.stderr.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk: string) => {
      this.stdoutBuf += chunk;
      let nl: number;
      while ((nl = this.stdoutBuf.indexOf('\n')) >= 0) {
        const line = this.stdoutBuf.slice(0, nl).trim();
        this.stdoutBuf = this.stdoutBuf.slice(nl + 1);
        if (!line) continue;
        const waiter = this.pending.shift();
        if (!waiter) continue;
        let reply: Reply;
        try {
          reply = JSON.parse(line) as Reply;
        } catch {
          waiter.reject(new Error(`${script}: unparseable reply to ${waiter.what}: ${line.slice(0, 500)}`));
          continue;
        }
        if (reply.ok === true) waiter.resolve(reply);
        else waiter.reject(new Error(`${script} failed on ${waiter.what}: ${String(reply.error)}\n${String(reply.trace ?? '')}`));
      }
    });
    this.proc.stderr.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-8000);
    });
    this.exitPromise = new Promise((resolve) => {
      const onEnd = (why: string) => {
        this.exited = new Error(`${script} (${PYTHON}) ${why}; stderr:\n${this.stderrTail}`);
        for (const w of this.pending.splice(0)) w.reject(this.exited);
        resolve();
      };
      this.proc.on('error', (err) => onEnd(`could not run: ${err.message}`));
      this.proc.on('exit', (code, signal) => onEnd(`exited with ${signal ?? code}`));
    });
  }

  /** Send a request; resolves with the reply (replies come back in request order). */
  request(req: Record<string, unknown>): Promise<Reply> {
    const what = JSON.stringify(req);
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject, what });
      this.proc.stdin.write(`${what}\n`);
    });
  }

  /** Close stdin and wait for the process to end (killing it after a grace period). */
  async close(): Promise<void> {
    if (!this.exited) this.proc.stdin.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.exitPromise;
    clearTimeout(timer);
  }
}
