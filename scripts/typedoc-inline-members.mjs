// @ts-check
/**
 * A TypeDoc plugin for `pnpm run docs` that sets one rule for `validation.notDocumented`: every export,
 * and every member of an exported interface or class, needs a doc comment; the members of an inline
 * object type (`{ committed: true; attempts: number }`, the value of an `as const` object such as
 * `DEFAULTS`) are described by the comment of the declaration they belong to. TypeDoc itself asks
 * for a comment on each of those members too. Only members without a comment are exempted, each by
 * name, so a comment written on one is still shown.
 */
import { Converter, ReflectionKind } from 'typedoc';

/**
 * Whether `reflection` is a property or method of an inline object type, not within a parameter
 * (TypeDoc does not ask for comments there, and an exemption it does not use is a warning).
 * @param {import('typedoc').Reflection} reflection
 */
function inlineMember(reflection) {
  if (!reflection.kindOf(ReflectionKind.Property | ReflectionKind.Method)) return false;
  let inLiteral = false;
  for (let parent = reflection.parent; parent !== undefined; parent = parent.parent) {
    if (parent.kindOf(ReflectionKind.Parameter)) return false;
    if (parent.kindOf(ReflectionKind.TypeLiteral)) inLiteral = true;
  }
  return inLiteral;
}

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const exempt = Object.values(context.project.reflections)
      .filter((reflection) => !reflection.hasComment() && inlineMember(reflection))
      .map((reflection) => reflection.getFriendlyFullName());
    const listed = app.options.getValue('intentionallyNotDocumented');
    app.options.setValue('intentionallyNotDocumented', [...new Set([...listed, ...exempt])]);
  });
}
