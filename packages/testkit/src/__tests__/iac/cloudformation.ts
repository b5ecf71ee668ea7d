/**
 * Reads `infra/cloudformation/breakwater.yaml` into the test's {@link IacModel}. The short forms of
 * the intrinsic functions (`!Ref`, `!Sub`, `!GetAtt`, …) become their long forms (`Fn::Sub`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, type Tags } from 'yaml';
import {
  type IacModel,
  type IndexSpec,
  type KeyElement,
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

/** The template, relative to the repository root. */
export const CLOUDFORMATION_TEMPLATE = 'infra/cloudformation/breakwater.yaml';

/** The logical IDs of the two tables. */
const TABLES: Record<TableKind, string> = { state: 'StateTable', queue: 'WriteQueueTable' };

/** The parameter of the key prefix. */
const KEY_PREFIX_PARAMETER = 'KeyPrefix';

/** The intrinsic functions with a short form (`!Name`), besides `!Ref` and `!Condition`. */
const INTRINSICS = [
  'And',
  'Base64',
  'Cidr',
  'Equals',
  'FindInMap',
  'GetAtt',
  'GetAZs',
  'If',
  'ImportValue',
  'Join',
  'Not',
  'Or',
  'Select',
  'Split',
  'Sub',
  'Transform',
];

