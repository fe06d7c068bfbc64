/**
 * `torchlet serve`: a local HTTP server (127.0.0.1 only) for the pages in
 * src/web/ — the playground, which trains in the browser, and the runs view
 * of `torchlet train`'s run directories — plus the library as one ES module
 * at /torchlet.js and Fashion-MNIST's files at /data/<file>, which the
 * playground inflates in the page.
 *
 * It serves a fixed set of names, never a path from the request, so nothing
 * outside the pages, the data files and the runs directory can be reached.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateFashionMNIST, FashionMNISTNotFoundError, fashionMNISTCacheDir, fashionMNISTMirror, type FashionMNISTFileKey } from '../data/fashion-mnist.js';
import { changesBetween, isRunId, listRuns, readRun, runStamp, snapshotEvent, type RunEvent, type RunFiles } from './run-files.js';

/** Where `npm run build` puts the pages and the bundles (scripts/build-web.js). */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

const PAGES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/runs': { file: 'runs.html', type: 'text/html; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/torchlet.js': { file: 'torchlet.js', type: 'text/javascript; charset=utf-8' },
  '/playground.js': { file: 'playground.js', type: 'text/javascript; charset=utf-8' },
  '/train-worker.js': { file: 'train-worker.js', type: 'text/javascript; charset=utf-8' },
  '/runs.js': { file: 'runs.js', type: 'text/javascript; charset=utf-8' },
};
const DATA_KEYS: readonly FashionMNISTFileKey[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

export interface ServeOptions {
  /** 0 picks a free port (default 8080). */
  port?: number;
  /** The runs directory shown at /runs (default 'runs'). */
  runsDir?: string;
  /** Fashion-MNIST's directory (default: where `torchlet train` finds it). */
  dataDir?: string;
  /** How often a run's files are looked at for new points, in ms (default 500). */
  pollMs?: number;
  /** The built pages (default WEB_DIR). */
  webDir?: string;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
}

function sendJson(res: ServerResponse, body: unknown): void {
  send(res, 200, JSON.stringify(body), 'application/json');
}

function sendFile(res: ServerResponse, file: string, type: string): void {
  res.writeHead(200, { 'content-type': type, 'content-length': statSync(file).size, 'cache-control': 'no-cache' });
  createReadStream(file).pipe(res);
}

/** Server-sent events of one run: a snapshot, then its new points as its metrics file grows. */
function streamRun(req: IncomingMessage, res: ServerResponse, runsDir: string, id: string, pollMs: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
  const emit = (e: RunEvent | { type: 'problem'; message: string }): void => {
    res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
  };
  let last: RunFiles = readRun(runsDir, id);
  emit(snapshotEvent(id, last));
  let quietPolls = 0;
  const timer = setInterval(() => {
    try {
      // The files are read again only when one of them changed (run-dir.ts replaces them whole).
      if (runStamp(runsDir, id) !== last.updatedAt) {
        const now = readRun(runsDir, id);
        for (const e of changesBetween(id, last, now)) emit(e);
        last = now;
        quietPolls = 0;
      } else if (++quietPolls * pollMs >= 15_000) {
        quietPolls = 0;
        res.write(': still here\n\n'); // keeps proxies and idle timeouts from closing the stream
      }
    } catch (e) {
      emit({ type: 'problem', message: `reading run ${id}: ${(e as Error).message}` });
    }
  }, pollMs);
  req.on('close', () => clearInterval(timer));
}

function handler(opts: { runsDir: string; pollMs: number; webDir: string; dataDir?: string }) {
  const { runsDir, pollMs, webDir } = opts;
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, `${req.method} is not served here; the pages only read`);
    const page = PAGES[route];
    if (page) {
      const file = path.join(webDir, page.file);
      if (!existsSync(file)) return send(res, 500, `${file} is missing: the pages are made by \`npm run build\` (scripts/build-web.js); run it, then start \`torchlet serve\` again`);
      return sendFile(res, file, page.type);
    }
    // The pages' shared chunk (the charts), named by esbuild with a content hash.
    if (/^\/chunk-[A-Za-z0-9]+\.js$/.test(route) && existsSync(path.join(webDir, route.slice(1)))) {
      return sendFile(res, path.join(webDir, route.slice(1)), 'text/javascript; charset=utf-8');
    }
    if (route.startsWith('/data/')) {
      const key = route.slice('/data/'.length) as FashionMNISTFileKey;
      if (!DATA_KEYS.includes(key)) return send(res, 404, `no data file '${key}': the files are ${DATA_KEYS.join(', ')}`);
      const loc = locateFashionMNIST({ dataDir: opts.dataDir });
      if (!loc.found) return send(res, 404, new FashionMNISTNotFoundError(loc.tried, fashionMNISTCacheDir(), fashionMNISTMirror()).message);
      // As found, gzipped or raw: the page's IDX reader tells them apart and inflates gzip itself.
      return sendFile(res, loc.files[key], 'application/octet-stream');
    }
    if (route === '/api/runs') return sendJson(res, { dir: path.resolve(runsDir), runs: listRuns(runsDir) });
    const m = /^\/api\/runs\/([^/]+)(\/events)?$/.exec(route);
    if (m) {
      const id = decodeURIComponent(m[1]);
      if (!isRunId(id) || !existsSync(path.join(runsDir, id))) return send(res, 404, `no run '${id}' in ${path.resolve(runsDir)}`);
      if (m[2]) return streamRun(req, res, runsDir, id, pollMs);
      return sendJson(res, snapshotEvent(id, readRun(runsDir, id)));
    }
    send(res, 404, `nothing at ${route}: the pages are / (playground) and /runs`);
  };
}

/** Start serving; resolves once listening (rejects, saying what to do, when the port is taken). */
export function serve(options: ServeOptions = {}): Promise<RunningServer> {
  const port = options.port ?? 8080;
  const server = createServer(handler({ runsDir: options.runsDir ?? 'runs', pollMs: options.pollMs ?? 500, webDir: options.webDir ?? WEB_DIR, dataDir: options.dataDir }));
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'EADDRINUSE' ? new Error(`port ${port} on 127.0.0.1 is in use: pass --port with another number (0 picks a free one)`) : e);
    });
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      resolve({
        url: `http://127.0.0.1:${actual}`,
        port: actual,
        server,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}
