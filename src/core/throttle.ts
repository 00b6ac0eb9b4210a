// A sliding-window counter per key (an IP address): failed logins (RFC 6120 §6.4.5 lets the server
// limit retries) and registrations (XEP-0077 §3.1) are limited per address. Loopback may be exempt.

export interface ThrottleOptions {
  max: number;
  windowSeconds: number;
  exemptLoopback: boolean;
  now?: () => number;
}

/** Whether an address is a loopback address (IPv4, IPv6, or IPv4-mapped). */
export function isLoopback(addr: string): boolean {
  return addr === "::1" || addr.startsWith("127.") || addr.startsWith("::ffff:127.");
}

export class Throttle {
  private readonly hits = new Map<string, number[]>();
  private readonly opts: ThrottleOptions;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(opts: ThrottleOptions) {
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  private exempt(key: string): boolean {
    return this.opts.exemptLoopback && isLoopback(key);
  }

  private recent(key: string): number[] {
    const cutoff = this.now() - this.opts.windowSeconds * 1000;
    const list = (this.hits.get(key) ?? []).filter((t) => t > cutoff);
    if (list.length === 0) this.hits.delete(key);
    else this.hits.set(key, list);
    return list;
  }

  /** True when `key` may try again (fewer than max events in the window). */
  allowed(key: string): boolean {
    if (this.exempt(key) || this.opts.max <= 0) return true;
    return this.recent(key).length < this.opts.max;
  }

  /** Records one event for `key`. */
  failed(key: string): void {
    if (this.exempt(key)) return;
    const list = this.recent(key);
    list.push(this.now());
    this.hits.set(key, list);
    this.sweep();
  }

  // Keeps memory bounded: forget keys whose events all left the window.
  private sweep(): void {
    const now = this.now();
    if (now - this.lastSweep < this.opts.windowSeconds * 1000) return;
    this.lastSweep = now;
    for (const key of [...this.hits.keys()]) this.recent(key);
  }
}
