/** The service's client of the payment upstream. */

/** The upstream answered with an error status, or could not be reached. */
export class PaymentUpstreamError extends Error {
  override readonly name = 'PaymentUpstreamError';
  constructor(
    message: string,
    /** HTTP status, or 0 when the upstream could not be reached. */
    readonly status: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function isPaymentUpstreamError(error: unknown): error is PaymentUpstreamError {
  return error instanceof PaymentUpstreamError;
}

export interface ChargeRequest {
  orderId: string;
  amountCents: number;
}

/** Charges an order; resolves the payment id. Aborting `signal` cancels the HTTP request. */
export async function charge(
  paymentUrl: string,
  request: ChargeRequest,
  signal: AbortSignal,
): Promise<string> {
  let response: Response;
  try {
    response = await fetch(`${paymentUrl}/charge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw new PaymentUpstreamError('payment upstream unreachable', 0, { cause: error });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new PaymentUpstreamError(`payment upstream answered ${response.status}`, response.status);
  }
  const body = (await response.json()) as { paymentId: string };
  return body.paymentId;
}
