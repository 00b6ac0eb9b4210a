// When sessions write what they queued: together at the end of the event-loop turn, so that
// several stanzas for one client go out in one write (one TCP segment, one TLS record); and
// sooner once a turn has queued a lot, so that a long turn (a busy server reading hundreds of
// stanzas from its sockets in one go) does not keep every serialized stanza alive to its end.
// Objects that live that long outlast young-generation collections and are copied into the old
// generation, which costs far more than the collection itself (docs/benchmarks.md, "Where the
// event loop's time goes under load").

/** What the batch writes: a session's queued output. */
export interface Flushable {
  flush(): void;
}

/** Characters queued in a turn before the sessions write at once (about 200 chat messages). */
export const OUTPUT_BATCH_CHARS = 128 * 1024;

export class OutputBatch {
  private waiting: Flushable[] = [];
  private chars = 0;
  private scheduled = false;
  private readonly limit: number;

  constructor(limit = OUTPUT_BATCH_CHARS) {
    this.limit = limit;
  }

  /**
   * `target` queued `chars` characters of output; `first` when it had nothing queued before (it
   * joins the batch). Every target in the batch is flushed at the end of the turn, or now once
   * the batch holds `limit` characters.
   */
  queued(target: Flushable, chars: number, first: boolean): void {
    if (first) this.waiting.push(target);
    this.chars += chars;
    if (this.chars >= this.limit) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.onTurnEnd);
    }
  }

  private readonly onTurnEnd = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Writes every waiting target's output now (a target's flush may queue more: a next batch). */
  flush(): void {
    const list = this.waiting;
    if (list.length === 0) return;
    this.waiting = [];
    this.chars = 0;
    // One target failing must not leave the others' output unwritten (they left the batch)
    let failure: { err: unknown } | undefined;
    for (const t of list) {
      try {
        t.flush();
      } catch (err) {
        failure ??= { err };
      }
    }
    if (failure) throw failure.err;
  }
}
