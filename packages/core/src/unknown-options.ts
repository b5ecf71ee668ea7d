/**
 * Warnings for options a factory does not know. An option it does not read is otherwise ignored in
 * silence: a typo, or a name carried over from the library being replaced (`retry({ retries: 3 })`
 * from p-retry, `cache({ ttl: '1h' })` from bentocache: entries then never expire). Every factory of
 * every package checks its options bag (and the plain option bags nested in it) at construction,
 * once; nothing runs per call.
 *
 * Each warning goes through `process.emitWarning` with type {@link BREAKWATER_WARNING_TYPE} and code
 * {@link UNKNOWN_OPTION_WARNING_CODE}, once per factory and option name per process, so a factory
 * called per request does not flood the logs:
 *
 * ``retry(): unknown option `retries` (ignored) — did you mean `maxAttempts`? (p-retry's `retries`
 * counts retries; `maxAttempts` counts attempts: retries + 1)``
 */

/** The `type` of every warning Breakwater emits through `process.emitWarning`. */
export const BREAKWATER_WARNING_TYPE = 'BreakwaterWarning';

/** The `code` of the warning for an option a factory does not know. */
export const UNKNOWN_OPTION_WARNING_CODE = 'BREAKWATER_UNKNOWN_OPTION';

type KeysOfUnion<T> = T extends unknown ? keyof T : never;

/**
 * Every option name of the options type `T` (of each member, when `T` is a union), as an object
 * whose values are `true`. Declare a factory's list with `satisfies KnownOptions<Options>`: tsc then
 * fails when an option is added to the type but not to the list, and when the list names an option
 * the type does not have, so the list cannot drift from the type.
 *
 * @example
 * export const TIMEOUT_OPTIONS = { ms: true, strategy: true, name: true } as const satisfies
 *   KnownOptions<TimeoutOptions>;
 */
export type KnownOptions<T> = { readonly [K in KeysOfUnion<T> & string]-?: true };

/**
 * What to use instead of an option of a library Breakwater replaces: the Breakwater option (or
 * code) to use, and a note when its meaning differs. A bare string is `use` alone. Without `use`,
 * `note` says why nothing replaces the option.
 */
export type OptionRename = string | { readonly use?: string; readonly note: string };

/** Renames of foreign options, by their name (`{ retries: { use: 'maxAttempts', note } }`). */
export type OptionRenames = Readonly<Record<string, OptionRename>>;

/** What {@link warnUnknownOptions} needs beyond the factory and the options. */
export interface UnknownOptionsCheck {
  /** The option names the factory reads: a {@link KnownOptions} object. */
  readonly known: Readonly<Record<string, true>>;
  /** Renames of options from the libraries the package replaces. @default none */
  readonly renames?: OptionRenames | undefined;
  /**
   * Where the bag sits in the factory's options, with a trailing dot (`'window.'`,
   * `'classes.critical.'`), for nested option bags. @default '' (the top level)
   */
  readonly path?: string | undefined;
}

/** `factory + '\0' + option path` of each warning emitted, so each is emitted once per process. */
const warned = new Set<string>();

/**
 * Warns once per process, through `process.emitWarning` (type {@link BREAKWATER_WARNING_TYPE},
 * code {@link UNKNOWN_OPTION_WARNING_CODE}), about each own enumerable option of `options` that
 * `check.known` does not list, naming the factory, the option, and for a renamed option what to
 * use instead. Anything but a plain object is left alone (the factory's validation reports it).
 *
 * @param factory How users call the factory, for the message: `'retry()'`.
 */
export function warnUnknownOptions(
  factory: string,
  options: unknown,
  check: UnknownOptionsCheck,
): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) return;
  const { known, renames } = check;
  const path = check.path ?? '';
  for (const key of Object.keys(options)) {
    if (Object.hasOwn(known, key)) continue;
    const id = `${factory}\0${path}${key}`;
    if (warned.has(id)) continue;
    warned.add(id);
    const rename = renames !== undefined && Object.hasOwn(renames, key) ? renames[key] : undefined;
    emit(`${factory}: unknown option \`${path}${key}\` (ignored)${describeRename(rename)}`);
  }
}

function describeRename(rename: OptionRename | undefined): string {
  if (rename === undefined) return '';
  if (typeof rename === 'string') return ` — did you mean \`${rename}\`?`;
  if (rename.use === undefined) return ` — ${rename.note}`;
  return ` — did you mean \`${rename.use}\`? (${rename.note})`;
}

function emit(message: string): void {
  const host = globalThis.process;
  if (typeof host?.emitWarning !== 'function') return;
  host.emitWarning(message, { type: BREAKWATER_WARNING_TYPE, code: UNKNOWN_OPTION_WARNING_CODE });
}
