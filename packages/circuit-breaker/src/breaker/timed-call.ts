/**
 * The path of calls under `timeoutMs`: each call is a TimedCall in the breaker's deadline queue
 * (call-timeout.ts), and the promise its caller holds is settled by whichever comes first: the
 * call settling, its deadline, or the caller's abort. The outcome is then counted by the
 * breaker's CallSettler (settle.ts), like that of any call.
 */
import { type ExecutionContext, LazyExecutionContext, TimeoutError } from '@breakwater/core';
import { CallDeadlines, TimedCall } from '../call-timeout.js';
import { type CallerAbort, follow } from './caller-abort.js';
import type { CallSettler } from './settle.js';

/** The calls of one breaker that run under its time limit. */
export class TimedCalls<R> {
  private readonly settler: CallSettler<R>;
  private readonly name: string;
  private readonly timeoutMs: number;
  /** The deadlines of calls in flight. */
  private readonly deadlines: CallDeadlines;

  constructor(settler: CallSettler<R>, name: string, timeoutMs: number) {
    this.settler = settler;
    this.name = name;
    this.timeoutMs = timeoutMs;
    this.deadlines = new CallDeadlines(timeoutMs, this.timedOut);
  }

  /**
   * Runs the call under `timeoutMs`. The returned promise is settled by whichever comes first: the
   * call settling, its deadline (see call-timeout.ts), or the caller's abort.
   */
  run<T>(
    fn: (ctx: ExecutionContext) => T | PromiseLike<T>,
    caller: CallerAbort | undefined,
    probeToken: string | undefined,
    started: number,
  ): Promise<T | R> {
    const call = new TimedCall(probeToken, started);
    // The settlers go straight into the (young) call: parking them in module variables (old
    // space) costs two slow write barriers per call.
    const result = new Promise<T | R>((resolve, reject) => {
      call.resolve = resolve as (value: unknown) => void;
      call.reject = reject;
    });
    this.deadlines.add(call);
    if (caller !== undefined) {
      call.caller = caller;
      call.stopFollowingCaller = follow(caller, () => this.callerAborted(call));
    }
    let pending: T | PromiseLike<T>;
    try {
      pending = fn(new LazyExecutionContext(call));
    } catch (error) {
      this.timedFailed(call, error);
      return result;
    }
    // A native promise is watched directly (`Promise.resolve` would return it as it is).
    (pending instanceof Promise && pending.constructor === Promise
      ? (pending as Promise<T>)
      : Promise.resolve(pending)
    ).then(
      (value) => this.timedSucceeded(call, value),
      (error: unknown) => this.timedFailed(call, error),
    );
    return result;
  }

  private timedSucceeded(call: TimedCall, value: unknown): void {
    if (call.settled) return;
    this.deadlines.remove(call);
    this.endTimed(call);
    try {
      call.resolve(this.settler.succeeded(value, call.caller, call.probeToken, call.started));
    } catch (error) {
      call.reject(error);
    }
  }

  private timedFailed(call: TimedCall, error: unknown): void {
    if (call.settled) return;
    this.deadlines.remove(call);
    this.endTimed(call);
    this.settleFailure(call, error);
  }

  private callerAborted(call: TimedCall): void {
    if (call.settled) return;
    this.deadlines.remove(call);
    this.endTimed(call);
    const reason: unknown = call.caller?.reason;
    call.abort(reason);
    this.settleFailure(call, reason);
  }

  /** The deadline queue's answer for a call that ran out of time (already out of the queue). */
  private readonly timedOut = (call: TimedCall): void => {
    if (call.settled) return;
    this.endTimed(call);
    const ms = this.timeoutMs;
    const error = new TimeoutError(`Circuit breaker "${this.name}" timed out after ${ms} ms`, {
      policyName: this.name,
      timeoutMs: ms,
    });
    call.abort(error);
    this.settleFailure(call, error);
  };

  private endTimed(call: TimedCall): void {
    call.settled = true;
    if (call.stopFollowingCaller !== undefined) {
      call.stopFollowingCaller();
      call.stopFollowingCaller = undefined;
    }
  }

  private settleFailure(call: TimedCall, error: unknown): void {
    try {
      const answer = this.settler.failed(error, call.caller, call.probeToken, call.started);
      if (answer === undefined) call.reject(error);
      else call.resolve(answer);
    } catch (thrown) {
      call.reject(thrown);
    }
  }

  /** Stops the deadline timer when no call is in flight (a call in flight keeps its deadline). */
  dispose(): void {
    this.deadlines.dispose();
  }
}
