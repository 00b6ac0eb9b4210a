// The HTTP routes modules serve (file upload, host-meta, the privacy page, metrics): types only.
// The listener that accepts connections lives in src/transport/http.ts.
import type { IncomingMessage, ServerResponse } from "node:http";

/** One HTTP request as a route sees it: the parsed, checked URL and where it came from. */
export interface HttpRequest {
  readonly raw: IncomingMessage;
  readonly method: string;
  readonly url: URL;
  /** The decoded path; never contains "." or ".." segments, NUL or encoded slashes (checked by the listener). */
  readonly path: string;
  /** The Host header without port, lower-cased ("" when absent). */
  readonly host: string;
  readonly remoteAddress: string;
  /** Whether the request came over TLS (plain HTTP is served on loopback only, behind a proxy). */
  readonly secure: boolean;
}

export type HttpHandler = (req: HttpRequest, res: ServerResponse) => Promise<void> | void;

/** A route: an exact path, or every path under a prefix when `path` ends with "/". */
export interface HttpRoute {
  methods: string[];
  path: string;
  handler: HttpHandler;
  /**
   * Which listeners serve it: "public" (the HTTPS and plain HTTP listeners, the default) or
   * "metrics" (only the metrics listener, loopback by default).
   */
  scope?: HttpScope;
}

/** A group of listeners: the public ones, or the metrics one. */
export type HttpScope = "public" | "metrics";

/** Reads a request body up to `limit` bytes; rejects with HttpError 413 beyond it. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw new HttpError(413, "request body too large");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, "request body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Thrown by a route to answer with a status code (and a short plain-text reason). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
