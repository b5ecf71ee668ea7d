/**
 * Recognises the store errors of `@breakwater/core` without importing it (core's tests depend on
 * the testkit, not the other way round). Core brands every error with the list of its kinds under
 * a global symbol, so its own guards work across duplicated package copies; this reads the same
 * brand. No vitest here: the degradation child uses it too.
 */

/** The global symbol under which `@breakwater/core` lists an error's kinds. */
const ERROR_KINDS = Symbol.for('@breakwater/core/error-kinds');

/** How many `cause` links {@link causeChain} follows at most (a guard against cycles). */
const MAX_CHAIN = 32;

/** The Breakwater kinds of `value` (`['BreakwaterError', 'StoreError', …]`), or `[]`. */
export function errorKinds(value: unknown): readonly string[] {
  if (typeof value !== 'object' || value === null) return [];
  const kinds = (value as { [ERROR_KINDS]?: unknown })[ERROR_KINDS];
  return Array.isArray(kinds) ? kinds.filter((kind) => typeof kind === 'string') : [];
}

/** Whether `value` is a `StoreError` of `@breakwater/core` (any copy), as `isStoreError` says. */
export function isStoreErrorLike(value: unknown): boolean {
  return errorKinds(value).includes('StoreError');
}

/** Whether `value` is a `StoreTimeoutError` of `@breakwater/core` (any copy). */
export function isStoreTimeoutErrorLike(value: unknown): boolean {
  return errorKinds(value).includes('StoreTimeoutError');
}

/** `error`, its `cause`, that one's `cause`, …: the chain a caller can walk. */
export function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < MAX_CHAIN) {
    if (chain.includes(current)) break;
    chain.push(current);
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

/** One line per link of the cause chain (`name: message`), for assertion messages. */
export function describeCauseChain(error: unknown): string {
  return causeChain(error)
    .map((link) =>
      link instanceof Error ? `${link.name}: ${link.message}` : `(not an Error) ${String(link)}`,
    )
    .join('\n  caused by ');
}
