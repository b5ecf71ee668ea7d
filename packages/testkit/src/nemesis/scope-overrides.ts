/**
 * A store seen through a recorder: `store`, whose `scope(...)` returns scopes with some methods
 * replaced by `overrides(scope)`. Everything else reaches the store and its scopes unchanged (bound
 * to them, so their private fields work). The recording stores of the nemesis replicas use it.
 */
export function withScopeOverrides<S extends object>(
  store: S,
  overrides: (scope: object) => Record<string, unknown>,
): S {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property !== 'scope' || typeof value !== 'function') {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (...args: unknown[]) => {
        const scope = (value as (...args: unknown[]) => object).apply(target, args);
        const replaced = overrides(scope);
        return new Proxy(scope, {
          get(inner, key) {
            if (typeof key === 'string' && Object.hasOwn(replaced, key)) return replaced[key];
            const member = Reflect.get(inner, key, inner) as unknown;
            return typeof member === 'function' ? member.bind(inner) : member;
          },
        });
      };
    },
  });
}
