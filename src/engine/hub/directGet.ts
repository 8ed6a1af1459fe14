// A GET whose body is read from the socket straight into 4 MiB batch buffers (net/tls `onread`),
// for the downloader's large bodies. Node's HTTP client allocates a new 64 KiB buffer for every socket
// read and hands each through a stream: on loopback that cost ~0.5 CPU s per 256 MB against ~0.1 s
// here (scratch profile, load 8), and it was most of the gap to curl. Reads landing in our own buffers
// also mean a dropped connection loses nothing: every byte the socket delivered is handed to the
// caller before the error. Only what a download needs: HTTP/1.1, `Connection: close`, a body framed by
// Content-Length or by the connection's end; a chunked body answers `chunked` and the caller asks again
// through node:http. Errors are plain (with the socket's code): the caller types them.
import net from 'node:net';
import tls from 'node:tls';

/** Each batch buffer; reads land in it until less than MIN_ROOM is left. */
export const DIRECT_BATCH = 4 << 20;
/** Room a read gets at least (a socket read delivers up to 64 KiB; more when data is waiting). */
const MIN_ROOM = 256 << 10;
/** Batches handed over but not taken before reading pauses. */
const MAX_QUEUED = 2;
/** A response head larger than this is refused. */
const MAX_HEAD = 64 << 10;

export interface DirectResponse {
  status: number;
  headers: Headers;
  /** The body's framing: `chunked` bodies are not read here (discard and ask node:http). */
  framing: 'length' | 'close' | 'chunked';
  /**
   * The body in views of the batch buffers, each handed over once and never written to again. Bytes
   * received before a drop, an abort or a stall are yielded before the error is thrown.
   */
  body: AsyncIterable<Buffer>;
  /** Drops the body unread and closes the connection. */
  discard(): void;
}

export interface DirectOptions {
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Until the response head (ms). */
  timeoutMs: number;
  /** A DIRECT_BATCH-byte buffer for the next batch (default: a new one); transfer.ts reuses those whose bytes have landed. */
  batch?: () => Buffer;
  /** Certificate authorities trusted for https, in place of Node's (verification stays on). */
  ca?: string | Buffer | (string | Buffer)[];
}

