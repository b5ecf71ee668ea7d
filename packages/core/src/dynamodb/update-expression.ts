/**
 * Turns an {@link UpdatePlan} into the expression parts of a versioned UpdateItem. Every name and
 * value goes through a placeholder, so attribute names that are DynamoDB reserved words (`ttl`,
 * `count`, `state`…) and user data can never change the meaning of the expression.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/** A DynamoDB item (or key) in its wire form. */
export type DynamoItem = Record<string, AttributeValue>;

/**
 * The new state a {@link conditionalUpdate} writes, computed from the current item. The helper
 * adds the version check and bump; the plan must not touch the version or key attributes.
 * @typeParam R A value the caller wants back with the outcome (the decision it took).
 */
export interface UpdatePlan<R = undefined> {
  /** Attributes to set, by name. */
  set?: Readonly<Record<string, AttributeValue>> | undefined;
  /** Attributes to remove, by name. */
  remove?: readonly string[] | undefined;
  /** Returned as `result` once the write succeeds (or at once, when the plan writes nothing). */
  result?: R;
}

/** The expression parts of one UpdateItem request. */
export interface VersionedUpdate {
  /** `SET … , #version = :nextVersion [REMOVE …]` */
  UpdateExpression: string;
  /** The version is still the one seen (or absent). */
  ConditionExpression: string;
  /** Placeholders of every attribute name. */
  ExpressionAttributeNames: Record<string, string>;
  /** Placeholders of every value. */
  ExpressionAttributeValues: Record<string, AttributeValue>;
}

/** Whether the plan changes nothing, so no write is needed. */
export function isEmptyPlan(plan: UpdatePlan<unknown>): boolean {
  if (plan.remove !== undefined && plan.remove.length > 0) return false;
  if (plan.set !== undefined) {
    for (const _ in plan.set) return false;
  }
  return true;
}

/**
 * The version a writer saw: the number in `versionAttribute`, or `undefined` when the item (or
 * its version) is absent.
 */
export function readVersion(
  item: DynamoItem | undefined,
  versionAttribute: string,
): number | undefined {
  const raw = item?.[versionAttribute]?.N;
  if (raw === undefined) return undefined;
  const version = Number(raw);
  return Number.isSafeInteger(version) ? version : undefined;
}

/**
 * Builds the update: the plan's SET and REMOVE clauses, `version = seen + 1`, and the condition
 * that the version is still the one seen (or absent, when none was seen).
 *
 * @throws {TypeError} when the plan touches the version attribute or a key attribute.
 */
export function versionedUpdate(
  plan: UpdatePlan<unknown>,
  seenVersion: number | undefined,
  versionAttribute: string,
  key: DynamoItem,
): VersionedUpdate {
  const names: Record<string, string> = { '#version': versionAttribute };
  const values: Record<string, AttributeValue> = {
    ':nextVersion': { N: String((seenVersion ?? 0) + 1) },
  };
  const assignments: string[] = [];
  let index = 0;
  if (plan.set !== undefined) {
    for (const attribute in plan.set) {
      expectWritable(attribute, versionAttribute, key);
      const value = plan.set[attribute]!;
      names[`#a${index}`] = attribute;
      values[`:a${index}`] = value;
      assignments.push(`#a${index} = :a${index}`);
      index++;
    }
  }
  assignments.push('#version = :nextVersion');
  let expression = `SET ${assignments.join(', ')}`;
  if (plan.remove !== undefined && plan.remove.length > 0) {
    const removals: string[] = [];
    for (const attribute of plan.remove) {
      expectWritable(attribute, versionAttribute, key);
      names[`#a${index}`] = attribute;
      removals.push(`#a${index}`);
      index++;
    }
    expression += ` REMOVE ${removals.join(', ')}`;
  }
  let condition: string;
  if (seenVersion === undefined) {
    condition = 'attribute_not_exists(#version)';
  } else {
    condition = '#version = :seenVersion';
    values[':seenVersion'] = { N: String(seenVersion) };
  }
  return {
    UpdateExpression: expression,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

function expectWritable(attribute: string, versionAttribute: string, key: DynamoItem): void {
  if (attribute === versionAttribute || Object.hasOwn(key, attribute)) {
    throw new TypeError(
      `Expected the update plan not to write the ${attribute === versionAttribute ? 'version' : 'key'} attribute, got ${JSON.stringify(attribute)}`,
    );
  }
}
