/** One scheduled entry: a key and the instant (ms since the epoch) it is due. */
export interface TimerEntry<K> {
  readonly key: K;
  readonly at: number;
}

/**
 * A binary min-heap of due times with one entry per key, indexed by key so that rescheduling or
 * cancelling a key is O(log n) and leaves no stale entries behind (a long-running controller
 * reschedules every Certificate at every renewal; stale entries would grow without bound).
 */
export class TimerHeap<K> {
  private readonly entries: { key: K; at: number }[] = [];
  private readonly index = new Map<K, number>();

  /** How many keys are scheduled. */
  get size(): number {
    return this.entries.length;
  }

  /** The earliest entry, if any. */
  peek(): TimerEntry<K> | undefined {
    return this.entries[0];
  }

  /** When `key` is due, if scheduled. */
  dueAt(key: K): number | undefined {
    const i = this.index.get(key);
    return i === undefined ? undefined : this.entries[i]?.at;
  }

  /** Schedules `key` at `at`, replacing any earlier schedule of the same key. */
  set(key: K, at: number): void {
    const i = this.index.get(key);
    if (i === undefined) {
      this.entries.push({ key, at });
      this.index.set(key, this.entries.length - 1);
      this.up(this.entries.length - 1);
      return;
    }
    const entry = this.at(i);
    const old = entry.at;
    entry.at = at;
    if (at < old) this.up(i);
    else this.down(i);
  }

  /** Unschedules `key`; true when it was scheduled. */
  delete(key: K): boolean {
    const i = this.index.get(key);
    if (i === undefined) return false;
    this.removeAt(i);
    return true;
  }

  /** Removes and returns every key due at or before `now`, earliest first. */
  popDue(now: number): K[] {
    const due: K[] = [];
    for (let top = this.entries[0]; top !== undefined && top.at <= now; top = this.entries[0]) {
      due.push(top.key);
      this.removeAt(0);
    }
    return due;
  }

  /** Forgets everything. */
  clear(): void {
    this.entries.length = 0;
    this.index.clear();
  }

  private at(i: number): { key: K; at: number } {
    const e = this.entries[i];
    if (e === undefined) throw new RangeError(`timer heap index ${i} out of range`);
    return e;
  }

  private removeAt(i: number): void {
    const removed = this.at(i);
    this.index.delete(removed.key);
    const last = this.entries.pop();
    if (last === undefined || i === this.entries.length) return;
    this.entries[i] = last;
    this.index.set(last.key, i);
    this.up(i);
    this.down(i);
  }

  private swap(i: number, j: number): void {
    const a = this.at(i);
    const b = this.at(j);
    this.entries[i] = b;
    this.entries[j] = a;
    this.index.set(b.key, i);
    this.index.set(a.key, j);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.at(parent).at <= this.at(i).at) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.entries.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < n && this.at(l).at < this.at(least).at) least = l;
      if (r < n && this.at(r).at < this.at(least).at) least = r;
      if (least === i) return;
      this.swap(i, least);
      i = least;
    }
  }
}
