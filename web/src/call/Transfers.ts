import { Store } from '../util/Store.ts';

/** A file on its way to the server, or from it to this browser. */
export interface Transfer {
  /** A download's is its file's id (one download of a file at a time); an upload's is its own. */
  id: string;
  kind: 'upload' | 'download';
  name: string;
  /** Bytes in all, and so far. */
  size: number;
  done: number;
  /** The one person an upload is for, by name. */
  toName?: string;
  /** When it began, this browser's clock: its place in the chat. */
  ts: number;
  cancel(): void;
}

/** A file that was not sent or received, and why: a line in the chat until dismissed. */
export interface TransferProblem {
  id: string;
  text: string;
  ts: number;
}

/** What went wrong is kept this long a list: older lines go first. */
const MAX_PROBLEMS = 20;

/**
 * The files being sent and received, and those that failed. A store of its own, apart from the call's:
 * progress changes many times a second, and only the chat shows it, not the whole call screen.
 */
export class Transfers extends Store {
  list: Transfer[] = [];
  problems: TransferProblem[] = [];
  #next = 1;

  begin(transfer: Omit<Transfer, 'id' | 'done' | 'ts'> & { id?: string }): Transfer {
    const entry: Transfer = { ...transfer, id: transfer.id ?? `up-${this.#next++}`, done: 0, ts: Date.now() };
    this.list = [...this.list, entry];
    this.changed();
    return entry;
  }

  /** A download of the file with this id, while it runs. */
  download(fileId: string): Transfer | undefined {
    return this.list.find((t) => t.kind === 'download' && t.id === fileId);
  }

  /** Records progress; the chat re-renders once per whole percent, not once per chunk. */
  progress(transfer: Transfer, done: number, size = transfer.size): void {
    const percent = (n: number, of: number) => (of > 0 ? Math.floor((n * 100) / of) : 0);
    const before = percent(transfer.done, transfer.size);
    transfer.done = done;
    transfer.size = size;
    if (percent(done, size) !== before) {
      this.list = [...this.list];
      this.changed();
    }
  }

  end(transfer: Transfer): void {
    this.list = this.list.filter((t) => t !== transfer);
    this.changed();
  }

  fail(text: string): void {
    this.problems = [...this.problems, { id: `problem-${this.#next++}`, text, ts: Date.now() }].slice(
      -MAX_PROBLEMS,
    );
    this.changed();
  }

  dismiss(id: string): void {
    this.problems = this.problems.filter((p) => p.id !== id);
    this.changed();
  }

  /** Stops every transfer (the call is over). */
  cancelAll(): void {
    for (const t of this.list) t.cancel();
    this.list = [];
    this.changed();
  }
}
