/**
 * The history of a nemesis run: every replica (and the nemesis itself) appends one JSON line per
 * event to its own file, synchronously, so a replica that is SIGKILLed loses nothing it recorded.
 * After the run the files are merged into one history ordered by the shared monotonic time.
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';

/** Environment variable naming the file a replica appends its history to. */
export const HISTORY_FILE_ENV = 'BREAKWATER_NEMESIS_HISTORY';

/** What an event says about an operation (Jepsen's vocabulary). */
export type HistoryEventType = 'invoke' | 'ok' | 'fail' | 'info';

/** One line of a history. */
export interface HistoryEvent {
  /** Who recorded it: a replica's index, -1 for the nemesis, -2 for the shared resource. */
  process: number;
  /** The recording process's id (a restarted replica gets a new one). */
  pid: number;
  /** `invoke` starts an operation; `ok` / `fail` end it; `info` is a fact or an unknown ending. */
  type: HistoryEventType;
  /** The operation: `limit`, `act`, `probe`, `fault`, … */
  f: string;
  /** Links an operation's `invoke` to its ending; unique per `pid`. */
  id: number;
  /**
   * Monotonic time in ms on a clock every process of the machine shares
   * (`performance.timeOrigin + performance.now()`): immune to wall-clock jumps after start.
   */
  mono: number;
  /** Wall-clock time (`Date.now()`), as the process saw it. */
  wall: number;
  /** Fencing token of the permit or lease the operation ran under, when the pattern has one. */
  token?: number;
  /** What the operation decided or returned (JSON). */
  value?: unknown;
  /** Position in the merged history (set by {@link readHistory}). */
  index?: number;
}

/** Monotonic time shared by every process on the machine, in ms. */
export function sharedMonotonicNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Appends events to one history file. */
export interface HistoryRecorder {
  /** Records the start of an operation; returns its id for {@link complete}. */
  invoke(f: string, value?: unknown, token?: number): number;
  /** Records the end of operation `id` (`ok`, `fail` or `info` when the outcome is unknown). */
  complete(
    id: number,
    type: Exclude<HistoryEventType, 'invoke'>,
    f: string,
    value?: unknown,
    token?: number,
  ): void;
  /** Records a fact that is not an operation (a fault, a status change). */
  info(f: string, value?: unknown, token?: number): void;
  /** Closes the file. Idempotent. */
  close(): void;
}

/** Opens (appending) the history file `path` for the process numbered `process`. */
export function openHistory(path: string, process: number): HistoryRecorder {
  let fd: number | undefined = openSync(path, 'a');
  let nextId = 0;
  const pid = globalThis.process.pid;
  const write = (
    type: HistoryEventType,
    f: string,
    id: number,
    value: unknown,
    token: number | undefined,
  ) => {
    if (fd === undefined) return;
    const event: HistoryEvent = {
      process,
      pid,
      type,
      f,
      id,
      mono: sharedMonotonicNow(),
      wall: Date.now(),
    };
    if (token !== undefined) event.token = token;
    if (value !== undefined) event.value = value;
    writeSync(fd, `${JSON.stringify(event)}\n`);
  };
  return {
    invoke(f, value, token) {
      const id = nextId++;
      write('invoke', f, id, value, token);
      return id;
    },
    complete(id, type, f, value, token) {
      write(type, f, id, value, token);
    },
    info(f, value, token) {
      write('info', f, nextId++, value, token);
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/**
 * The history recorder of a replica process, on the file the nemesis named in
 * {@link HISTORY_FILE_ENV}, numbered by the replica's index.
 */
export function replicaHistory(): HistoryRecorder {
  const path = process.env[HISTORY_FILE_ENV];
  if (path === undefined) throw new Error(`Missing ${HISTORY_FILE_ENV}: run under the nemesis`);
  return openHistory(path, Number(process.env.BREAKWATER_REPLICA_INDEX ?? 0));
}

/**
 * Reads and merges history files into one history ordered by monotonic time (ties keep file
 * order), numbering the events. A torn last line (a replica killed mid-write) is skipped.
 */
export function readHistory(paths: string[]): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const path of paths) {
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        events.push(JSON.parse(line) as HistoryEvent);
      } catch {
        // A line cut by SIGKILL: the operation's ending is unknown, as for any crashed process.
      }
    }
  }
  events.sort((a, b) => a.mono - b.mono);
  events.forEach((event, index) => {
    event.index = index;
  });
  return events;
}

/** An operation: its invoke and its ending (undefined if the process never recorded one). */
export interface Operation {
  invoke: HistoryEvent;
  end: HistoryEvent | undefined;
}

/** Pairs each `invoke` with its ending, per process id, in invoke order. */
export function operations(history: HistoryEvent[], f?: string): Operation[] {
  const open = new Map<string, Operation>();
  const result: Operation[] = [];
  for (const event of history) {
    if (f !== undefined && event.f !== f) continue;
    const key = `${event.pid}:${event.id}`;
    if (event.type === 'invoke') {
      const operation = { invoke: event, end: undefined };
      open.set(key, operation);
      result.push(operation);
    } else {
      const operation = open.get(key);
      if (operation !== undefined) {
        operation.end = event;
        open.delete(key);
      }
    }
  }
  return result;
}
