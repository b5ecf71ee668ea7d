/**
 * Reads the Terraform module in `infra/terraform` into the test's {@link IacModel}, with the
 * minimal HCL parser of `hcl.ts`: the tables (`aws_dynamodb_table`), the policy documents
 * (`aws_iam_policy_document`) and the policies made from them (`aws_iam_policy`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HclBlock, type HclValue, isExpression, parseHcl } from './hcl.js';
import {
  type IacModel,
  type IndexSpec,
  PATTERN_POLICIES,
  PATTERNS,
  type Pattern,
  type PolicySpec,
  PREFIX_PLACEHOLDER,
  policyFrom,
  REPOSITORY,
  type TableKind,
  type TableSpec,
} from './model.js';

/** The module, relative to the repository root. */
export const TERRAFORM_MODULE = 'infra/terraform';

/** The resource names of the two tables. */
const TABLES: Record<TableKind, string> = { state: 'state', queue: 'write_queue' };

/** The variable of the key prefix. */
const KEY_PREFIX_VARIABLE = 'key_prefix';

/** Every top-level block of the module's `.tf` files. */
export function terraformBlocks(): HclBlock[] {
  const folder = join(REPOSITORY, TERRAFORM_MODULE);
  return readdirSync(folder)
    .filter((file) => file.endsWith('.tf'))
    .sort()
    .flatMap((file) => [
      ...parseHcl(readFileSync(join(folder, file), 'utf8'), `${TERRAFORM_MODULE}/${file}`).blocks,
    ]);
}

const text = (value: HclValue | undefined, where: string): string => {
  if (typeof value !== 'string') throw new Error(`${where}: expected a string`);
  return value;
};

/** A value that may be a reference: a string template (`${a.b}` for a bare `a.b`). */
const templateOf = (value: HclValue | undefined, where: string): string =>
  isExpression(value) ? `\${${value.expression}}` : text(value, where);

const list = (value: HclValue | undefined, where: string): readonly HclValue[] => {
  if (!Array.isArray(value)) throw new Error(`${where}: expected a list`);
  return value;
};

const countOf = (block: HclBlock): string | undefined => {
  const count = block.attributes.count;
  return count === undefined ? undefined : isExpression(count) ? count.expression : String(count);
};

const nested = (block: HclBlock, type: string): HclBlock[] =>
  block.blocks.filter((child) => child.type === type);

function table(block: HclBlock, where: string): TableSpec {
  const attributes: Record<string, string> = {};
  for (const attribute of nested(block, 'attribute')) {
    attributes[text(attribute.attributes.name, where)] = text(attribute.attributes.type, where);
  }
  const hashKey = text(block.attributes.hash_key, `${where}.hash_key`);
  const rangeKey = block.attributes.range_key;
  const localIndexes: IndexSpec[] = nested(block, 'local_secondary_index').map((index) => ({
    name: text(index.attributes.name, `${where} index`),
    // An LSI shares the table's partition key; Terraform names only its sort key.
    keySchema: [
      { name: hashKey, type: 'HASH' },
      { name: text(index.attributes.range_key, `${where} index`), type: 'RANGE' },
    ],
    projection: text(index.attributes.projection_type, `${where} index`),
  }));
  const ttl = nested(block, 'ttl')[0];
  return {
    attributes,
    keySchema: [
      { name: hashKey, type: 'HASH' },
      ...(rangeKey === undefined ? [] : [{ name: text(rangeKey, where), type: 'RANGE' as const }]),
    ],
    localIndexes,
    globalIndexes: nested(block, 'global_secondary_index').length,
    billingMode:
      block.attributes.billing_mode === undefined
        ? undefined
        : text(block.attributes.billing_mode, `${where}.billing_mode`),
    ttlAttribute:
      ttl?.attributes.enabled === true ? text(ttl.attributes.attribute_name, where) : undefined,
    condition: countOf(block),
  };
}

