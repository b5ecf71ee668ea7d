/**
 * A dead-letter queue (Redis, or DynamoDB) as the degradation suite's subject: a retry policy whose
 * `deadLetter` is `queue.append`, giving up on a call that fails (one attempt), as a user runs it.
 * No vitest here: the suite's child process imports this module too.
 *
 * The policy rejects with the call's own error either way; whether the dead letter was kept is
 * what `onGiveUp` tells (`deadLetterError`). A call of the subject turns that into its answer:
 * it resolves with the call's own error once the failure is in the queue, and rejects with the
 * `deadLetterError` (the queue's `StoreError`) when it is not.
 */
import type { BuildSubject } from '@breakwater/testkit/degradation-child';
import type { DeadLetterQueue } from '../../dead-letter-queue.js';
import { createDeadLetterTable, dynamoDeadLetters } from '../../dynamodb.js';
import { retry } from '../../index.js';
import { redisDeadLetters } from '../../redis.js';

/** The error of the call the policy gives up on. */
export class GatewayError extends Error {
  override name = 'GatewayError';
}

function gatewayDown(): never {
  throw new GatewayError('the gateway is down');
}

export const build: BuildSubject = async (ctx) => {
  // No `onStoreError`: the queue has no answer of its own to give in the store's place, so every
  // operation rejects with a StoreError when the store fails (core's 'fail-closed'); `ctx.mode` is
  // always that one (see dead-letters.degradation.test.ts).
  const settings = {
    stream: ctx.policyName,
    prefix: ctx.prefix,
    storeDeadlineMs: ctx.deadlineMs,
    storeFailureThreshold: ctx.failureThreshold,
    storeProbeIntervalMs: ctx.probeIntervalMs,
  };
  let queue: DeadLetterQueue;
  if (ctx.backend === 'dynamodb') {
    // The queue layout, in a table of its own next to the suite's (idempotent: the suite's child
    // process builds the subject again).
    const tableName = `${ctx.tableName}-dead-letters`;
    await createDeadLetterTable(ctx.client, tableName);
    queue = dynamoDeadLetters({ ...settings, client: ctx.client, tableName });
  } else {
    queue = redisDeadLetters({ ...settings, client: ctx.client });
  }
  const policy = retry({ name: ctx.policyName, maxAttempts: 1, deadLetter: queue.append });
  // What `onGiveUp` reported for each call, by the call's `input`.
  const lost = new Map<number, unknown>();
  policy.onGiveUp(({ input, deadLetterError }) => {
    if (deadLetterError !== undefined) lost.set(input as number, deadLetterError);
  });
  let calls = 0;

  return {
    async call() {
      const input = ++calls;
      const rejection = await policy.execute(gatewayDown, { input }).then(
        (value) => new Error(`The policy resolved ${String(value)}; it must reject`),
        (error: unknown) => error,
      );
      // Anything but the call's own error is wrong whatever the queue did.
      if (!(rejection instanceof GatewayError)) throw rejection;
      const deadLetterError = lost.get(input);
      lost.delete(input);
      if (deadLetterError !== undefined) throw deadLetterError;
      return rejection;
    },
    onStoreStatusChange: (listener) => queue.onStoreStatusChange(listener),
    get storeStatus() {
      return queue.storeStatus;
    },
    // The policy holds nothing of its own to close; the queue is all there is.
    close: () => queue.close(),
  };
};