function intrinsicTags(): Tags {
  const tags: Tags = [
    { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
    { tag: '!Condition', resolve: (value: string) => ({ Condition: value }) },
  ];
  for (const name of INTRINSICS) {
    const key = `Fn::${name}`;
    tags.push({ tag: `!${name}`, resolve: (value: string) => ({ [key]: value }) });
    for (const collection of ['seq', 'map'] as const) {
      tags.push({
        tag: `!${name}`,
        collection,
        resolve: (value) => ({ [key]: value.toJSON() }),
      });
    }
  }
  return tags;
}

type Json = unknown;
type Resource = { Type?: string; Condition?: string; Properties?: Record<string, Json> };

const asArray = (value: Json): Json[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

function record(value: Json, where: string): Record<string, Json> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error(`${where}: expected a mapping, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, Json>;
}

function keySchema(value: Json): KeyElement[] {
  return asArray(value).map((element) => {
    const { AttributeName, KeyType } = record(element, 'KeySchema');
    return { name: String(AttributeName), type: KeyType as KeyElement['type'] };
  });
}

function table(resource: Resource, where: string): TableSpec {
  const properties = record(resource.Properties, `${where}.Properties`);
  const attributes: Record<string, string> = {};
  for (const definition of asArray(properties.AttributeDefinitions)) {
    const { AttributeName, AttributeType } = record(definition, `${where} attribute`);
    attributes[String(AttributeName)] = String(AttributeType);
  }
  const localIndexes: IndexSpec[] = asArray(properties.LocalSecondaryIndexes).map((index) => {
    const fields = record(index, `${where} index`);
    return {
      name: String(fields.IndexName),
      keySchema: keySchema(fields.KeySchema),
      projection: String(record(fields.Projection, `${where} projection`).ProjectionType),
    };
  });
  const ttl =
    properties.TimeToLiveSpecification === undefined
      ? undefined
      : record(properties.TimeToLiveSpecification, `${where} TTL`);
  return {
    attributes,
    keySchema: keySchema(properties.KeySchema),
    localIndexes,
    globalIndexes: asArray(properties.GlobalSecondaryIndexes).length,
    billingMode: properties.BillingMode === undefined ? undefined : String(properties.BillingMode),
    ttlAttribute: ttl?.Enabled === true ? String(ttl.AttributeName) : undefined,
    condition: resource.Condition,
  };
}

/** A resource or condition value as a template: `${StateTable.Arn}/index/lsk`. */
function template(value: Json, where: string): string {
  if (typeof value === 'string') return value;
  const fields = record(value, where);
  if ('Fn::Sub' in fields && typeof fields['Fn::Sub'] === 'string') return fields['Fn::Sub'];
  if ('Fn::GetAtt' in fields) {
    const target = fields['Fn::GetAtt'];
    return `\${${Array.isArray(target) ? target.join('.') : String(target)}}`;
  }
  if ('Ref' in fields) return `\${${String(fields.Ref)}}`;
  throw new Error(`${where}: unsupported value ${JSON.stringify(value)}`);
}

function policy(resource: Resource, where: string): PolicySpec {
  const document = record(record(resource.Properties, where).PolicyDocument, where);
  const statements = asArray(document.Statement);
  if (statements.length !== 1) throw new Error(`${where}: expected one statement`);
  const statement = record(statements[0], `${where} statement`);
  const extra = Object.keys(statement).filter(
    (key) => !['Sid', 'Effect', 'Action', 'Resource', 'Condition'].includes(key),
  );
  if (extra.length > 0) throw new Error(`${where}: unexpected ${extra.join(', ')}`);
  const conditions = Object.entries(record(statement.Condition, `${where} Condition`));
  const [test, keys] = conditions[0] ?? [];
  const entries = Object.entries(record(keys, `${where} Condition`));
  if (conditions.length !== 1 || entries.length !== 1) {
    throw new Error(`${where}: expected one condition on one key`);
  }
  const [variable, values] = entries[0]!;
  const tables = Object.fromEntries(
    Object.entries(TABLES).map(([kind, logicalId]) => [`\${${logicalId}.Arn}`, kind]),
  );
  return policyFrom(
    where,
    {
      effect: statement.Effect,
      actions: asArray(statement.Action).map(String),
      resources: asArray(statement.Resource).map((resource) =>
        template(resource, `${where} Resource`).replace(
          /\$\{[^}]+\.Arn\}/g,
          (reference) => tables[reference] ?? reference,
        ),
      ),
      conditionTest: String(test),
      conditionVariable: variable,
      conditionValues: asArray(values).map((value) =>
        template(value, `${where} LeadingKeys`).replaceAll(
          `\${${KEY_PREFIX_PARAMETER}}`,
          PREFIX_PLACEHOLDER,
        ),
      ),
    },
    resource.Condition,
  );
}

/** Loads the template. Throws, naming the place, when it leaves the shape the test knows. */
export function loadCloudFormation(): IacModel {
  const text = readFileSync(join(REPOSITORY, CLOUDFORMATION_TEMPLATE), 'utf8');
  const root = record(parse(text, { customTags: intrinsicTags() }), CLOUDFORMATION_TEMPLATE);
  const resources = record(root.Resources, 'Resources') as Record<string, Resource>;
  const ofType = (type: string) =>
    Object.keys(resources)
      .filter((id) => resources[id]?.Type === type)
      .sort();
  const tableIds = Object.values(TABLES).sort();
  const policyIds = PATTERNS.map((pattern) => PATTERN_POLICIES[pattern].cloudFormation).sort();
  const found = {
    tables: ofType('AWS::DynamoDB::Table'),
    policies: ofType('AWS::IAM::ManagedPolicy'),
  };
  if (JSON.stringify(found) !== JSON.stringify({ tables: tableIds, policies: policyIds })) {
    throw new Error(
      `${CLOUDFORMATION_TEMPLATE}: expected the tables ${tableIds} and the policies ` +
        `${policyIds}, found ${JSON.stringify(found)}`,
    );
  }
  const parameter = record(
    record(root.Parameters, 'Parameters')[KEY_PREFIX_PARAMETER],
    'KeyPrefix',
  );
  return {
    source: CLOUDFORMATION_TEMPLATE,
    tables: {
      state: table(resources[TABLES.state]!, TABLES.state),
      queue: table(resources[TABLES.queue]!, TABLES.queue),
    },
    policies: Object.fromEntries(
      PATTERNS.map((pattern) => {
        const id = PATTERN_POLICIES[pattern].cloudFormation;
        return [pattern, policy(resources[id]!, `${CLOUDFORMATION_TEMPLATE} ${id}`)];
      }),
    ) as Record<Pattern, PolicySpec>,
    defaultKeyPrefix: String(parameter.Default),
  };
}
