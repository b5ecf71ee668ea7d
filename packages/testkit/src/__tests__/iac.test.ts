/**
 * The infrastructure code in `infra/` — the CloudFormation template and the Terraform module —
 * against what the code does. On dynalite, every DynamoDB store runs every operation of its scope
 * through a client that records what it sends; each pattern's IAM policy, in both files, must
 * allow exactly the actions those requests need (none missing, none unused), on exactly the
 * tables and indexes they touch, for exactly the partition keys of its pattern. The tables of both
 * files must be the ones `createTable()` creates (key schema, attribute types, index, billing,
 * TTL attribute). And the IaC snippets of the docs must be excerpts of these files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { dynamoFixture } from '../dynamo-fixture.js';
import { describeWithDynamo } from '../services.js';
import { CLOUDFORMATION_TEMPLATE, loadCloudFormation } from './iac/cloudformation.js';
import { DRIVERS, interfaceOperations } from './iac/drivers.js';
import { DECLARES_IAC, documentationFiles, fencedBlocks, isExcerpt } from './iac/excerpts.js';
import {
  type IacModel,
  PATTERN_POLICIES,
  PATTERNS,
  type Pattern,
  PREFIX_PLACEHOLDER,
  REPOSITORY,
  stringLike,
  type TableKind,
  type TableSpec,
} from './iac/model.js';
import {
  actionsBuiltIn,
  authorisationOf,
  recordingClient,
  type SentRequest,
} from './iac/requests.js';
import { loadTerraform, TERRAFORM_MODULE } from './iac/terraform.js';

const SOURCES: readonly [string, () => IacModel][] = [
  [CLOUDFORMATION_TEMPLATE, loadCloudFormation],
  [TERRAFORM_MODULE, loadTerraform],
];

const TABLE_KINDS: readonly TableKind[] = ['state', 'queue'];

/** The pattern packages whose sources may send DynamoDB requests. */
const PATTERN_PACKAGES = ['circuit-breaker', 'bulkhead', 'rate-limit', 'retry', 'cache'];

async function entry(specifier: string): Promise<Record<string, unknown>> {
  return (await import(/* @vite-ignore */ specifier)) as Record<string, unknown>;
}

const unique = (values: Iterable<string>): string[] => [...new Set(values)].sort();

describe('infra/', () => {
  it.each(SOURCES)('%s declares both tables and one policy per pattern', (_, load) => {
    expect(() => load()).not.toThrow();
  });

  it.each(SOURCES)('%s defaults the key prefix to the stores’ default', async (_, load) => {
    const core = await entry('@breakwater/core');
    expect(load().defaultKeyPrefix).toBe(core.DEFAULT_KEY_PREFIX);
  });

  it.each(SOURCES)('%s creates each policy under the condition of its table', (_, load) => {
    const model = load();
    for (const pattern of PATTERNS) {
      const policy = model.policies[pattern];
      const tables = unique(policy.resources.map((resource) => resource.split('/')[0]!));
      expect({ pattern, conditions: tables.map(() => policy.condition) }).toEqual({
        pattern,
        conditions: tables.map((kind) => model.tables[kind as TableKind].condition),
      });
    }
  });

  it('the IaC snippets of the docs are excerpts of the files in infra/', () => {
    const excerpts = documentationFiles().flatMap(fencedBlocks);
    const unmarked = excerpts.filter(
      (block) => block.excerptOf === undefined && DECLARES_IAC.test(block.text),
    );
    expect(unmarked.map((block) => block.where)).toEqual([]);
    const drifted = excerpts.filter((block) => {
      if (block.excerptOf === undefined) return false;
      if (!block.excerptOf.startsWith('infra/')) return true;
      let source: string;
      try {
        source = readFileSync(join(REPOSITORY, block.excerptOf), 'utf8');
      } catch {
        return true;
      }
      return !isExcerpt(block.text, source);
    });
    expect(drifted.map((block) => `${block.where} (${block.excerptOf})`)).toEqual([]);
  });
});

