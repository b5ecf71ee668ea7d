/**
 * A stand-in for a store-backed policy, only to prove the degradation suite and its fixtures
 * before core's store layer exists: one store read per call (ioredis GET / DynamoDB GetItem)
 * under a deadline, degraded after `failureThreshold` consecutive failures, probed in the
 * background until a read succeeds. No vitest here: the suite's child process imports it too.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type {
  BuildSubject,
  DegradationBuildContext,
  StoreStatusEvent,
} from '../../degradation-child.js';

/** Ways to break the stand-in, to see the suite catch each. */
export interface StandInFlaws {
  /** Wait for the store as long as it takes. */
  noDeadline?: boolean;
  /** Never notice that the store came back. */
  neverRecovers?: boolean;
  /** Leave the probe timer running after close(). */
  leakProbeOnClose?: boolean;
  /** Degrade on the first store failure, whatever the threshold. */
  ignoreThreshold?: boolean;
  /**
   * Not a flaw: a stalled machine. The first `stalledSubjects` subjects built answer their first
   * two calls only after the deadline (enough to degrade them at the suite's threshold).
   */
  stalledSubjects?: number;
}

/** The stand-in's pattern name. */
export const STAND_IN_PATTERN = 'stand-in';

// Core brands its errors with their kinds under this global symbol; the suite reads the brand.
const KINDS = Symbol.for('@breakwater/core/error-kinds');

function storeError(message: string, cause: unknown, timeout: boolean): Error {
  const error = new Error(message, { cause });
  const kinds = ['BreakwaterError', 'StoreError', ...(timeout ? ['StoreTimeoutError'] : [])];
  error.name = kinds.at(-1)!;
  Object.defineProperty(error, KINDS, { value: kinds });
  return error;
}

function reader(context: DegradationBuildContext): (signal: AbortSignal) => Promise<unknown> {
  if (context.backend === 'dynamodb') {
    const { client, tableName } = context;
    const command = new GetItemCommand({
      TableName: tableName,
      Key: { pk: { S: `${context.prefix}:probe` } },
    });
    return (signal) => client.send(command, { abortSignal: signal });
  }
  const { client } = context;
  // ioredis cannot abort a command; a late answer is simply ignored.
  return () => client.get(`${context.prefix}:{probe}`);
}

/** Builds the stand-in subject, with `flaws` if the test wants it broken. */
export function buildStandIn(flaws: StandInFlaws = {}): BuildSubject {
  let built = 0;
  return (context) => {
    const storeRead = reader(context);
    let stalledCalls = built++ < (flaws.stalledSubjects ?? 0) ? 2 : 0;
    const read = async (signal: AbortSignal) => {
      if (stalledCalls > 0) {
        stalledCalls--;
        await new Promise((resolve) => setTimeout(resolve, context.deadlineMs + 20));
      }
      return storeRead(signal);
    };
    const store = context.backend === 'dynamodb' ? 'dynamodb' : 'redis';
    const listeners = new Set<(event: StoreStatusEvent) => void>();
    let failures = 0;
    let lastError: unknown;
    let probe: NodeJS.Timeout | undefined;
    let probing = false;

    const emit = (status: StoreStatusEvent['status'], error?: unknown) => {
      const event: StoreStatusEvent = {
        policy: context.policyName,
        pattern: STAND_IN_PATTERN,
        store,
        status,
        ...(error === undefined ? {} : { error }),
      };
      for (const listener of listeners) listener(event);
    };

    const guarded = (): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const controller = new AbortController();
        const timer = flaws.noDeadline
          ? undefined
          : setTimeout(() => {
              const error = storeError(`read missed ${context.deadlineMs} ms`, undefined, true);
              controller.abort(error);
              reject(error);
            }, context.deadlineMs);
        read(controller.signal).then(
          (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          (cause: unknown) => {
            clearTimeout(timer);
            reject(storeError('read failed', cause, false));
          },
        );
      });

    const fallback = (error: unknown): string => {
      if (context.mode === 'fail-closed')
        throw new Error('rejected: store failing', { cause: error });
      return context.mode === 'fail-open' ? 'open' : 'local';
    };

    const recover = () => {
      if (probe === undefined || flaws.neverRecovers) return;
      clearInterval(probe);
      probe = undefined;
      failures = 0;
      emit('healthy');
    };

    const degrade = (error: unknown) => {
      emit('degraded', error);
      probe = setInterval(() => {
        if (probing) return;
        probing = true;
        guarded()
          .then(recover, () => {})
          .finally(() => {
            probing = false;
          });
      }, context.probeIntervalMs);
    };

    return {
      async call() {
        if (probe !== undefined) return fallback(lastError);
        try {
          await guarded();
          failures = 0;
          return 'store';
        } catch (error) {
          lastError = error;
          failures++;
          const threshold = flaws.ignoreThreshold ? 1 : context.failureThreshold;
          if (failures >= threshold && probe === undefined) degrade(error);
          return fallback(error);
        }
      },
      get storeStatus() {
        return probe === undefined ? 'healthy' : 'degraded';
      },
      onStoreStatusChange(listener) {
        const subscription = (event: StoreStatusEvent) => listener(event);
        listeners.add(subscription);
        return () => listeners.delete(subscription);
      },
      async close() {
        if (!flaws.leakProbeOnClose) clearInterval(probe);
      },
    };
  };
}