function policy(document: HclBlock, where: string): PolicySpec {
  const statements = nested(document, 'statement');
  if (statements.length !== 1) throw new Error(`${where}: expected one statement`);
  const statement = statements[0]!;
  const extra = Object.keys(statement.attributes).filter(
    (key) => !['sid', 'effect', 'actions', 'resources'].includes(key),
  );
  if (extra.length > 0) throw new Error(`${where}: unexpected ${extra.join(', ')}`);
  const conditions = nested(statement, 'condition');
  if (conditions.length !== 1) throw new Error(`${where}: expected one condition`);
  const condition = conditions[0]!.attributes;
  const tables = Object.fromEntries(
    Object.entries(TABLES).map(([kind, name]) => [`aws_dynamodb_table.${name}`, kind]),
  );
  return policyFrom(
    where,
    {
      // Terraform's default effect is Allow.
      effect: statement.attributes.effect ?? 'Allow',
      actions: list(statement.attributes.actions, `${where} actions`).map((action) =>
        text(action, `${where} actions`),
      ),
      resources: list(statement.attributes.resources, `${where} resources`).map((resource) =>
        templateOf(resource, `${where} resources`).replace(
          /\$\{(aws_dynamodb_table\.[a-z_]+)(\[0\])?\.arn\}/g,
          (reference, table: string) => tables[table] ?? reference,
        ),
      ),
      conditionTest: text(condition.test, `${where} condition.test`),
      conditionVariable: text(condition.variable, `${where} condition.variable`),
      conditionValues: list(condition.values, `${where} condition.values`).map((value) =>
        text(value, `${where} condition.values`).replaceAll(
          `\${var.${KEY_PREFIX_VARIABLE}}`,
          PREFIX_PLACEHOLDER,
        ),
      ),
    },
    countOf(document),
  );
}

/** Loads the module. Throws, naming the place, when it leaves the shape the test knows. */
export function loadTerraform(): IacModel {
  const blocks = terraformBlocks();
  const find = (type: string, kind: string) => {
    const found = blocks.filter((block) => block.type === type && block.labels[0] === kind);
    return new Map(found.map((block) => [block.labels[1]!, block]));
  };
  const tables = find('resource', 'aws_dynamodb_table');
  const documents = find('data', 'aws_iam_policy_document');
  const policies = find('resource', 'aws_iam_policy');
  const names = PATTERNS.map((pattern) => PATTERN_POLICIES[pattern].terraform).sort();
  const found = {
    tables: [...tables.keys()].sort(),
    documents: [...documents.keys()].sort(),
    policies: [...policies.keys()].sort(),
  };
  const expected = { tables: Object.values(TABLES).sort(), documents: names, policies: names };
  if (JSON.stringify(found) !== JSON.stringify(expected)) {
    throw new Error(
      `${TERRAFORM_MODULE}: expected ${JSON.stringify(expected)}, found ${JSON.stringify(found)}`,
    );
  }
  for (const [name, resource] of policies) {
    const source = resource.attributes.policy;
    const wanted = new RegExp(`^data\\.aws_iam_policy_document\\.${name}(\\[0\\])?\\.json$`);
    if (!isExpression(source) || !wanted.test(source.expression)) {
      throw new Error(`${TERRAFORM_MODULE}: aws_iam_policy.${name} is not made of its document`);
    }
    if (countOf(resource) !== countOf(documents.get(name)!)) {
      throw new Error(`${TERRAFORM_MODULE}: aws_iam_policy.${name} has another count`);
    }
  }
  const variable = blocks.find(
    (block) => block.type === 'variable' && block.labels[0] === KEY_PREFIX_VARIABLE,
  );
  return {
    source: TERRAFORM_MODULE,
    tables: {
      state: table(tables.get(TABLES.state)!, `aws_dynamodb_table.${TABLES.state}`),
      queue: table(tables.get(TABLES.queue)!, `aws_dynamodb_table.${TABLES.queue}`),
    },
    policies: Object.fromEntries(
      PATTERNS.map((pattern) => {
        const name = PATTERN_POLICIES[pattern].terraform;
        return [pattern, policy(documents.get(name)!, `${TERRAFORM_MODULE} ${name}`)];
      }),
    ) as Record<Pattern, PolicySpec>,
    defaultKeyPrefix: text(variable?.attributes.default, `variable.${KEY_PREFIX_VARIABLE}`),
  };
}