/** A table's facts as `createTable()` made it: described by DynamoDB, plus its TTL request. */
async function createdTable(
  client: DynamoDBClient,
  tableName: string,
  layout: 'store' | 'queue',
): Promise<TableSpec> {
  const { createTable } = (await entry('@breakwater/core/dynamodb')) as {
    createTable: (
      client: DynamoDBClient,
      name: string,
      options: { layout: string },
    ) => Promise<{ timeToLive: string }>;
  };
  const sent: SentRequest[] = [];
  // dynalite has no TTL API: answer it as DynamoDB does for a new table, and keep the request.
  const withTimeToLive = recordingClient(client, sent, (request) => {
    if (request.command === 'DescribeTimeToLiveCommand') {
      return Promise.resolve({ TimeToLiveDescription: { TimeToLiveStatus: 'DISABLED' } });
    }
    if (request.command === 'UpdateTimeToLiveCommand') {
      return Promise.resolve({ TimeToLiveSpecification: request.input.TimeToLiveSpecification });
    }
    return undefined;
  });
  const result = await createTable(withTimeToLive, tableName, { layout });
  expect(result.timeToLive).toBe('enabled');
  const ttl = sent.find((request) => request.command === 'UpdateTimeToLiveCommand')?.input
    .TimeToLiveSpecification as { AttributeName: string; Enabled: boolean } | undefined;
  const { Table: table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const keySchema = (elements: { AttributeName?: string; KeyType?: string }[] | undefined) =>
    (elements ?? []).map((key) => ({
      name: key.AttributeName!,
      type: key.KeyType as 'HASH' | 'RANGE',
    }));
  return {
    attributes: Object.fromEntries(
      (table?.AttributeDefinitions ?? []).map((d) => [d.AttributeName!, d.AttributeType!]),
    ),
    keySchema: keySchema(table?.KeySchema),
    localIndexes: (table?.LocalSecondaryIndexes ?? []).map((index) => ({
      name: index.IndexName!,
      keySchema: keySchema(index.KeySchema),
      projection: index.Projection?.ProjectionType ?? '',
    })),
    globalIndexes: (table?.GlobalSecondaryIndexes ?? []).length,
    billingMode: table?.BillingModeSummary?.BillingMode,
    ttlAttribute: ttl?.Enabled === true ? ttl.AttributeName : undefined,
    condition: undefined,
  };
}

describeWithDynamo('infra/ against the DynamoDB stores', () => {
  const dynamo = dynamoFixture();
  const tableNames = {} as Record<TableKind, string>;
  const created = {} as Record<TableKind, TableSpec>;
  const sent = {} as Record<Pattern, SentRequest[]>;
  const uncovered = {} as Record<Pattern, string[]>;
  let prefix = '';

  beforeAll(async () => {
    prefix = dynamo.uniquePrefix();
    const layouts = { state: 'store', queue: 'queue' } as const;
    for (const kind of TABLE_KINDS) {
      tableNames[kind] = `${dynamo.tableName}-iac-${kind}`;
      created[kind] = await createdTable(dynamo.client, tableNames[kind], layouts[kind]);
    }
    for (const pattern of PATTERNS) {
      const requests: SentRequest[] = [];
      const called = new Set<string>();
      let scope: Record<string, unknown> | undefined;
      const covered = <T extends object>(target: T): T => {
        scope = target as Record<string, unknown>;
        return new Proxy(target, {
          get(object, property) {
            const value = Reflect.get(object, property, object);
            if (typeof value !== 'function' || typeof property !== 'string') return value;
            return (...args: unknown[]) => {
              called.add(property);
              return (value as (...args: unknown[]) => unknown).apply(object, args);
            };
          },
        });
      };
      const driver = DRIVERS[pattern];
      await driver.run(
        {
          client: recordingClient(dynamo.client, requests),
          realClient: dynamo.client,
          stateTable: tableNames.state,
          queueTable: tableNames.queue,
          prefix,
        },
        covered,
      );
      sent[pattern] = requests;
      const operations = interfaceOperations(...driver.scopeInterface);
      uncovered[pattern] = operations.filter(
        (operation) => typeof scope?.[operation] === 'function' && !called.has(operation),
      );
    }
  });

  /** What IAM must allow for the requests of `pattern`, with tables named by their kind. */
  const needs = (pattern: Pattern) => {
    const kindOf = Object.fromEntries(TABLE_KINDS.map((kind) => [tableNames[kind], kind]));
    const authorisations = sent[pattern].map(authorisationOf);
    return {
      actions: unique(authorisations.flatMap((a) => a.actions)),
      resources: unique(
        authorisations.flatMap((a) =>
          a.resources.map((resource) => {
            const [table, ...index] = resource.split('/');
            return [kindOf[table!] ?? table, ...index].join('/');
          }),
        ),
      ),
      partitionKeys: unique(authorisations.flatMap((a) => a.partitionKeys)),
    };
  };

  describe('the drivers', () => {
    it.each(PATTERNS)('%s: runs every operation of the store’s scope', (pattern) => {
      expect(sent[pattern].length).toBeGreaterThan(0);
      expect(uncovered[pattern]).toEqual([]);
    });

    it.each(PATTERNS)('%s: sent every kind of request its store builds', (pattern) => {
      const recorded = needs(pattern).actions;
      const built = unique(
        DRIVERS[pattern].sources.flatMap((file) =>
          actionsBuiltIn(readFileSync(join(REPOSITORY, file), 'utf8')),
        ),
      );
      expect(built.filter((action) => !recorded.includes(action))).toEqual([]);
    });

    it('cover every file of the pattern packages that builds DynamoDB requests', () => {
      const covered = new Set(PATTERNS.flatMap((pattern) => DRIVERS[pattern].sources));
      const sending: string[] = [];
      const visit = (folder: string): void => {
        for (const name of readdirSync(folder, { withFileTypes: true })) {
          const path = join(folder, name.name);
          if (name.isDirectory()) {
            if (name.name !== '__tests__') visit(path);
          } else if (name.name.endsWith('.ts')) {
            const source = readFileSync(path, 'utf8');
            if (/\bnew \w+Command\(|TransactItems/.test(source) && /client-dynamodb/.test(source)) {
              sending.push(relative(REPOSITORY, path));
            }
          }
        }
      };
      for (const name of PATTERN_PACKAGES) visit(join(REPOSITORY, 'packages', name, 'src'));
      expect(sending.filter((file) => !covered.has(file))).toEqual([]);
    });
  });

  describe.each(SOURCES)('%s', (_, load) => {
    it.each(TABLE_KINDS)('declares the %s table createTable() creates', (kind) => {
      const { condition: _condition, ...declared } = load().tables[kind];
      const { condition: _none, ...expected } = created[kind];
      expect(declared).toEqual(expected);
    });

    it.each(PATTERNS)('%s: allows exactly the actions its store sends', (pattern) => {
      expect(load().policies[pattern].actions).toEqual(needs(pattern).actions);
    });

    it.each(PATTERNS)('%s: on exactly the tables and indexes its store uses', (pattern) => {
      expect(load().policies[pattern].resources).toEqual(needs(pattern).resources);
    });

    it.each(PATTERNS)('%s: for the partition keys of its pattern only', (pattern) => {
      const patterns = load().policies[pattern].leadingKeys.map((key) =>
        key.replaceAll(PREFIX_PLACEHOLDER, prefix),
      );
      const allowed = (key: string) => patterns.some((like) => stringLike(like, key));
      const own = needs(pattern).partitionKeys;
      expect(own.length).toBeGreaterThan(0);
      expect(own.filter((key) => !allowed(key))).toEqual([]);
      const others = PATTERNS.filter((other) => other !== pattern).flatMap(
        (other) => needs(other).partitionKeys,
      );
      expect(others.filter(allowed)).toEqual([]);
      for (const like of patterns) {
        expect(like).toBe(`${prefix}:${PATTERN_POLICIES[pattern].segment}:*`);
      }
    });
  });
});
