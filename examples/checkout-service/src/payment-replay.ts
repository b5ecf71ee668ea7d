/**
 * Charges again the payments the retry policy gave up on during an outage, from the dead-letter
 * queue (stream `payments`), and marks their orders paid. Every replica may run it at once: each
 * entry is claimed by one replica, so no payment is charged twice by the replay.
 */
import type { DeadLetterQueue } from '@breakwater/retry';
import type { OrderStore } from './orders.js';
import { charge } from './payment-client.js';
import type { DeadLetterReplay } from './stats.js';

/** What a payment dead letter carries as `input`: enough to charge it again. */
export interface PaymentInput {
  readonly orderId: string;
  readonly amountCents: number;
}

/** The dead-letter stream of the payments: the retry policy's name. */
export const PAYMENTS_STREAM = 'payments';

/**
 * Replays the `payments` stream straight against the upstream (not through the retry policy, so
 * a replay that fails stays in the queue once, with its attempt count, instead of appending a
 * second entry).
 */
export async function replayPayments(
  deadLetters: DeadLetterQueue,
  orders: OrderStore,
  paymentUrl: string,
): Promise<DeadLetterReplay> {
  // Nothing was ever dead-lettered: the stream does not exist yet, which is no error here.
  if (!(await deadLetters.streams()).includes(PAYMENTS_STREAM)) {
    return { replayed: 0, failed: 0, skipped: 0 };
  }
  const result = await deadLetters.replayAll(
    async (entry) => {
      const { orderId, amountCents } = entry.input as PaymentInput;
      const paymentId = await charge(
        paymentUrl,
        { orderId, amountCents },
        AbortSignal.timeout(2_000),
      );
      // The order record is in this replica's table (or the shared database); a replica with an
      // in-memory table may not have it, and then the charge is all there is to do.
      const order = await orders.get(orderId);
      if (order !== undefined && order.status !== 'paid') {
        await orders.save({ ...order, status: 'paid', paymentId, version: order.version + 1 });
      }
    },
    { stream: PAYMENTS_STREAM, concurrency: 4 },
  );
  return { replayed: result.replayed, failed: result.failed.length, skipped: result.skipped };
}
