/**
 * What the IaC test compares: the tables and the per-pattern IAM policies of one IaC source (the
 * CloudFormation template or the Terraform module), reduced to the facts the stores depend on.
 * Both loaders produce this shape, so one set of assertions judges both files.
 */
import { resolve } from 'node:path';

/** The repository root. */
export const REPOSITORY = resolve(import.meta.dirname, '../../../../..');

/** The two table layouts of `createTable()`: the stores' table and the write-behind queue's. */
export type TableKind = 'state' | 'queue';

/** A pattern whose DynamoDB store has a policy of its own. */
export interface PatternPolicy {
  /** The pattern's segment of every partition key: `<prefix>:<segment>:…`. */
  readonly segment: string;
  /** The policy's logical ID in the CloudFormation template. */
  readonly cloudFormation: string;
  /** The name of the policy document (and policy) in the Terraform module. */
  readonly terraform: string;
}

/** Every pattern with a DynamoDB store, by the name the test uses for it. */
export const PATTERN_POLICIES = {
  'circuit-breaker': {
    segment: 'circuit-breaker',
    cloudFormation: 'CircuitBreakerPolicy',
    terraform: 'circuit_breaker',
  },
  bulkhead: { segment: 'bulkhead', cloudFormation: 'BulkheadPolicy', terraform: 'bulkhead' },
  'rate-limit': {
    segment: 'rate-limit',
    cloudFormation: 'RateLimitPolicy',
    terraform: 'rate_limit',
  },
  'retry-budget': {
    segment: 'retry',
    cloudFormation: 'RetryBudgetPolicy',
    terraform: 'retry_budget',
  },
  cache: { segment: 'cache', cloudFormation: 'CachePolicy', terraform: 'cache' },
  'write-behind-queue': {
    segment: 'write-behind',
    cloudFormation: 'WriteBehindQueuePolicy',
    terraform: 'write_behind_queue',
  },
  'retry-dead-letters': {
    segment: 'retry-dead-letters',
    cloudFormation: 'RetryDeadLettersPolicy',
    terraform: 'retry_dead_letters',
  },
} as const satisfies Record<string, PatternPolicy>;

/** A pattern with a policy. */
export type Pattern = keyof typeof PATTERN_POLICIES;

/** Every pattern, in a fixed order. */
export const PATTERNS = Object.keys(PATTERN_POLICIES) as Pattern[];

/** One element of a key schema. */
export interface KeyElement {
  readonly name: string;
  readonly type: 'HASH' | 'RANGE';
}

/** A local secondary index. */
export interface IndexSpec {
  readonly name: string;
  readonly keySchema: readonly KeyElement[];
  readonly projection: string;
}

/** A table as declared (or as created by `createTable()`). */
export interface TableSpec {
  /** Attribute name → type (`S`, `N`, `B`). */
  readonly attributes: Readonly<Record<string, string>>;
  readonly keySchema: readonly KeyElement[];
  readonly localIndexes: readonly IndexSpec[];
  readonly globalIndexes: number;
  readonly billingMode: string | undefined;
  /** The TTL attribute when expiry is enabled, else `undefined`. */
  readonly ttlAttribute: string | undefined;
  /** The condition the table is created under (CloudFormation `Condition`, Terraform `count`). */
  readonly condition: string | undefined;
}

/** A pattern's policy, reduced to what it allows. */
export interface PolicySpec {
  /** Allowed actions, sorted (`dynamodb:GetItem`). */
  readonly actions: readonly string[];
  /** Resources, sorted: `state`, `queue` (table ARNs) or `queue/index/<name>` (an index ARN). */
  readonly resources: readonly string[];
  /**
   * `dynamodb:LeadingKeys` patterns (under `ForAllValues:StringLike`) with the key prefix
   * parameter written as `{prefix}`: `{prefix}:cache:*`.
   */
  readonly leadingKeys: readonly string[];
  /** The condition the policy is created under (as for its table). */
  readonly condition: string | undefined;
}

/** What one IaC source declares. */
export interface IacModel {
  /** The file or folder, for messages. */
  readonly source: string;
  readonly tables: Readonly<Record<TableKind, TableSpec>>;
  readonly policies: Readonly<Record<Pattern, PolicySpec>>;
  /** The default of the key prefix parameter. */
  readonly defaultKeyPrefix: string;
}

/** The placeholder of the key prefix in {@link PolicySpec.leadingKeys}. */
export const PREFIX_PLACEHOLDER = '{prefix}';

/** The one statement of a policy, as both loaders read it. */
export interface StatementParts {
  readonly effect: unknown;
  readonly actions: readonly string[];
  /** Resources as templates over `${<table>}` references, already mapped to `state`/`queue`. */
  readonly resources: readonly string[];
  readonly conditionTest: string;
  readonly conditionVariable: string;
  readonly conditionValues: readonly string[];
}

/** Checks the statement's shape and reduces it; throws naming `where` when it is not the one shape. */
export function policyFrom(
  where: string,
  parts: StatementParts,
  condition: string | undefined,
): PolicySpec {
  const fail = (message: string): never => {
    throw new Error(`${where}: ${message}`);
  };
  if (parts.effect !== 'Allow') fail(`expected Effect Allow, got ${String(parts.effect)}`);
  if (parts.conditionTest !== 'ForAllValues:StringLike') {
    fail(`expected the condition ForAllValues:StringLike, got ${parts.conditionTest}`);
  }
  if (parts.conditionVariable !== 'dynamodb:LeadingKeys') {
    fail(`expected the condition key dynamodb:LeadingKeys, got ${parts.conditionVariable}`);
  }
  for (const resource of parts.resources) {
    if (!/^(state|queue)(\/index\/[A-Za-z0-9_.-]+)?$/.test(resource)) {
      fail(`a resource that is not a Breakwater table or index: ${resource}`);
    }
  }
  return {
    actions: [...parts.actions].sort(),
    resources: [...parts.resources].sort(),
    leadingKeys: [...parts.conditionValues].sort(),
    condition,
  };
}

/** Whether `value` matches an IAM `StringLike` pattern (`*` any run, `?` any one character). */
export function stringLike(pattern: string, value: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\*?]/g, (char) =>
    char === '*' ? '.*' : char === '?' ? '.' : `\\${char}`,
  );
  return new RegExp(`^${regex}$`, 's').test(value);
}