/** Sends `GET url` and resolves with the response head; the body follows through `body`. */
export function directGet(url: string, o: DirectOptions): Promise<DirectResponse> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  if (!secure && u.protocol !== 'http:') return Promise.reject(new Error(`unsupported protocol ${u.protocol}`));
  const lines = [`GET ${u.pathname}${u.search} HTTP/1.1`, `host: ${u.host}`];
  for (const [k, v] of Object.entries(o.headers)) {
    if (/[\r\n]/.test(k + v)) return Promise.reject(new Error(`header ${k} holds a line break`));
    if (!/^(host|connection)$/i.test(k)) lines.push(`${k}: ${v}`);
  }
  const request = `${lines.join('\r\n')}\r\nconnection: close\r\n\r\n`;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port) || (secure ? 443 : 80);

  const batch = o.batch ?? (() => Buffer.allocUnsafe(DIRECT_BATCH));
  return new Promise((resolve, reject) => {
    let buf = batch();
    let at = 0; // where the next read lands in buf
    let handed = 0; // buf before this offset belongs to the consumer
    let head: { status: number; headers: Headers; framing: DirectResponse['framing']; length: number } | undefined;
    let bodyBytes = 0;
    const queue: Buffer[] = [];
    let ended = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    let paused = false;

    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const handOver = () => {
      if (at > handed) queue.push(buf.subarray(handed, at));
      handed = at;
    };
    const finish = (err?: Error) => {
      if (ended || failure) return;
      clearTimeout(timer);
      handOver();
      if (err) failure = err;
      else ended = true;
      if (!head) reject(err ?? new Error(`${u.host} closed the connection before answering`));
      notify();
    };

    /** Parses the head once its blank line is in buf[0, at); interim 1xx answers before it are skipped (a loop: a server may send any number). */
    const parseHead = (): void => {
      for (;;) {
        const end = buf.subarray(0, at).indexOf('\r\n\r\n');
        if ((end < 0 ? at : end) > MAX_HEAD) throw new Error(`a response head of more than ${MAX_HEAD} bytes`);
        if (end < 0) return;
        const [statusLine, ...fields] = buf.toString('latin1', 0, end).split('\r\n');
        const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine!);
        if (!m) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(statusLine!.slice(0, 40))}`);
        const status = Number(m[1]);
        const headers = new Headers();
        for (const f of fields) {
          const i = f.indexOf(':');
          if (i <= 0 || /^[ \t]/.test(f)) throw new Error(`a malformed header line: ${JSON.stringify(f.slice(0, 40))}`);
          headers.append(f.slice(0, i).trim(), f.slice(i + 1).trim());
        }
        // The rest of buf is body (or the next head, after an interim 1xx answer).
        const rest = end + 4;
        buf.copy(buf, 0, rest, at);
        at -= rest;
        if (status >= 100 && status < 200) continue;
        const te = headers.get('transfer-encoding');
        const cl = headers.get('content-length');
        const length = cl !== null && /^\d+$/.test(cl) ? Number(cl) : -1;
        if (cl !== null && length < 0) throw new Error(`a Content-Length of ${JSON.stringify(cl)}`);
        const framing = te && !/^identity$/i.test(te) ? 'chunked' : length >= 0 ? 'length' : 'close';
        head = { status, headers, framing, length };
        clearTimeout(timer);
        bodyBytes = 0;
        onBody(at);
        resolve({ status, headers, framing, body: body(), discard: () => socket.destroy() });
        return;
      }
    };

    const onBody = (n: number) => {
      bodyBytes += n;
      if (head!.framing === 'length' && bodyBytes >= head!.length) {
        // Bytes past the announced length are not this body's.
        at -= bodyBytes - head!.length;
        bodyBytes = head!.length;
        socket.destroy();
        return finish();
      }
      if (DIRECT_BATCH - at < MIN_ROOM) {
        handOver();
        buf = batch();
        at = handed = 0;
      }
      notify();
    };

    const onread = {
      buffer: () => buf.subarray(at),
      callback: (n: number) => {
        at += n;
        try {
          if (head) onBody(n);
          else parseHead();
        } catch (err) {
          socket.destroy(new Error(`${u.host} answered badly: ${(err as Error).message}`));
          return false;
        }
        paused = queue.length >= MAX_QUEUED;
        return !paused && !ended;
      },
    };
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`no answer within ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })), o.timeoutMs);
    // onread: a tls.connect option too (passed to the TLSSocket), not yet in @types/node's ConnectionOptions.
    const tlsOptions: tls.ConnectionOptions & { onread: net.OnReadOpts } = { host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], onread, ...(o.ca ? { ca: o.ca } : {}) };
    const socket: net.Socket = secure
      ? tls.connect({ ...tlsOptions, signal: o.signal } as tls.ConnectionOptions)
      : net.connect({ host, port, onread, signal: o.signal });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => {
      if (head?.framing === 'length' && bodyBytes < head.length) finish(Object.assign(new Error(`connection to ${u.host} dropped`), { code: 'ECONNRESET' }));
      else finish();
    });
    socket.write(request);

    async function* body(): AsyncGenerator<Buffer> {
      try {
        for (;;) {
          if (queue.length === 0) handOver();
          if (queue.length > 0) {
            const next = queue.shift()!;
            if (paused && queue.length < MAX_QUEUED && !socket.destroyed) {
              paused = false;
              socket.resume();
            }
            yield next;
            continue;
          }
          if (failure) throw failure;
          if (ended) return;
          await new Promise<void>((r) => (wake = r));
        }
      } finally {
        socket.destroy();
      }
    }
  });
}
